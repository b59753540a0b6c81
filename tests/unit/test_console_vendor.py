"""Vendored front-end files are exactly the published ones listed in VENDOR.md (and htmx is among them)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "app" / "console" / "static" / "vendor"


def listed() -> dict[str, str]:
    rows = re.findall(r"^\|\s*([^|\s]+)\s*\|.*\|\s*([0-9a-f]{64})\s*\|\s*$", (VENDOR / "VENDOR.md").read_text(), re.M)
    return dict(rows)


def test_every_listed_file_has_its_published_sha256():
    files = listed()
    assert "htmx-2.0.11.min.js" in files and "htmx-LICENSE.txt" in files
    for name, digest in files.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_the_pages_load_the_vendored_htmx_that_is_listed():
    base = (VENDOR.parent.parent / "templates" / "console" / "base.html").read_text()
    assert "vendor/htmx-2.0.11.min.js" in base
