"""Assisted mapping accuracy and speed: ``python -m bench.suggest [--pairs FILE] [--cli] [--misses S] [--no-samples]``.

Runs the suggester exactly as ``celery -A tasks mapping suggest --json`` does (``suggest_document``, nothing
learned) on each labelled document of a pairs file (default ``bench/data/suggest_pairs.json``): one Stripe
object's fields with samples against one Epicor table's labelled target fields. Prints top-1 and top-3
accuracy per split and per table, and the time per document, both for the labelled targets and for every
column of the table (target ``fields`` omitted).

Two layouts of pairs file are read:

- the team's (``documents``: object, table, fields, labels with target, source and split ``tuning`` or
  ``heldout``; the request is built from them);
- an examiner's (``requests``: each a ready request in the command's contract, target ``fields`` possibly
  omitted and samples possibly absent, with ``expected``: target -> acceptable sources; split ``examiner``),
  e.g. ``bench/data/suggest_pairs_examiner.json``.

``--cli`` runs each request through the real command (a subprocess reading standard input, ``--json``)
instead of calling the function in-process. ``--misses SPLIT`` lists that split's top-1 misses (never ask
for ``heldout`` while tuning).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.assist.service import suggest_document

DATA = Path(__file__).resolve().parent / "data" / "suggest_pairs.json"
CLI = [sys.executable, "-m", "celery", "-A", "tasks", "mapping", "suggest", "--json"]


@dataclass(frozen=True)
class Label:
    target: str
    sources: tuple[str, ...]  # any of these counts as right
    split: str


@dataclass(frozen=True)
class Case:
    request: dict[str, Any]
    labels: tuple[Label, ...]
    table: str
    object: str


def team_case(document: dict[str, Any], *, samples: bool, every_column: bool) -> Case:
    fields = document["fields"] if samples else [{"path": field["path"]} for field in document["fields"]]
    target: dict[str, Any] = {"table": document["table"]}
    if not every_column:
        target["fields"] = sorted({label["target"] for label in document["labels"]})
    labels = tuple(Label(lb["target"], (lb["source"],), lb["split"]) for lb in document["labels"])
    request = {"source": {"object": document["object"], "fields": fields}, "target": target}
    return Case(request, labels, document["table"], document["object"])


def examiner_case(entry: dict[str, Any], *, samples: bool, every_column: bool) -> Case:
    request = json.loads(json.dumps(entry["request"]))  # a copy: the variants below edit it
    if not samples:
        request["source"]["fields"] = [{"path": field["path"]} for field in request["source"]["fields"]]
    if every_column:
        request["target"].pop("fields", None)
    labels = tuple(Label(target, tuple(sources), "examiner") for target, sources in entry["expected"].items())
    return Case(request, labels, request["target"]["table"], request["source"]["object"])


def cases(path: Path, *, samples: bool = True, every_column: bool = False) -> list[Case]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if "requests" in data:
        return [examiner_case(e, samples=samples, every_column=every_column) for e in data["requests"]]
    return [team_case(d, samples=samples, every_column=every_column) for d in data["documents"]]


def run_cli(request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(CLI, input=json.dumps(request), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the command refused a request (exit {done.returncode}): {done.stderr.strip()}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def ranked(case: Case, *, cli: bool) -> tuple[dict[str, list[str]], float]:
    started = time.perf_counter()
    answer = run_cli(case.request) if cli else suggest_document(case.request)
    seconds = time.perf_counter() - started
    return {s["target"]: [c["source"] for c in s["candidates"]] for s in answer["suggestions"]}, seconds


def evaluate(path: Path, *, samples: bool = True, cli: bool = False) -> dict[str, Any]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # key -> [pairs, top1, top3]
    misses: dict[str, list[str]] = defaultdict(list)
    times: list[float] = []
    for case in cases(path, samples=samples):
        found, seconds = ranked(case, cli=cli)
        times.append(seconds)
        for label in case.labels:
            got = found.get(label.target, [])
            top1 = bool(got) and got[0] in label.sources
            top3 = any(source in label.sources for source in got[:3])
            for key in (label.split, f"{label.split} {case.table}", "all"):
                tally[key][0] += 1
                tally[key][1] += top1
                tally[key][2] += top3
            if not top1:
                want = " or ".join(label.sources)
                misses[label.split].append(f"{case.object} -> {label.target}: want {want}, got {got[:3]}")
    return {"tally": dict(tally), "misses": dict(misses), "times": times}


def whole_tables(path: Path) -> list[float]:
    """Seconds per document when every column of the table is a target (the designer's 'suggest all')."""
    seconds = []
    for case in cases(path, every_column=True):
        started = time.perf_counter()
        suggest_document(case.request)
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
    parser.add_argument("--pairs", type=Path, default=DATA, help="labelled pairs file (default: the team's)")
    parser.add_argument("--cli", action="store_true", help="run each request through the real command")
    parser.add_argument("--misses", choices=("tuning", "heldout", "examiner"), help="list this split's top-1 misses")
    parser.add_argument("--no-samples", action="store_true", help="also measure with names only (no sample values)")
    args = parser.parse_args()
    suggest_document(cases(args.pairs)[0].request)  # load data files and caches once
    how = "through the command" if args.cli else "in-process"
    result = evaluate(args.pairs, cli=args.cli)
    report(result, f"Assisted mapping on {args.pairs.name} ({how}), one Stripe object and one Epicor table, "
                   "with the file's sample values")
    if args.no_samples:
        report(evaluate(args.pairs, samples=False, cli=args.cli), "Names only (no sample values)")
    whole = sorted(whole_tables(args.pairs))
    print(f"  time per document (every column of the table): median {1000 * whole[len(whole) // 2]:.1f} ms, "
          f"max {1000 * whole[-1]:.1f} ms")
    for line in result["misses"].get(args.misses or "", []):
        print("  miss:", line)


if __name__ == "__main__":
    main()
