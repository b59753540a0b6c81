"""The image holds every package and module the project installs: a package missing from the
Dockerfile's COPY lines would be missing from the container while every test here still passed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copied() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            names.update(re.sub(r"^\./|/$", "", part) for part in line.split()[1:-1])
    return names


def test_every_installed_package_and_module_is_copied_into_the_image():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in project["packages"]["find"]["include"]}
    modules = {f"{name}.py" for name in project["py-modules"]}
    missing = (packages | modules | {"mappings"}) - copied()
    assert not missing, f"Dockerfile does not COPY {sorted(missing)}"
