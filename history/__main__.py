"""``python -m history migrate | drain | follow | prune | pending``: the history store by hand."""

from __future__ import annotations

import argparse
import sys

from history import db, drainer, follower, retention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m history", description=__doc__)
    parser.add_argument("command", choices=("migrate", "drain", "follow", "prune", "pending"))
    parser.add_argument("--interval", type=float, default=1.0, help="follow: seconds between drains")
    parser.add_argument("--parent", type=int, help="follow: stop when this process is gone (a worker's child)")
    args = parser.parse_args(argv)
    if args.command == "follow":
        return follower.follow(max(0.05, args.interval), args.parent)
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
