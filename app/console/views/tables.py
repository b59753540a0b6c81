"""The console's Tables page (``/console/tables``): the lookup tables, edited as rows and published as versions.

Policy, and why:

* **One editor for every table file** (``tasks.mapping.table_versions.editable``): a table is its rows of
  ``key -> value`` (``tasks.mapping.table_rows``), so parts, reason codes, currencies, countries, terms and
  files added later (issue 15's ``payouts.yaml``) are edited the same way.
* **Admins edit, everyone reads.** An operator or viewer sees the rows, the versions and the CSV, without
  one input. Changes go through ``/api/tables`` (``app.tables_api``), from ``static/tables.js``: each code
  is checked in Epicor as it is typed, a publish needs a comment and names the version it was edited from.
* **Per integration pair** (``tasks.pairs``): each pair has its own tables. The pages show one pair's
  (``?pair=``, default: the default pair; a select offers the others only when the deployment has more than
  one), with its files as deployed as version 1, and the editor sends that pair with every change.
* **Always answers.** Redis away: the page says the tables cannot be read, with a 200.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import abort, render_template, request

from app.api import pair_names
from app.auth import current_user
from app.console import bp, helpers  # noqa: F401  helpers: the ``when`` filter
from tasks import pairs
from tasks.errors import MappingError
from tasks.mapping import table_checks, table_rows, table_versions
from tasks.mapping.versions import pair_mappings_dir

log = logging.getLogger(__name__)


def _is_admin() -> bool:
    user = current_user()
    return bool(user and user.may("admin"))


def _pair() -> tuple[str, list[str]]:
    """The pair whose tables are shown (``?pair=``; an unknown one shows the default pair's) and every pair."""
    names = pair_names()
    pair = request.args.get("pair", "")
    return (pair if pair in names else pairs.DEFAULT), names


@bp.get("/tables")
def tables_page() -> str:
    pair, names = _pair()
    try:
        with pairs.working_for(pair):
            listed, unavailable = table_versions.catalogue(pair_mappings_dir()), False
    except redis.RedisError:
        listed, unavailable = [], True
    return render_template("console/tables.html", tables=listed, unavailable=unavailable, pair=pair, pairs=names)


def checked_kinds(name: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Row key -> the Epicor kind its code is checked as (for the editor to label the rows)."""
    return {row["key"]: rule.kind for row in rows if (rule := table_checks.rule_for(name, row["key"]))}


@bp.get("/tables/<name>")
def table_page(name: str) -> str | tuple[str, int]:
    if name not in table_versions.editable():
        abort(404)
    pair, names = _pair()
    try:
        with pairs.working_for(pair):
            versions = table_versions.history_of(name, pair_mappings_dir())
    except redis.RedisError:
        return render_template("console/table.html", name=name, unavailable=True, admin=False, pair=pair,
                               pairs=names), 200
    except MappingError as exc:
        log.warning("table page: %s", exc.reason)
        abort(404)
    current = versions[-1]
    rows = table_rows.rows_of(current.text)
    return render_template("console/table.html", name=name, unavailable=False, admin=_is_admin(), current=current,
                           rows=rows, kinds=checked_kinds(name, rows), versions=list(reversed(versions)),
                           pair=pair, pairs=names)
