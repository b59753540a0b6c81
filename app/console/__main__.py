"""``python -m app.console adduser NAME ROLE [--password P] [--file F]``: one console user line.

Writes ``name:bcrypt-hash:role`` (the format ``htpasswd -B`` writes, plus the role) to ``--file``, or
to ``CONSOLE_USERS_FILE`` when that is set, replacing the user's earlier line; with neither, prints
the line for you to put in ``CONSOLE_USERS``. Without ``--password`` a random one is made and printed
once, on stderr, so that redirecting stdout into a file never captures it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from app.console.users import ROLES, user_line, write_user
from tasks.settings import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.console", description="Console users.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("adduser", help="add or replace a console user")
    add.add_argument("name")
    add.add_argument("role", choices=ROLES)
    add.add_argument("--password", help="the password (default: a new random one, printed once)")
    add.add_argument("--file", type=Path, default=_default_file(), help="users file (default: CONSOLE_USERS_FILE)")
    add.add_argument("--rounds", type=int, default=12, help=argparse.SUPPRESS)  # tests: cheaper hashes
    args = parser.parse_args(argv)
    password = args.password or secrets.token_urlsafe(15)
    try:
        line = user_line(args.name, password, args.role, rounds=args.rounds)
    except ConfigError as exc:
        parser.error(str(exc))
    if not args.password:
        print(f"password for {args.name}: {password}", file=sys.stderr)
    if args.file is None:
        print(line)
    else:
        write_user(args.file, args.name, line)
        print(f"{args.name} ({args.role}) written to {args.file}", file=sys.stderr)
    return 0


def _default_file() -> Path | None:
    configured = os.environ.get("CONSOLE_USERS_FILE")
    return Path(configured) if configured else None


if __name__ == "__main__":
    sys.exit(main())
