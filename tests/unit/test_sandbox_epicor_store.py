"""The Epicor store's indexes and per-group aggregates answer exactly what a scan of every row answers,
through inserts, updates that move rows between groups, rolled-back transactions, staged rows, a wipe
and a reload from SQLite; and `$filter` look-ups through them return what filtering every row returns."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from sandbox.epicor import EpicorState
from sandbox.epicor.filters import compile_filter, required_equalities
from sandbox.epicor.query import QueryOptions, apply_options
from sandbox.epicor.schema import COLUMNS, ENTITY_SETS, blank_row
from sandbox.epicor.store import RowStore, Txn
from tests.unit.test_sandbox_epicor import created, customer, make_client

GROUPS = ["G1", "G2", "G3", " G1"]


def receipt(group: str, head: int, amount: float, applied: float = 0.0) -> dict:
    row = blank_row("CashHead", "EPIC06")
    row.update(GroupID=group, HeadNum=head, DocTranAmt=amount, DocAppliedAmt=applied,
               ExternalID=random.choice(["a", "b", ""]))
    return row


def scanned(txn: Txn, set_name: str, **equals) -> list[dict]:
    return [row for row in txn.rows(set_name) if all(row.get(name) == value for name, value in equals.items())]


def check_against_scan(txn: Txn) -> None:
    for group in GROUPS + ["none"]:
        expected = scanned(txn, "CashRecs", Company="EPIC06", GroupID=group)
        assert txn.where("CashRecs", Company="EPIC06", GroupID=group) == expected
        assert txn.total("CashRecs", "DocTranAmt", Company="EPIC06", GroupID=group) == \
            sum((Decimal(str(row["DocTranAmt"])) for row in expected), Decimal(0))
        assert txn.total("CashRecs", "DocAppliedAmt", Company="EPIC06", GroupID=group) == \
            sum((Decimal(str(row["DocAppliedAmt"])) for row in expected), Decimal(0))
        assert txn.largest("CashRecs", "HeadNum", Company="EPIC06", GroupID=group) == \
            max((row["HeadNum"] for row in expected), default=None)
    for external in ("a", "b", "", "zz"):
        assert txn.where("CashRecs", ExternalID=external, Company="EPIC06") == \
            scanned(txn, "CashRecs", ExternalID=external, Company="EPIC06")
    assert txn.matching("CashRecs", [("GroupID", "G1"), ("GroupID", "G2")]) == []


@pytest.mark.parametrize("seed", range(5))
def test_indexes_and_aggregates_agree_with_a_scan(tmp_path, seed):
    rnd = random.Random(seed)
    random.seed(seed)
    path = str(tmp_path / "epicor.sqlite3")
    store = RowStore(path)
    keys: list[tuple] = []
    for step in range(300):
        if step == 150:
            store = RowStore(path)  # reload: indexes and tables are rebuilt from SQLite
        if step == 250 and seed % 2:
            store.wipe()
            keys = []
        try:
            with store.transaction() as txn:
                for _ in range(rnd.randint(1, 3)):
                    if keys and rnd.random() < 0.5:
                        current = txn.get("CashRecs", rnd.choice(keys))
                        current.update(rnd.choice([
                            {"DocTranAmt": rnd.choice([0.1, 0.2, 12.5, 100.0, -3.3])},
                            {"DocAppliedAmt": rnd.choice([0.0, 0.1, 7.25])},
                            {"ExternalID": rnd.choice(["a", "b", ""])},
                        ]))
                        txn.update("CashRecs", current)
                    else:
                        group = rnd.choice(GROUPS)
                        head = (txn.largest("CashRecs", "HeadNum", Company="EPIC06", GroupID=group) or 0) + 1
                        if rnd.random() < 0.2:
                            head = rnd.randint(1, 40)
                        stored = txn.insert("CashRecs", receipt(group, head, rnd.choice([0.1, 0.2, 25.0, 12.5])))
                        keys.append(("EPIC06", group, stored["HeadNum"]))
                    check_against_scan(txn)  # staged rows included
                if rnd.random() < 0.2:
                    raise RuntimeError("roll back")
        except RuntimeError:
            pass
        keys = [key for key in dict.fromkeys(keys) if _exists(store, key)]
        with store.transaction() as txn:
            check_against_scan(txn)


def _exists(store: RowStore, key: tuple) -> bool:
    with store.transaction() as txn:
        return txn.get("CashRecs", key) is not None


FILTERS = [
    "ExternalID eq 'cus_a'",
    "ExternalID eq 'cus_a' and CustNum ge 203",
    "(ExternalID eq 'cus_b') and (startswith(CustID,'C1') or CustID eq 'C2')",
    "ExternalID eq 'cus_a' or ExternalID eq 'cus_b'",
    "not (ExternalID eq 'cus_a')",
    "CustNum eq 205",
    "CustNum eq 205.0",
    "CustNum eq 205.5",
    "CreditHold eq false and EMailAddress eq 'A@x'",
    "EstDate eq null",
    "EstDate ne null and CustID eq 'C7'",
    "CreditLimit eq 10.1",
    "ExternalID ne 'cus_a' and CustNum eq 204",
]


def test_filter_lookups_match_filtering_every_row():
    state = EpicorState(":memory:")
    client = make_client(state)
    rnd = random.Random(7)
    for index in range(30):
        customer(client, f"C{index}", ExternalID=rnd.choice(["cus_a", "cus_b", ""]),
                 EMailAddress=rnd.choice(["A@x", "a@x"]), CreditLimit=rnd.choice([0, 10.1, 5]))
    created(client, "InvcGrps", {"GroupID": "G1"})
    columns = COLUMNS["Customer"]
    found = []
    for text in FILTERS:
        predicate = compile_filter(text, columns, ENTITY_SETS["Customers"].row_type)
        options = QueryOptions(predicate=predicate)
        with state.store.transaction() as txn:
            everything = apply_options(txn.rows("Customers"), options)
            looked_up = apply_options(txn.matching("Customers", required_equalities(predicate)), options)
        assert looked_up == everything, text
        found.append(everything[1])
    assert found == [11, 11, 2, 20, 19, 1, 1, 0, 20, 0, 1, 10, 1]
    assert required_equalities(compile_filter("ExternalID eq 'x' and CustNum eq 1", columns, "T")) == \
        [("ExternalID", "x"), ("CustNum", Decimal(1))]
    assert required_equalities(compile_filter("ExternalID eq 'x' or CustNum eq 1", columns, "T")) == []
    assert required_equalities(compile_filter("CreditLimit eq 10.1", columns, "T")) == []


def test_a_removed_row_is_gone_from_look_ups_totals_and_the_database(tmp_path):
    path = str(tmp_path / "epicor.sqlite3")
    store = RowStore(path)
    with store.transaction() as txn:
        for head, group in enumerate(["G1", "G1", "G2"], start=1):
            txn.insert("CashRecs", receipt(group, head, 10.0 * head))
    with store.transaction() as txn:  # indexes and totals built before the removal
        check_against_scan(txn)
    assert store.remove("CashRecs", ("EPIC06", "G1", 1))["DocTranAmt"] == 10
    assert store.remove("CashRecs", ("EPIC06", "G1", 1)) is None
    with store.transaction() as txn:
        check_against_scan(txn)
        assert [row["HeadNum"] for row in txn.where("CashRecs", GroupID="G1")] == [2]
        assert txn.total("CashRecs", "DocTranAmt", Company="EPIC06", GroupID="G1") == 20
    with RowStore(path).transaction() as txn:  # and after a restart
        assert [row["HeadNum"] for row in txn.rows("CashRecs")] == [2, 3]
