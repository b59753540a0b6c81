"""``celery -A tasks mapping``: the field mapping files from the command line.

    check [DIR] [--json]   validate every document mapping a worker on DIR (default MAPPINGS_DIR, else the
                           shipped mappings/) would load; print each error as file:line: field: message

Exit status 0 when every file is valid, 1 when any is refused. Nothing here needs Redis, Stripe or
Epicor: a site checks its copy before it deploys it, the same check the worker runs at start.
(``preview`` and ``suggest`` join this group later.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from tasks.mapping.engine import check_directory
from tasks.mapping.shapes import SHIPPED_DIR


@click.group(name="mapping", help="Field mapping files: check [DIR]")
def main() -> None:
    """Field mapping files (mappings/documents/<flow>/<document>.yaml)."""


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="a JSON list of {file, line, field, message}")
def check(directory: Path | None, as_json: bool) -> None:
    """Validate a mappings directory; exit 1 when any document mapping is refused."""
    directory = directory or Path(os.environ.get("MAPPINGS_DIR") or SHIPPED_DIR)
    if not directory.is_dir():
        click.echo(f"{directory}: not a directory", err=True)
        sys.exit(2)
    problems = check_directory(directory)
    if as_json:
        click.echo(json.dumps([problem.__dict__ for problem in problems], indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{directory}: {'OK' if not problems else f'{len(problems)} problem(s)'}",
                   err=bool(problems))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
