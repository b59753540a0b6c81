"""``python -m telemetry.serve --port 9108``: the metrics of this host's processes, for a worker host
that shares no ``PROMETHEUS_MULTIPROC_DIR`` with a receiver (see ``telemetry.processes``).

It serves the same scrape as the receiver's ``/metrics`` (every process writing to the directory
plus the Redis-held gauges); scrape each such host beside the receivers. It binds to 127.0.0.1
unless ``--host`` says otherwise: put it behind the network's own access rules.
"""

from __future__ import annotations

import argparse
import time

from prometheus_client import start_http_server

from telemetry.exposition import registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9108)
    args = parser.parse_args(argv)
    start_http_server(args.port, addr=args.host, registry=registry())
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
