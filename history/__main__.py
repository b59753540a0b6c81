"""``python -m history migrate | drain | prune | pending``: the history store by hand."""

from __future__ import annotations

import argparse
import sys

from history import db, drainer, retention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m history", description=__doc__)
    parser.add_argument("command", choices=("migrate", "drain", "prune", "pending"))
    args = parser.parse_args(argv)
    if args.command == "migrate":
        db.migrate()
        print("history database at the newest migration")
    elif args.command == "drain":
        moved = 0
        while (count := drainer.drain()) > 0:
            moved += count
        print(f"{moved} records written; {drainer.pending()} waiting")
    elif args.command == "prune":
        print(f"{retention.prune()} events older than {retention.retention_days()} days deleted")
    else:
        print(drainer.pending())
    return 0


if __name__ == "__main__":
    sys.exit(main())
