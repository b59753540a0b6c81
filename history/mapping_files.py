"""Mapping changes made on disk, recorded in the history when a worker starts.

Today a site changes its mappings by editing the YAML files under ``MAPPINGS_DIR`` and restarting
the worker (the files are read at start). So each worker, once ready, compares a SHA-256 of every
mapping file with the one last seen (Redis hash ``sec:mapping_files``) and records a
``mapping_change`` for each file added, changed or removed: which file, its new digest as the
version, and the host that saw it. Several workers starting together record one change: the record
id is derived from the file and its digests before and after, and the history's writer keeps the first of equal ids.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path
from typing import Any, cast

from history import recorder

log = logging.getLogger(__name__)
SEEN_KEY = "sec:mapping_files"
REMOVED = "removed"


def digests(directory: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every mapping file under ``directory``."""
    return {str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*.y*ml")) if path.is_file()}


def changes(seen: dict[str, str], now: dict[str, str]) -> dict[str, str]:
    """Files whose digest differs from the one seen last (``removed`` for a file that is gone)."""
    changed = {name: digest for name, digest in now.items() if seen.get(name) != digest}
    changed |= {name: REMOVED for name, digest in seen.items() if name not in now and digest != REMOVED}
    return changed


def note_changes(directory: Path, client: Any) -> int:
    """Record each changed mapping file; the number recorded. Never raises: the history is a record."""
    try:
        seen = cast("dict[str, str]", client.hgetall(SEEN_KEY))
        changed = changes(seen, digests(directory))
        for name, digest in changed.items():
            _record(name, seen.get(name), digest)
        if changed:
            client.hset(SEEN_KEY, mapping=changed)
        return len(changed)
    except Exception as exc:  # noqa: BLE001 - a start is never stopped by its own audit note
        log.warning("mapping files not compared with the last seen: %s", type(exc).__name__)
        return 0


def _record(name: str, before: str | None, digest: str) -> None:
    comment = "file removed" if digest == REMOVED else ("first seen" if before is None else "file changed on disk")
    rid = hashlib.sha256(f"{name}\0{before}\0{digest}".encode()).hexdigest()[:32]
    recorder.record("mapping_change", rid=rid,
                    who=f"mapping file on {socket.gethostname()}", mapping=name, version=digest[:60],
                    comment=comment)
