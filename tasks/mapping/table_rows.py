"""A table file as rows of ``key -> value`` (the console's editor, CSV import and export) and back to YAML.

Policy: a table is edited as its leaves, one row each, the key being the dotted path (``products.prod_1``,
``disputes.lost``, ``banks.default.clearing``), so every table file, today's and the ones added later, is
edited the same way without a form per file. Values come back from a browser or a CSV as text; each takes
the type the table already holds at that key (or beside it): ``30`` stays a number of days in terms.yaml
while part ``1000`` stays text in parts.yaml, ``true`` a yes/no. What a row means is then checked by the
file's own schema (``tables.table_problems``), and every problem is answered on the row (CSV: the line) it
belongs to. Comments of the file are not kept in a published version: its rows are the table.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import yaml

MAX_ROWS = 5000
MAX_KEY = 200
MAX_VALUE = 200
CSV_HEADER = ("key", "value")
_SEGMENT = re.compile(r"^[^.\s]+$")


class RowProblem(ValueError):
    """Rows that cannot make a table: ``problems`` are ``{"row": n, "key": k, "message": m}`` (n from 1)."""

    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__("; ".join(f"row {p['row']}: {p['message']}" for p in problems))
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """YAML without implicit dates (as ``payout_settings`` reads its file): a GL account written ``1010-00-00``
    is text, where the date resolver raised ValueError (month 0) and the table's page answered 500."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader) if text.strip() else {}  # noqa: S506 - a SafeLoader


def rows_of(text: str) -> list[dict[str, Any]]:
    """Every leaf of a table's YAML, in file order, as ``{"key": dotted path, "value": value}``."""
    found = _load(text)
    return list(_leaves(found if isinstance(found, dict) else {}, ""))


def _leaves(node: dict[str, Any], prefix: str) -> Any:
    for name, value in node.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{path}.")
        else:
            yield {"key": path, "value": value}


def text_of(rows: list[dict[str, Any]], like: str) -> str:
    """The YAML text of ``rows``; values typed as ``like`` (the version edited) holds them, sections it holds
    that the rows leave empty kept empty (``prices: {}``)."""
    problems = [problem for number, row in enumerate(rows, 1) for problem in _row_problems(number, row)]
    problems += _clashes(rows)
    if problems:
        raise RowProblem(problems)
    before = _load(like)
    before = before if isinstance(before, dict) else {}
    table: dict[str, Any] = _empty_sections(before)
    for row in rows:
        _place(table, str(row["key"]).strip().split("."), _typed(row["value"], _type_at(before, row["key"])))
    return yaml.safe_dump(table, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _row_problems(number: int, row: Any) -> list[dict[str, Any]]:
    if not isinstance(row, dict) or "key" not in row or "value" not in row:
        return [{"row": number, "key": "", "message": "a row needs a key and a value"}]
    key, value = row["key"], row["value"]
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        return [{"row": number, "key": str(key)[:MAX_KEY],
                 "message": f"the key must be text of 1 to {MAX_KEY} characters"}]
    if not all(_SEGMENT.match(part) for part in key.strip().split(".")):
        return [{"row": number, "key": key, "message": "the key must have no spaces and no empty part between dots"}]
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return []
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE:
        return [{"row": number, "key": key, "message": f"the value must be text of 1 to {MAX_VALUE} characters"}]
    return []


def _clashes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A key given twice, or a key that is also another row's section (``products`` and ``products.p1``)."""
    seen: dict[str, int] = {}
    problems = []
    for number, row in enumerate(rows, 1):
        key = str(row["key"]).strip()
        if key in seen:
            problems.append({"row": number, "key": key,
                             "message": f"{key} is given twice (rows {seen[key]} and {number})"})
        seen.setdefault(key, number)
    for key, number in seen.items():
        parent = next((other for other in seen if other != key and other.startswith(f"{key}.")), None)
        if parent:
            problems.append({"row": number, "key": key, "message": f"{key} is a section (see {parent}), not a row"})
    return problems


def _empty_sections(before: dict[str, Any]) -> dict[str, Any]:
    return {name: {} for name, value in before.items() if isinstance(value, dict) and not value}


def _place(table: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value


def _type_at(before: dict[str, Any], key: str) -> type | None:
    """The type of the value at ``key`` in the version edited, else of the values beside it."""
    *sections, leaf = key.strip().split(".")
    node: Any = before
    for part in sections:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    if leaf in node and not isinstance(node[leaf], dict):
        return type(node[leaf])
    siblings = {type(value) for name, value in node.items() if not isinstance(value, dict) and name != "default"}
    return siblings.pop() if len(siblings) == 1 else None


def _typed(value: Any, wanted: type | None) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if wanted is bool and text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    if wanted is int and re.fullmatch(r"-?\d{1,9}", text):
        return int(text)
    return text


def problems_by_row(problems: list[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schema's ``key: message`` lines placed on the row whose key they name (0: the table as a whole)."""
    keys = [str(row.get("key", "")).strip() for row in rows]
    placed = []
    for problem in problems:
        path, _, message = problem.partition(": ")
        number = next((index for index, key in sorted(enumerate(keys, 1), key=lambda pair: -len(pair[1]))
                       if path == key or path.startswith(f"{key}.")), 0)
        placed.append({"row": number, "key": keys[number - 1] if number else path, "message": message or problem})
    return placed


# -- CSV ----------------------------------------------------------------------------------------------
def csv_of(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        value = row["value"]
        writer.writerow([row["key"], str(value).lower() if isinstance(value, bool) else value])
    return out.getvalue()


def rows_from_csv(text: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows of a ``key,value`` CSV and the CSV line of each; ``RowProblem`` (by line) when it is not one."""
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not lines or [cell.strip().lower() for cell in lines[0]][:2] != list(CSV_HEADER):
        raise RowProblem([{"row": 1, "key": "", "message": "the first line must be the header key,value"}])
    rows, numbers, problems = [], [], []
    for number, cells in enumerate(lines[1:], 2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != 2:
            problems.append({"row": number, "key": cells[0] if cells else "",
                             "message": f"a line needs 2 cells (key,value), not {len(cells)}"})
            continue
        rows.append({"key": cells[0].strip(), "value": cells[1].strip()})
        numbers.append(number)
    if len(rows) > MAX_ROWS:
        problems.append({"row": 0, "key": "", "message": f"at most {MAX_ROWS} rows"})
    if problems:
        raise RowProblem(problems)
    return rows, numbers
