"""Assisted mapping accuracy and speed: ``python -m bench.suggest [--misses tuning] [--no-samples]``.

Runs the suggester exactly as ``celery -A tasks mapping suggest --json`` does (``suggest_document``, nothing
learned) on each labelled document of ``bench/data/suggest_pairs.json``: one Stripe object's fields with
samples against one Epicor table's labelled target fields. Prints top-1 and top-3 accuracy per split
(``tuning``: what the ranker was adjusted against; ``heldout``: never tuned on) and per table, and the time
per document, both for the labelled targets and for every column of the table (target ``fields`` omitted).
``--misses tuning`` lists the tuning part's misses (never ask it for the held-out part while tuning).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tasks.assist.service import suggest_document

DATA = Path(__file__).resolve().parent / "data" / "suggest_pairs.json"


def documents() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))["documents"]
    return found


def request_of(document: dict[str, Any], *, samples: bool, every_column: bool = False) -> dict[str, Any]:
    fields = document["fields"] if samples else [{"path": field["path"]} for field in document["fields"]]
    target: dict[str, Any] = {"table": document["table"]}
    if not every_column:
        target["fields"] = sorted({label["target"] for label in document["labels"]})
    return {"source": {"object": document["object"], "fields": fields}, "target": target}


def ranked(document: dict[str, Any], *, samples: bool) -> tuple[dict[str, list[str]], float]:
    started = time.perf_counter()
    answer = suggest_document(request_of(document, samples=samples))
    seconds = time.perf_counter() - started
    return {s["target"]: [c["source"] for c in s["candidates"]] for s in answer["suggestions"]}, seconds


def evaluate(samples: bool = True) -> dict[str, Any]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # key -> [pairs, top1, top3]
    misses: dict[str, list[str]] = defaultdict(list)
    times: list[float] = []
    for document in documents():
        found, seconds = ranked(document, samples=samples)
        times.append(seconds)
        for label in document["labels"]:
            got = found.get(label["target"], [])
            top1, top3 = got[:1] == [label["source"]], label["source"] in got[:3]
            for key in (label["split"], f"{label['split']} {document['table']}", "all"):
                tally[key][0] += 1
                tally[key][1] += top1
                tally[key][2] += top3
            if not top1:
                misses[label["split"]].append(f"{document['object']} -> {label['target']}: want {label['source']}, "
                                              f"got {got[:3]}")
    return {"tally": dict(tally), "misses": dict(misses), "times": times}


def whole_tables() -> list[float]:
    """Seconds per document when every column of the table is a target (the designer's 'suggest all')."""
    seconds = []
    for document in documents():
        started = time.perf_counter()
        suggest_document(request_of(document, samples=True, every_column=True))
        seconds.append(time.perf_counter() - started)
    return seconds


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "   -  "


def report(result: dict[str, Any], title: str) -> None:
    print(title)
    print(f"  {'split / table':28} {'pairs':>5} {'top-1':>8} {'top-3':>8}")
    for key in sorted(result["tally"], key=lambda k: (k == "all", " " in k, k)):
        pairs, top1, top3 = result["tally"][key]
        print(f"  {key:28} {pairs:5d} {share(top1, pairs):>8} {share(top3, pairs):>8}")
    times = sorted(result["times"])
    print(f"  time per document (labelled targets): median {1000 * times[len(times) // 2]:.1f} ms, "
          f"max {1000 * times[-1]:.1f} ms over {len(times)} documents")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", choices=("tuning", "heldout"), help="list this split's top-1 misses")
    parser.add_argument("--no-samples", action="store_true", help="also measure with names only (no sample values)")
    args = parser.parse_args()
    suggest_document(request_of(documents()[0], samples=True))  # load data files and caches once
    result = evaluate(samples=True)
    report(result, "Assisted mapping, scoped to one Stripe object and one Epicor table, with sample values")
    if args.no_samples:
        report(evaluate(samples=False), "Names only (no sample values)")
    whole = sorted(whole_tables())
    print(f"  time per document (every column of the table): median {1000 * whole[len(whole) // 2]:.1f} ms, "
          f"max {1000 * whole[-1]:.1f} ms")
    for line in result["misses"].get(args.misses or "", []):
        print("  miss:", line)


if __name__ == "__main__":
    main()
