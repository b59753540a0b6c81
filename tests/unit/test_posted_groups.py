"""The day's invoice or cash group may be posted (and so removed by Epicor) while it is still cached as
existing: the document is refused, the group created again and the document tried once more."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tasks import store
from tasks.connectors.epicor import EpicorError, EpicorUnavailable
from tasks.epicor import posting as docs

GROUP = {"GroupID": "SI260301", "InvoiceDate": "2026-03-01T00:00:00"}


class Epicor:
    """Groups by entity set; a document whose group is missing is refused as Epicor refuses it."""

    def __init__(self, groups: set[str] | None = None, refuse: Exception | None = None):
        self.groups = set(groups or ())
        self.refuse = refuse
        self.created: list[tuple[str, dict[str, Any]]] = []

    def get(self, service: str, entity: str, *keys: Any) -> dict[str, Any] | None:
        return {"GroupID": keys[0]} if entity == "InvcGrps" and keys[0] in self.groups else None

    def ensure(self, service: str, entity: str, lookup: dict[str, Any], row: dict[str, Any],
               *, known_absent: bool = False) -> tuple[dict[str, Any], bool]:
        if entity == "InvcGrps":
            self.groups.add(row["GroupID"])
            return row, True
        if self.refuse:
            raise self.refuse
        elif row["GroupID"] not in self.groups:
            raise EpicorError("Invoice group is not found or is posted.", status=400, error_type="Ice.BLException")
        self.created.append((entity, row))
        return {**row, "InvoiceNum": 37}, True


def invoice(ctx: Any) -> tuple[dict[str, Any], bool]:
    return docs.ensure_in_group(ctx, docs.INVOICE_GROUPS, "invoice_group", GROUP, docs.INVOICES,
                                {"ExternalID": "ch_1"}, lambda group_id: {"GroupID": group_id, "ExternalID": "ch_1"})


def test_a_document_whose_cached_group_was_posted_goes_into_the_group_created_again(fake_redis):
    store.cache_set(1, "group", "InvcGrps", "SI260301")  # cached as existing, then posted and removed
    epicor = Epicor()
    row, created = invoice(SimpleNamespace(epicor=epicor))
    assert created and row["InvoiceNum"] == 37
    assert epicor.groups == {"SI260301"} and epicor.created == [("ARInvoices", {"GroupID": "SI260301",
                                                                                "ExternalID": "ch_1"})]
    assert fake_redis.get("sec:cache:group:InvcGrps:SI260301") == "1"


def test_a_refusal_with_the_group_still_there_is_the_documents_own(fake_redis):
    epicor = Epicor(groups={"SI260301"}, refuse=EpicorError("Customer is on credit hold.", status=400))
    with pytest.raises(EpicorError, match="credit hold"):
        invoice(SimpleNamespace(epicor=epicor))
    assert epicor.created == []


def test_an_unavailable_epicor_is_not_taken_for_a_posted_group(fake_redis):
    store.cache_set(1, "group", "InvcGrps", "SI260301")
    epicor = Epicor(refuse=EpicorUnavailable("Epicor answered 503"))
    with pytest.raises(EpicorUnavailable):
        invoice(SimpleNamespace(epicor=epicor))
    assert fake_redis.get("sec:cache:group:InvcGrps:SI260301") == "1"
