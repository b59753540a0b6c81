"""``celery -A tasks mapping``: the field mapping files from the command line.

    check [DIR] [--pair X] [--json]
                           validate every document mapping a worker on DIR (default: pair X's mappings_dir
                           from PAIRS_FILE; without --pair MAPPINGS_DIR, else the shipped mappings/) would
                           load; print each error as file:line: field: message

    preview EVT_ID [--pair X] [--draft FILE]... [--json]
                           the documents the event would post with its pair's published mappings (or with
                           each FILE, named <document>.yaml, in its document's place): every field, Epicor's
                           keys as placeholders, every error as file:line: field. Writes nothing anywhere.
                           Without --pair, the event's own pair; an event of another pair than X is refused.

``check`` exits 0 when every file is valid, 1 when any is refused; it needs no Redis, Stripe or Epicor: a
site checks its copy before it deploys it, the same check the worker runs at start. ``preview`` reads the
event's stored Stripe objects from Redis (or Stripe, read-only, when they have expired) and exits 1 when
any error is found, so a draft can be tried in a script before it is published.

    suggest --json         read {"source": {"object", "fields": [{path, sample}]}, "target": {"table", "fields"}}
                           on standard input and print, per target field, the three likeliest sources with a
                           transform, a confidence (0-1, level high/medium/low) and the reasons; offline.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from tasks.mapping.engine import check_directory
from tasks.mapping.shapes import SHIPPED_DIR


@click.group(name="mapping",
             help="Field mapping files: check [DIR] [--pair X] | preview EVT_ID [--pair X] [--draft FILE] [--json] "
                  "| suggest --json")
def main() -> None:
    """Field mapping files (mappings/documents/<flow>/<document>.yaml)."""


def _pair_dir(pair: str) -> Path:
    """Pair ``pair``'s mappings directory (PAIRS_FILE); exit 2 with the reason for a pair not declared."""
    from tasks.pairs import settings_for
    from tasks.settings import ConfigError

    try:
        return Path(settings_for(pair).mappings_dir)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--pair", default=None, help="an integration pair: check its mappings_dir (PAIRS_FILE)")
@click.option("--json", "as_json", is_flag=True, help="a JSON list of {file, line, field, message}")
def check(directory: Path | None, pair: str | None, as_json: bool) -> None:
    """Validate a mappings directory; exit 1 when any document mapping is refused."""
    if directory is None and pair:
        directory = _pair_dir(pair)
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


@main.command()
@click.argument("event_id")
@click.option("--pair", default=None, help="the integration pair whose mappings to build with (default: the event's)")
@click.option("--draft", "drafts", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a draft <document>.yaml to preview in place of the published one (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="the preview as JSON: {documents, errors, versions, …}")
def preview(event_id: str, pair: str | None, drafts: tuple[Path, ...], as_json: bool) -> None:
    """Show the documents EVENT_ID would post; exit 1 when any error is found."""
    from tasks import store
    from tasks.mapping.preview import PreviewRefused
    from tasks.mapping.preview import preview as run_preview
    from tasks.pairs import DEFAULT, working_for

    texts = {path.stem: path.read_text(encoding="utf-8") for path in drafts}
    if pair is None:
        pair = str((store.get_event(event_id) or {}).get("pair") or DEFAULT)
    mappings_dir = _pair_dir(pair)
    try:
        with working_for(pair):
            shown = run_preview(None, event_id=event_id, drafts=texts, mappings_dir=mappings_dir)
    except PreviewRefused as exc:
        click.echo(exc.message, err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(shown.as_json(), indent=2))
    else:
        _print_preview(shown.as_json())
    sys.exit(1 if shown.errors else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the suggestions as JSON (the only output form)")
def suggest(as_json: bool) -> None:
    """Suggest sources for target fields (request on standard input); exit 2 when the request is refused."""
    from tasks.assist.learning import RedisLearned
    from tasks.assist.service import SuggestRefused, read_request, suggest_document

    try:
        answer = suggest_document(read_request(sys.stdin), learned=RedisLearned())
    except (ValueError, SuggestRefused) as exc:  # a JSON syntax error is a ValueError too
        click.echo(f"refused: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(answer, indent=2 if not as_json else None, ensure_ascii=False))


def _print_preview(shown: dict[str, Any]) -> None:
    versions = ", ".join(f"{name} v{number}" for name, number in shown["versions"].items())
    click.echo(f"{shown['event_id']} ({shown['flow']}, Stripe objects from {shown['source']}): {versions}")
    for document in shown["documents"]:
        click.echo(f"\n{document['kind']}  reference {json.dumps(document['reference'])}")
        for name, value in document["header"].items():
            click.echo(f"  {name}: {json.dumps(value)}")
        for number, line in enumerate(document["lines"], start=1):
            click.echo(f"  line {number}: {json.dumps(line)}")
    for error in shown["errors"]:
        click.echo(error, err=True)
    click.echo("OK" if not shown["errors"] else f"{len(shown['errors'])} error(s)", err=bool(shown["errors"]))


if __name__ == "__main__":
    main()
