"""Flow switches (who, when, why; read by a worker at most once a second) and the Epicor checks of table rows
(a part exists, a reason code exists with the right type, a currency is active; Epicor away is 'not checked')."""

from __future__ import annotations

from typing import Any

import pytest

from tasks import flow_switches
from tasks.connectors.epicor import EpicorUnavailable
from tasks.mapping import table_checks


@pytest.fixture()
def switches(fake_redis, monkeypatch):
    flow_switches.forget()
    monkeypatch.setattr(flow_switches, "READ_EVERY", 0.0)
    yield fake_redis
    flow_switches.forget()


def test_a_flow_switched_off_gives_the_reason_with_who_when_and_why(switches):
    assert flow_switches.switched_off("refunds") is None
    made = flow_switches.switch("refunds", on=False, who="ada", comment="month-end close")
    why = flow_switches.switched_off("refunds")
    assert why.startswith("flow refunds switched off by ada at ") and why.endswith(" UTC: month-end close")
    assert made["off"] is True and flow_switches.switched_off("order_to_cash") is None
    flow_switches.switch("refunds", on=True, who="ada", comment="close done")
    assert flow_switches.switched_off("refunds") is None


def test_a_switch_needs_a_comment(switches):
    with pytest.raises(flow_switches.SwitchRefused):
        flow_switches.switch("refunds", on=False, who="ada", comment="  ")


def test_a_worker_reads_the_switches_at_most_once_a_second(switches, monkeypatch):
    monkeypatch.setattr(flow_switches, "READ_EVERY", 60.0)
    flow_switches.switched_off("refunds")
    flow_switches.switch("refunds", on=False, who="ada", comment="x")
    assert flow_switches.switched_off("refunds") is None  # the answer read less than a minute ago stands


class FakeEpicor:
    """The connector's read calls over a few rows (contract §4/§8 sets)."""

    def __init__(self, rows: dict[tuple[str, ...], dict[str, Any]], down: bool = False):
        self.rows, self.down, self.calls = rows, down, 0

    def get(self, _service: str, entity_set: str, *keys: str) -> dict[str, Any] | None:
        self.calls += 1
        if self.down:
            raise EpicorUnavailable("Epicor could not be reached", reason="epicor.connection")
        return self.rows.get((entity_set, *keys))

    def find_one(self, _service: str, entity_set: str, **fields: str) -> dict[str, Any] | None:
        return next((row for key, row in self.rows.items() if key[0] == entity_set
                     and all(row.get(name) == value for name, value in fields.items())), None)


EPICOR = FakeEpicor({("Parts", "WIDGET-100"): {"PartNum": "WIDGET-100"},
                     ("Reasons", "A", "DUPL"): {"ReasonType": "A", "ReasonCode": "DUPL"},
                     ("Reasons", "S", "SCRAP"): {"ReasonType": "S", "ReasonCode": "SCRAP"},
                     ("Currencies", "USD"): {"CurrencyCode": "USD"},
                     ("Currencies", "OLD"): {"CurrencyCode": "OLD", "Inactive": True},
                     ("Terms", "N30"): {"TermsCode": "N30"}})


def check(file: str, key: str, value: str, epicor: Any = EPICOR) -> dict[str, Any]:
    return table_checks.check(file, key, value, reason_type="A", epicor=epicor)


def test_parts_are_checked_in_epicor_and_an_unknown_one_names_part_maintenance():
    assert check("parts.yaml", "default_part", "WIDGET-100")["ok"] is True
    missing = check("parts.yaml", "products.prod_1", "NOPE-1")
    assert missing["ok"] is False and "Part 'NOPE-1' is not in Epicor" in missing["message"]
    assert "Part Maintenance" in missing["message"]


def test_a_reason_code_of_another_type_is_refused_naming_the_type():
    assert check("reasons.yaml", "refunds.duplicate", "DUPL")["ok"] is True
    other = check("reasons.yaml", "refunds.fraudulent", "SCRAP")
    assert other["ok"] is False and "type S, not A" in other["message"] and "Reason Maintenance" in other["message"]
    assert check("reasons.yaml", "reason_type", "Q")["ok"] is False


def test_currencies_terms_and_rows_that_are_no_epicor_code():
    assert check("currencies.yaml", "usd", "USD")["ok"] is True
    assert "inactive" in check("currencies.yaml", "xyz", "OLD")["message"]
    assert check("currencies.yaml", "default", "upper")["checked"] is False
    assert check("terms.yaml", "N30", "30")["ok"] is True and check("terms.yaml", "N45", "45")["ok"] is False
    assert check("countries.yaml", "US", "USA")["checked"] is False


def test_epicor_away_is_not_checked_rather_than_wrong():
    answer = check("parts.yaml", "default_part", "WIDGET-100", FakeEpicor({}, down=True))
    assert answer["ok"] is None and "not checked" in answer["message"]
