"""The console's Tables page (``/console/tables``): the lookup tables, edited as rows and published as versions.

Policy, and why:

* **One editor for every table file** (``tasks.mapping.table_versions.editable``): a table is its rows of
  ``key -> value`` (``tasks.mapping.table_rows``), so parts, reason codes, currencies, countries, terms and
  files added later (issue 15's ``payouts.yaml``) are edited the same way.
* **Admins edit, everyone reads.** An operator or viewer sees the rows, the versions and the CSV, without
  one input. Changes go through ``/api/tables`` (``app.tables_api``), from ``static/tables.js``: each code
  is checked in Epicor as it is typed, a publish needs a comment and names the version it was edited from.
* **Always answers.** Redis away: the page says the tables cannot be read, with a 200.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import abort, render_template

from app.auth import current_user
from app.console import bp, helpers  # noqa: F401  helpers: the ``when`` filter
from tasks.errors import MappingError
from tasks.mapping import table_checks, table_rows, table_versions
from tasks.settings import get_settings

log = logging.getLogger(__name__)


def _is_admin() -> bool:
    user = current_user()
    return bool(user and user.may("admin"))


@bp.get("/tables")
def tables_page() -> str:
    try:
        listed, unavailable = table_versions.catalogue(get_settings().mappings_dir), False
    except redis.RedisError:
        listed, unavailable = [], True
    return render_template("console/tables.html", tables=listed, unavailable=unavailable)


def checked_kinds(name: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Row key -> the Epicor kind its code is checked as (for the editor to label the rows)."""
    return {row["key"]: rule.kind for row in rows if (rule := table_checks.rule_for(name, row["key"]))}


@bp.get("/tables/<name>")
def table_page(name: str) -> str | tuple[str, int]:
    if name not in table_versions.editable():
        abort(404)
    try:
        versions = table_versions.history_of(name, get_settings().mappings_dir)
    except redis.RedisError:
        return render_template("console/table.html", name=name, unavailable=True, admin=False), 200
    except MappingError as exc:
        log.warning("table page: %s", exc.reason)
        abort(404)
    current = versions[-1]
    rows = table_rows.rows_of(current.text)
    return render_template("console/table.html", name=name, unavailable=False, admin=_is_admin(), current=current,
                           rows=rows, kinds=checked_kinds(name, rows), versions=list(reversed(versions)))
