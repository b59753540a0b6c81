"""Scoring and ordering: for each target field, the three likeliest sources with a transform and reasons.

Policy: one score from 0 to 1 per (source, target) pair, built from parts a person can read back as
reasons: the names (concepts, else rapidfuzz token similarity), the sample values against what the target
holds, the target column's type, the address the two belong to, the shape of the source (nested, in a
list) and what this site accepted or rejected before. The confidence is that score; its level is ``high``
from 0.75, ``medium`` from 0.5, else ``low`` (the study notes: at 0.5 about 90 % of suggestions are right).
A proposed transform is always a name of the registry (``tasks.mapping.transforms``), so accepting it
gives a mapping file the loader takes.

Pure: no network, no Redis, no clock. What was learned comes in as a ``Learned`` (``learning``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rapidfuzz import fuzz, process

from tasks.assist import names, values
from tasks.assist.names import FieldName

LEVELS = ((0.75, "high"), (0.5, "medium"), (0.0, "low"))
MIN_SCORE = 0.2
TOP = 3

ADDRESS_CONCEPTS = frozenset({"postal", "line1", "line2", "line3", "city", "region", "country"})
AMOUNT_CONCEPTS = frozenset({"amount", "amount_total", "amount_paid", "amount_line", "amount_unit", "amount_due",
                             "amount_subtotal", "amount_net", "fee", "tax", "discount", "freight",
                             "amount_refunded"})
DATE_CONCEPTS = frozenset({"date_created", "date_due", "date_arrival", "date_available", "date_ship",
                           "date_closed"})
ID_CONCEPTS = frozenset({"external_id", "payment_ref", "reference", "kind:customer", "kind:product"})
# What the values of a target concept look like.
EXPECTED_KINDS: dict[str, frozenset[str]] = {
    "email": frozenset({"email"}), "phone": frozenset({"phone"}), "postal": frozenset({"postal"}),
    "country": frozenset({"country"}), "currency": frozenset({"currency"}), "fax": frozenset({"phone"}),
    **{concept: frozenset({"epoch", "date"}) for concept in DATE_CONCEPTS},
    **{concept: frozenset({"minor_amount", "decimal", "numeric"}) for concept in AMOUNT_CONCEPTS},
    "quantity": frozenset({"integer", "decimal", "numeric"}), "url": frozenset({"url"}), "image": frozenset({"url"}),
    **{concept: frozenset({"stripe_id"}) for concept in ID_CONCEPTS},
}
# Value kinds that only say "a number": they fit an amount or a quantity but do not point at one.
NUMBERS = frozenset({"integer", "decimal", "numeric"})
# Kinds that a free-text target (a name, a description) should not be fed.
NOT_PROSE = frozenset({"email", "epoch", "stripe_id", "currency", "country", "minor_amount", "object", "list",
                       "boolean"})
PROSE_CONCEPTS = frozenset({"name", "description", "comment", "line1", "line2", "line3", "city", "product_name"})


class Learned(Protocol):
    def verdicts(self, target: str) -> Mapping[str, int]:
        """source -> net verdict (accepted minus rejected) at this site for ``target``."""


class NothingLearned:
    def verdicts(self, target: str) -> Mapping[str, int]:
        return {}


@dataclass(frozen=True)
class Source:
    """A source field: its path, sample values seen and, when known, its declared type."""

    path: str
    samples: tuple[Any, ...] = ()
    type: str | None = None


@dataclass(frozen=True)
class Target:
    """A target field ``Table.Field`` (or ``object.path`` for Stripe), its type and maximum length."""

    name: str
    type: str = "string"
    length: int | None = None


@dataclass
class Candidate:
    source: str
    transform: str | None
    confidence: float
    reasons: list[str]

    @property
    def level(self) -> str:
        return next(level for floor, level in LEVELS if self.confidence >= floor)

    def as_json(self, *, with_level: bool = True) -> dict[str, Any]:
        found: dict[str, Any] = {"source": self.source, "transform": self.transform,
                                 "confidence": round(self.confidence, 2), "reasons": self.reasons}
        return found | ({"level": self.level} if with_level else {})


@dataclass
class Suggestion:
    target: str
    candidates: list[Candidate] = field(default_factory=list)

    def as_json(self, *, with_level: bool = True) -> dict[str, Any]:
        return {"target": self.target, "candidates": [c.as_json(with_level=with_level) for c in self.candidates]}


@dataclass(frozen=True)
class _Read:
    """A source or target, read once: its name, its value profile and its text for rapidfuzz."""

    name: FieldName
    profile: values.Profile
    text: str
    declared: str | None = None
    path: str = ""  # as the caller wrote it (the name is read from a normalised copy)


def level_of(confidence: float) -> str:
    return next(level for floor, level in LEVELS if confidence >= floor)


def rank(sources: Sequence[Source], targets: Sequence[Target], *, source_side: str = "stripe",
         learned: Learned | None = None, limit: int = TOP, scope: str | None = None) -> list[Suggestion]:
    """The top ``limit`` candidates for every target, best first. ``source_side`` is ``stripe`` (Stripe ->
    Epicor) or ``epicor`` (an Epicor table's columns feeding a Stripe object); ``scope`` the source object,
    for paths written without it (``billing_details.email`` of a charge)."""
    read_sources = [_read_source(source, source_side, scope) for source in sources]
    texts = [source.text for source in read_sources]
    learned = learned or NothingLearned()
    return [_suggest(target, read_sources, texts, source_side, learned, limit) for target in targets]


def _read_source(source: Source, side: str, scope: str | None = None) -> _Read:
    # lines.data[0].amount (or lines.data.0.amount) is a line's amount
    path = re.sub(r"\.(\d+)(?=\.|$)", "[]", re.sub(r"\[\d+\]", "[]", source.path))
    if scope and side == "stripe" and not path.startswith(scope + "."):
        path = f"{scope}.{path}"
    name = names.epicor_name(path) if side == "epicor" else names.stripe_name(path)
    words = name.tokens if side == "epicor" else names.expand(names.split_words(name.leaf))
    return _Read(name, values.profile(source.samples), " ".join(w for w in words if w not in GENERIC), source.type,
                 source.path)


# Words too common to make two names similar on their own ("address" is in EMailAddress and in line1).
GENERIC = frozenset({"address", "number", "id", "code", "amount", "date", "name", "type", "document", "total",
                     "to", "bill", "ship", "customer"})


def _read_target(target: Target, side: str) -> FieldName:
    return names.stripe_name(target.name) if side == "epicor" else names.epicor_name(target.name)


def _suggest(target: Target, sources: list[_Read], texts: list[str], side: str, learned: Learned,
             limit: int) -> Suggestion:
    wanted = _read_target(target, side)
    words = wanted.tokens if side == "stripe" else names.expand(names.split_words(wanted.leaf))
    text = " ".join(word for word in words if word not in GENERIC)
    verdicts = learned.verdicts(target.name)
    # every source's name similarity to this target in one call (rapidfuzz, in C), not pair by pair
    similar = {index: found / 100 for _name, found, index in
               process.extract(text, texts, scorer=fuzz.token_set_ratio, score_cutoff=70, limit=None)} if text else {}
    expected = _expected(wanted)
    scored = [found for index, source in enumerate(sources)
              if (found := score(source, wanted, target, verdicts.get(source.path, 0),
                                 similar.get(index, 0.0), expected)) is not None]
    scored.sort(key=lambda candidate: (-candidate.confidence, candidate.source))
    return Suggestion(target.name, scored[:limit])


def score(source: _Read, wanted: FieldName, target: Target, verdict: int = 0, similarity: float = 0.0,
          expected: frozenset[str] = frozenset()) -> Candidate | None:
    """One pair's candidate, or None below ``MIN_SCORE``; ``similarity`` is the names' token similarity
    (0-1), ``expected`` the value kinds the target holds."""
    reasons: list[str] = []
    name_part = _name_score(source, wanted, similarity, expected, reasons)
    if name_part <= 0.0 and verdict <= 0:
        return None
    total = name_part + _value_score(source, wanted, expected, reasons) + _type_score(source, wanted, target, reasons)
    total += _role_score(source.name, wanted, reasons) + _shape_score(source.name, target)
    total += _metadata_score(source, wanted, reasons) + _learned_score(verdict, reasons)
    if total < MIN_SCORE:
        return None
    if wanted.variant in ("report", "global", "display"):
        total *= 0.8
    return Candidate(source.path or source.name.path, propose_transform(source, wanted, target),
                     min(1.0, max(0.0, total)), reasons)


def _name_score(source: _Read, wanted: FieldName, similarity: float, expected: frozenset[str],
                reasons: list[str]) -> float:
    weight, have, want = names.concept_match(source.name.concepts, wanted.concepts)
    if weight > 0:
        exact = have == want or want.startswith("kind:")
        reasons.append(f"name: {source.name.leaf} ≈ {wanted.leaf}" + ("" if exact else " (related)"))
        return 0.62 * weight
    if similarity >= 0.7:
        reasons.append(f"name: {source.name.leaf} ~ {wanted.leaf} (similar words)")
        return 0.5 * similarity
    if expected and source.profile.kinds & expected and not expected <= NUMBERS | {"minor_amount"}:
        return 0.3  # the values alone point here; _value_score gives the reason
    return 0.0


def _expected(wanted: FieldName) -> frozenset[str]:
    found: set[str] = set()
    for concept in wanted.concepts:
        found |= EXPECTED_KINDS.get(concept, frozenset())
        if concept.startswith("stripe:"):
            found.add("stripe_id")  # a column holding a Stripe object's id
    return frozenset(found)


def _value_score(source: _Read, wanted: FieldName, expected: frozenset[str], reasons: list[str]) -> float:
    kinds = source.profile.kinds
    if not kinds:
        return 0.0
    hit = kinds & expected
    if hit and not hit <= {"integer", "decimal"}:  # numbers as text point at an amount as cents do
        reasons.append(values.LABELS[sorted(hit)[0]])
        return 0.18
    if wanted.concepts.keys() & {"kind:customer", "kind:product"} and source.profile.id_kind:
        wanted_kind = next(concept[5:] for concept in wanted.concepts if concept.startswith("kind:"))
        return 0.1 if source.profile.id_kind == wanted_kind else -0.15
    if expected and kinds - {"text"} and not hit:
        return -0.2  # the values contradict the name (an id where an e-mail belongs)
    if wanted.concepts.keys() & PROSE_CONCEPTS and kinds & NOT_PROSE:
        return -0.15
    return 0.0


TARGET_TYPES = {"string": "text", "number": "decimal", "integer": "integer", "date": "date", "boolean": "boolean",
                "text": "text", "decimal": "decimal", "list": "list", "object": "object", "null": "text"}


def _source_kind(source: _Read) -> str | None:
    kinds = source.profile.kinds
    for kind in ("object", "list", "boolean", "epoch", "integer", "decimal", "date", "text"):
        if kind in kinds:
            return kind
    return {"text": "text", "integer": "integer", "decimal": "decimal", "boolean": "boolean", "object": "object",
            "list": "list"}.get(source.declared or "")


def _type_score(source: _Read, wanted: FieldName, target: Target, reasons: list[str]) -> float:
    kind, want = _source_kind(source), TARGET_TYPES.get(target.type, "text")
    if kind is None:
        return 0.0
    if kind == "text" and "numeric" in source.profile.kinds and want in ("decimal", "integer"):
        return 0.0  # a number written as text (Stripe's unit_amount_decimal): fits once read as a number
    fits = {
        "text": {"text", "date"}, "decimal": {"integer", "decimal", "epoch"}, "integer": {"integer", "epoch"},
        "date": {"epoch", "date"}, "boolean": {"boolean"}, "list": {"list"}, "object": {"object"},
    }[want]
    if kind in fits or (want == "text" and kind in ("integer", "decimal", "epoch")):
        if want == "date" and kind == "epoch":
            reasons.append("a Unix time into a date column")
        return 0.05 if kind in fits else 0.0
    if kind == "object" and wanted.concepts.keys() & ADDRESS_CONCEPTS:
        return 0.0  # an address object feeds an address column through address_line
    reasons.append(f"type: {kind} into {target.type} (needs a transform or is the wrong field)")
    return -0.25


ROLE_SCORES = {("bill", "bill"): 0.1, ("ship", "ship"): 0.12, ("main", "main"): 0.08, ("bill", "main"): 0.06,
               ("main", "bill"): 0.04, ("ship", "bill"): -0.12, ("ship", "main"): -0.08, ("bill", "ship"): -0.12,
               ("main", "ship"): -0.1, ("other", "other"): 0.0}


def _role_score(source: FieldName, wanted: FieldName, reasons: list[str]) -> float:
    if source.role == "other":
        return -0.1  # a card owner's or dispute evidence's copy of a field, rarely the one meant
    if wanted.role is None or source.role is None:
        return -0.02 if wanted.role in ("ship", "bill") and source.role is None else 0.0
    found = ROLE_SCORES.get((wanted.role, source.role), -0.1)
    if found > 0 and wanted.role in ("ship", "bill") and source.role in ("ship", "bill"):
        reasons.append("shipping address" if wanted.role == "ship" else "billing address")
    return found


def _shape_score(source: FieldName, target: Target) -> float:
    table = target.name.split(".", 1)[0]
    line_table = table.endswith("Dtl") or table in ("OrderRel",)
    penalty = -0.015 * max(0, source.depth - 1)
    if source.in_list and not line_table:
        penalty -= 0.08
    if line_table and source.in_list:
        penalty += 0.05
    return penalty


def _metadata_score(source: _Read, wanted: FieldName, reasons: list[str]) -> float:
    """A site's own metadata key named like the column (``metadata.po_number`` for PONum) is a deliberate
    choice: it outranks a Stripe field that only shares the concept."""
    if ".metadata." not in f".{source.name.path}" or not wanted.tokens:
        return 0.0
    similarity = fuzz.token_set_ratio(" ".join(source.name.tokens[-4:]), " ".join(wanted.tokens)) / 100
    if similarity < 0.8:
        return 0.0
    reasons.append("a metadata key named like this column")
    return 0.2


def _learned_score(verdict: int, reasons: list[str]) -> float:
    if verdict > 0:
        reasons.append("accepted at this site before")
        return 0.25 + 0.05 * min(verdict - 1, 3)
    if verdict < 0:
        reasons.append("rejected at this site before")
        return -0.35 - 0.05 * min(-verdict - 1, 3)
    return 0.0


def propose_transform(source: _Read, wanted: FieldName, target: Target) -> str | None:
    """A registry transform that turns the source's values into what the target column holds, if needed."""
    kind, concepts = _source_kind(source), wanted.concepts.keys()
    if target.type == "date" and (kind == "epoch" or (kind is None and source.name.concepts.keys() & DATE_CONCEPTS)):
        return "company_date"
    if target.type == "number" and concepts & AMOUNT_CONCEPTS and kind in ("integer", None) \
            and source.name.concepts.keys() & AMOUNT_CONCEPTS and "decimal" not in source.profile.kinds:
        return "minor_to_decimal"
    if "currency" in concepts and target.type == "string" and ("currency" in source.profile.kinds or kind is None) \
            and "currency" in source.name.concepts:
        return "currency_code"
    if kind == "object" and concepts & ADDRESS_CONCEPTS:
        return "address_line"
    if "country" in concepts and target.type == "string" and "country" in source.profile.kinds:
        return "lookup"
    if target.length and source.profile.longest > target.length and kind == "text":
        return "truncate"
    return None


def sources_from(fields: Iterable[Mapping[str, Any]]) -> list[Source]:
    """``[{path, sample | samples, type}]`` as sources (one per path; samples merged)."""
    merged: dict[str, list[Any]] = {}
    declared: dict[str, str | None] = {}
    for entry in fields:
        path = str(entry["path"])
        found = merged.setdefault(path, [])
        if "samples" in entry and isinstance(entry["samples"], list):
            found.extend(entry["samples"])
        elif "sample" in entry:
            found.append(entry["sample"])
        declared[path] = declared.get(path) or entry.get("type")
    return [Source(path, tuple(samples), declared[path]) for path, samples in merged.items()]
