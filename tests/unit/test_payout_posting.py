"""Posting payouts (contract §6b): fee sums per category, the bank shape's calls and its idempotency under
faults, the reversal of a failed payout, the journal shape's balance and GL account conversion.

A small stateful stand-in for the bank and GL parts of contract §4b-§6b, behind `responses`, for the
payout posting unit tests: the calls the connector makes are checked against the contract's shapes
(method parameter names, keys, TranRef), rows are kept so a second run sees what the first made, and
any call can be made to fail, or to commit and then time out."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses

from tasks.context import Context
from tasks.epicor import bank, journal
from tasks.errors import MappingError, PipelineError
from tasks.flows import payout_posting
from tasks.mapping.payout_settings import parse
from tasks.mapping.payouts import fee_totals, transaction_facts
from tasks.mapping.shapes import SHIPPED_DIR
from tasks.mapping.tables import load_mappings
from tasks.settings import load_settings

BASE = "https://erp.example.com/KineticLive"
V2 = f"{BASE}/api/v2/odata/EPIC06"
METHOD_PARAMS = {
    "CreateBankTran": set(), "ChangeFromBank": {"bankAcctID", "ds", "isFirstBank"},
    "ChangeTargetBank": {"toBankAcctID", "ds", "isFirstBank"}, "ChangeTranDate": {"tranDate", "ds", "fromSourceBank"},
    "ChangeFromAmt": {"docTranAmt", "ds", "isFirstBank"}, "CreateBankTranRecords": {"ds"},
}
ADJ_FIELDS = {"Company", "BankAcctID", "TranNum", "Voided", "GroupID", "TranDate", "DocTranAmt", "CurrencyCode",
              "BankFeeID", "TranRef"}


class FakeEpicor:
    def __init__(self, rsps: responses.RequestsMock):
        self.rows: list[dict] = []  # BankTran rows
        self.groups: dict[str, dict] = {}
        self.journals: list[dict] = []
        self.lines: list[dict] = []
        self.jgroups: dict[str, dict] = {}
        self.receipts: list[dict] = []  # CashRecs rows (ExternalID, GroupID, HeadNum, DocTranAmt)
        self.next_tran = 1
        self.faults: dict[str, str] = {}  # "POST BankTrans" -> "fail" | "timeout_after_commit"
        self.calls: list[str] = []
        pattern = re.compile(re.escape(V2) + r"/.*")
        for method in ("GET", "POST"):
            rsps.add_callback(method, pattern, callback=self.handle)

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, request):
        path = unquote(urlsplit(request.url).path)[len(urlsplit(V2).path) + 1:]
        service, target = path.split("/", 1)
        name = target.split("(")[0]
        self.calls.append(f"{request.method} {name}")
        fault = self.faults.pop(f"{request.method} {name}", None)
        if fault == "fail":
            return 503, {}, json.dumps({"ErrorMessage": "server busy", "ErrorType": "x"})
        body = json.loads(request.body) if request.body else None
        status, answer = self.route(request.method, service, target, name, body, parse_qs(urlsplit(request.url).query))
        if fault == "timeout_after_commit":
            raise requests.exceptions.ReadTimeout("committed, then timed out")
        return status, {}, json.dumps(answer)

    def route(self, verb, service, target, name, body, query):
        if name == "BankTrans" and verb == "GET":
            return 200, {"value": [row for row in self.rows if self._matches(row, query["$filter"][0])]}
        if name == "BankTrans":
            return self.create_adjustment(body)
        if name == "BankAdjEntries" and verb == "GET":
            group = self.groups.get(target.split("'")[3])
            return (200, group) if group else (404, {"ErrorMessage": "not found"})
        if name == "BankAdjEntries":
            if body["GroupID"] in self.groups:
                return 409, {"ErrorMessage": "duplicate", "ErrorType": "Ice.Common.DuplicateRecordException"}
            self.groups[body["GroupID"]] = dict(body)
            return 201, body
        if service == "Erp.BO.BankFundTranSvc":
            return self.funds(name, body)
        return self.gl(verb, name, target, body, query)

    @staticmethod
    def _matches(row, condition):
        wanted = re.findall(r"(\w+) eq '([^']*)'", condition)
        return any(row.get(field) == value for field, value in wanted)

    # -- bank -----------------------------------------------------------------------------------
    def create_adjustment(self, body):
        assert set(body) == ADJ_FIELDS, set(body) ^ ADJ_FIELDS
        assert body["GroupID"] in self.groups and body["TranNum"] == 0 and body["DocTranAmt"] != 0
        assert len(body["TranRef"]) <= 30
        row = {**body, "TranNum": self.next_tran}
        self.next_tran += 1
        self.rows.append(row)
        return 201, row

    def funds(self, name, body):
        assert set(body) == METHOD_PARAMS[name], (name, set(body))
        if name == "CreateBankTran":
            return 200, {"returnObj": {"BankFundsTransfer": [{"TranNum": 0, "TranDate": "2026-01-01T00:00:00",
                                                              "RowMod": "A", "TranRef": "", "CurrencyCode": ""}]}}
        row = body["ds"]["BankFundsTransfer"][0]
        if name == "ChangeFromBank":
            row.update(BankAcctID=body["bankAcctID"], CurrencyCode="USD")
        elif name == "ChangeTargetBank":
            row.update(ToBankAcctID=body["toBankAcctID"], ToCurrencyCode="USD")
        elif name == "ChangeTranDate":
            row.update(TranDate=body["tranDate"])
        elif name == "ChangeFromAmt":
            assert body["docTranAmt"] > 0
            row.update(DocTranAmt=body["docTranAmt"], ToDocTranAmt=body["docTranAmt"])
        elif name == "CreateBankTranRecords":
            num = self.next_tran
            self.next_tran += 1
            common = {"TranNum": num, "TranRef": row["TranRef"], "TranDate": row["TranDate"],
                      "CurrencyCode": row["CurrencyCode"], "Voided": False, "BankFeeID": "", "GroupID": ""}
            self.rows.append({**common, "BankAcctID": row["BankAcctID"], "DocTranAmt": -row["DocTranAmt"]})
            self.rows.append({**common, "BankAcctID": row["ToBankAcctID"], "DocTranAmt": row["DocTranAmt"]})
            return 200, {"returnObj": num, "parameters": {"ds": body["ds"]}}
        return 200, {"parameters": {"ds": body["ds"]}}

    def transfers(self, reference):
        return sorted({row["TranNum"] for row in self.rows if row["TranRef"] == reference and not row["BankFeeID"]})

    def balance(self, bank, reference):
        return sum(row["DocTranAmt"] for row in self.rows if row["BankAcctID"] == bank and row["TranRef"] == reference)

    # -- GL ------------------------------------------------------------------------------------------
    def gl(self, verb, name, target, body, query):
        if name in ("CashRecs", "ARInvoices"):
            rows = self.receipts if name == "CashRecs" else []
            return 200, {"value": [row for row in rows if self._matches(row, query["$filter"][0])]}
        if name == "GLJrnGrps" and verb == "GET":
            group = self.jgroups.get(target.split("'")[3])
            return (200, group) if group else (404, {"ErrorMessage": "not found"})
        if name == "GLJrnGrps":
            self.jgroups[body["GroupID"]] = {**body, "BookID": "MAIN", "FiscalYear": int(body["JEDate"][:4]),
                                             "FiscalYearSuffix": "", "FiscalCalendarID": "MAIN", "COACode": "MAIN"}
            return 201, self.jgroups[body["GroupID"]]
        if name == "COAs":
            return 200, {"COACode": "MAIN", "SeparatorChar": "-"}
        if name == "GLJournalEntries" and verb == "GET":
            return 200, {"value": [row for row in self.journals if self._matches(row, query["$filter"][0])]}
        if name == "GLJournalEntries":
            row = {**body, "JournalNum": len(self.journals) + 1}
            self.journals.append(row)
            return 201, row
        if name == "GLJrnDtls":
            return 200, {"value": []}
        if name == "GLJrnDtlMnls" and verb == "GET":
            return 200, {"value": [row for row in self.lines if self._matches(row, query["$filter"][0])]}
        if name == "GLJrnDtlMnls":
            assert "|" in body["GLAccount"] and (body.get("TotDebit", 0) > 0) != (body.get("TotCredit", 0) > 0)
            self.lines.append(dict(body))
            return 201, body
        raise AssertionError(f"unexpected call {verb} {name}")


# -- fixtures -----------------------------------------------------------------------------------------
SETTINGS = parse({"post_automatically": True, "shape": "bank", "banks": {"default": {"clearing": "MAIN",
                  "operating": "OPER"}}, "fee_ids": {"processing": "STRFEE", "dispute": "DISPFEE",
                  "currency_conversion": "FXFEE", "other": "OTHFEE"},
                  "journal": {"accounts": {"operating_cash": "1010-00-00", "clearing": "1015-00-00",
                                           "processing": "6150-00-00", "dispute": "6151-00-00",
                                           "currency_conversion": "6152-00-00", "other": "6159-00-00"}}}, "MAIN")
PO = "po_1Q2w3E4r5T6y7U8i9O0pAbCd"
ARRIVAL = 1772582400  # 2026-03-04 00:00 UTC


def bt(kind, amount, fee=0, details=(), reporting=None, currency="usd"):
    return transaction_facts({"id": f"txn_{kind}_{amount}", "type": kind, "amount": amount, "fee": fee,
                              "net": amount - fee, "currency": currency, "reporting_category": reporting or kind,
                              "source": None, "fee_details": [{"type": t, "amount": a} for t, a in details]})


SALES = [
    bt("charge", 100000, 3200, [("stripe_fee", 2900), ("application_fee", 300)]),
    bt("charge", 50000, 1480, [("stripe_fee", 1480)]),
    bt("refund", -10000),
    bt("adjustment", -20000, 1500, [("stripe_fee", 1500)], "dispute"),
    bt("stripe_fx_fee", -120, reporting="fee"),
    bt("stripe_fee", -500, reporting="fee"),
    bt("charge", 7000, 233),  # a fee fee_details does not break down: processing
]


@pytest.fixture()
def ctx(monkeypatch, fake_redis):
    monkeypatch.setenv("EPICOR_BASE_URL", BASE + "/")
    monkeypatch.setenv("EPICOR_USERNAME", "integration")
    monkeypatch.setenv("EPICOR_PASSWORD", "s3cret")
    monkeypatch.setenv("EPICOR_API_KEY", "key-123")
    from tasks.connectors.epicor import EpicorClient

    context = Context(load_settings())
    context.__dict__["epicor"] = EpicorClient(context.settings, session=requests.Session())
    context.__dict__["mappings"] = load_mappings(SHIPPED_DIR)
    return context


@pytest.fixture()
def epicor():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeEpicor(rsps)


def usd_plan(amount=2000_00, fees=None):
    fees = fees if fees is not None else {"processing": 4127, "dispute": 0, "currency_conversion": 0, "other": 0}
    payout = {"id": PO, "amount": amount, "currency": "usd", "arrival_date": ARRIVAL}
    return {**bank.plan(payout, fees, SETTINGS, "USD"), "amount_minor": amount}


# -- fee sums (§6b's table) -------------------------------------------------------------------------
def test_fees_are_summed_per_category_as_the_contract_table_says():
    assert fee_totals(SALES) == {"processing": 2900 + 1480 + 233, "dispute": 1500, "currency_conversion": 120,
                                 "other": 300 + 500}


def test_a_returned_dispute_fee_is_a_negative_dispute_sum_and_the_payout_transaction_is_left_out():
    txns = [bt("adjustment", 20000, -1500, [("stripe_fee", -1500)], "dispute_reversal"),
            bt("payout", -18500, reporting="payout")]
    assert fee_totals(txns) == {"processing": 0, "dispute": -1500, "currency_conversion": 0, "other": 0}


def test_the_clearing_bank_nets_to_zero_when_fees_and_transfer_leave_it():
    gross = sum(txn["amount"] for txn in SALES if txn["category"] in ("charge", "refund", "dispute"))
    net = sum(txn["net"] for txn in SALES)
    assert gross - sum(fee_totals(SALES).values()) == net


# -- the plan -----------------------------------------------------------------------------------------
def test_bank_plan_has_one_adjustment_per_non_zero_category_dated_and_grouped_by_arrival_day():
    plan = usd_plan(fees={"processing": 4127, "dispute": 1500, "currency_conversion": 0, "other": -20})
    assert plan["date"] == "2026-03-04T00:00:00" and plan["group"] == "SB260304"
    assert [(a["BankFeeID"], a["DocTranAmt"]) for a in plan["adjustments"]] == [
        ("STRFEE", "-41.27"), ("DISPFEE", "-15.00"), ("OTHFEE", "0.20")]
    assert plan["transfer"] == {"amount": "2000.00", "from": "MAIN", "to": "OPER", "TranRef": PO}


@pytest.mark.parametrize(("currency", "amount", "fee", "text", "fee_text"), [
    ("jpy", 19586, 414, "19586", "-414"), ("kwd", 19587, 413, "19.587", "-0.413")])
def test_amounts_carry_the_currency_decimals(currency, amount, fee, text, fee_text):
    payout = {"id": PO, "amount": amount, "currency": currency, "arrival_date": ARRIVAL}
    plan = bank.plan(payout, {"processing": fee}, SETTINGS, currency.upper())
    assert plan["transfer"]["amount"] == text and plan["adjustments"][0]["DocTranAmt"] == fee_text
    assert bank.wire_amount(text) == (19586 if currency == "jpy" else 19.587)
    assert isinstance(bank.wire_amount("19586"), int)  # never 19586.0 for a zero-decimal currency


# -- idempotency decisions -------------------------------------------------------------------------------
def test_progress_reads_what_exists_by_reference_bank_and_fee_id():
    plan = usd_plan(fees={"processing": 4127, "dispute": 1500, "currency_conversion": 0, "other": 0})
    rows = [{"TranRef": PO, "BankAcctID": "MAIN", "BankFeeID": "STRFEE", "TranNum": 4, "DocTranAmt": -41.27},
            {"TranRef": PO, "BankAcctID": "OTHER", "BankFeeID": "DISPFEE", "TranNum": 5, "DocTranAmt": -15},
            {"TranRef": "ch_1", "BankAcctID": "MAIN", "BankFeeID": "", "TranNum": 1, "DocTranAmt": 20}]
    assert bank.progress(plan, rows) == {"fees": {"processing": 4, "dispute": None}, "transfer": None}
    rows.append({"TranRef": PO, "BankAcctID": "OPER", "BankFeeID": "", "TranNum": 9, "DocTranAmt": 2000})
    assert bank.progress(plan, rows)["transfer"] == 9
    assert bank.reversal_needed(plan, rows) == "create"
    assert bank.reversal_needed(plan, rows + [{"TranRef": PO + "-R", "BankAcctID": "MAIN"}]) == "done"
    assert bank.reversal_needed(plan, rows[:1]) == "none"


# -- posting against the contract -------------------------------------------------------------------
def test_a_payout_posts_its_fees_then_the_transfer_and_a_second_run_creates_nothing(ctx, epicor):
    plan = usd_plan(fees={"processing": 4127, "dispute": 1500, "currency_conversion": 0, "other": 0})
    first = payout_posting.post_reconciled(ctx, plan)
    assert [doc["created"] for doc in first["documents"]] == [True, True, True]
    assert epicor.balance("MAIN", PO) == -(41.27 + 15 + 2000) and epicor.balance("OPER", PO) == 2000
    assert epicor.groups["SB260304"] == {"Company": "EPIC06", "GroupID": "SB260304", "BankAcctID": "MAIN",
                                          "TranDate": "2026-03-04T00:00:00"}
    calls = len(epicor.calls)
    second = payout_posting.post_reconciled(ctx, plan)
    assert [doc["created"] for doc in second["documents"]] == [False, False, False]
    assert epicor.calls[calls:] == ["GET BankTrans"]
    assert len(epicor.transfers(PO)) == 1


def test_a_run_killed_before_the_transfer_is_completed_not_duplicated(ctx, epicor):
    plan = usd_plan(fees={"processing": 4127, "dispute": 1500, "currency_conversion": 0, "other": 0})
    epicor.faults["POST CreateBankTran"] = "fail"
    with pytest.raises(PipelineError):
        payout_posting.post_reconciled(ctx, plan)
    assert len(epicor.rows) == 2 and not epicor.transfers(PO)
    done = payout_posting.post_reconciled(ctx, plan)
    assert [doc["created"] for doc in done["documents"]] == [False, False, True]
    assert len([row for row in epicor.rows if row["BankFeeID"]]) == 2 and len(epicor.transfers(PO)) == 1


@pytest.mark.parametrize("call", ["POST BankTrans", "POST CreateBankTranRecords", "POST BankAdjEntries"])
def test_a_create_that_committed_then_timed_out_is_found_on_the_retry(ctx, epicor, call):
    plan = usd_plan()
    epicor.faults[call] = "timeout_after_commit"
    with pytest.raises(PipelineError) as raised:
        payout_posting.post_reconciled(ctx, plan)
    assert raised.value.reason == "epicor.timeout"
    payout_posting.post_reconciled(ctx, plan)
    assert len([row for row in epicor.rows if row["BankFeeID"] == "STRFEE"]) == 1
    assert len(epicor.transfers(PO)) == 1 and epicor.balance("MAIN", PO) == -(41.27 + 2000)


def test_a_failed_payout_after_posting_gets_one_transfer_back_and_keeps_its_fees(ctx, epicor):
    plan = usd_plan()
    payout_posting.post_reconciled(ctx, plan)
    first = payout_posting.reverse(ctx, plan, returned_at=ARRIVAL + 3 * 86400)
    again = payout_posting.reverse(ctx, plan, returned_at=ARRIVAL + 3 * 86400)
    assert first["documents"][0]["created"] is True and again["documents"][0]["created"] is False
    back = [row for row in epicor.rows if row["TranRef"] == PO + "-R"]
    assert sorted((row["BankAcctID"], row["DocTranAmt"]) for row in back) == [("MAIN", 2000.0), ("OPER", -2000.0)]
    assert back[0]["TranDate"] == "2026-03-07T00:00:00"
    assert [row["BankFeeID"] for row in epicor.rows if row["BankFeeID"]] == ["STRFEE"]


def test_a_payout_failed_before_its_transfer_gets_nothing(ctx, epicor):
    assert payout_posting.reverse(ctx, usd_plan(), returned_at=ARRIVAL) is None
    assert epicor.rows == []


def test_waiting_names_every_unmatched_transaction():
    report = {"payout": PO, "currency": "usd", "delta": 0, "delta_text": "0.00", "other_currencies": [],
              "unmatched": [{"id": "txn_1", "category": "charge", "source": "ch_9", "note": "no Epicor receipt"}]}
    error = payout_posting.waiting(report)
    assert error.reason == "prerequisite.missing" and "ch_9" in error.message and PO in error.message


# -- journal shape ------------------------------------------------------------------------------------
def test_display_accounts_become_internal_with_the_chart_separator():
    assert journal.internal_account("1015-00-00", "-") == {"GLAccount": "1015|00|00", "SegValue1": "1015",
                                                           "SegValue2": "00", "SegValue3": "00"}
    assert journal.internal_account("1015.00", ".")["GLAccount"] == "1015|00"
    with pytest.raises(MappingError):
        journal.internal_account("1015|00|00", "-")


def test_a_journal_balances_debit_operating_and_fees_credit_clearing():
    payout = {"id": PO, "amount": 195873, "currency": "usd", "arrival_date": ARRIVAL}
    plan = journal.plan(payout, {"processing": 4127, "dispute": 0, "currency_conversion": 0, "other": -100},
                        SETTINGS, "USD")
    assert plan["group"] == "SJ260304" and journal.balanced(plan)
    assert plan["lines"] == [{"account": "1010-00-00", "TotDebit": "1958.73"},
                             {"account": "6150-00-00", "TotDebit": "41.27"},
                             {"account": "6159-00-00", "TotCredit": "1.00"},
                             {"account": "1015-00-00", "TotCredit": "1999.00"}]


def test_a_journal_is_posted_once_and_an_interrupted_one_completed(ctx, epicor):
    payout = {"id": PO, "amount": 195873, "currency": "usd", "arrival_date": ARRIVAL}
    plan = journal.plan(payout, {"processing": 4127}, SETTINGS, "USD")
    epicor.faults["POST GLJrnDtlMnls"] = "fail"
    with pytest.raises(PipelineError):
        journal.post_plan(ctx, plan)
    assert len(epicor.journals) == 1 and epicor.lines == []
    journal.post_plan(ctx, plan)
    journal.post_plan(ctx, plan)
    assert len(epicor.journals) == 1 and len(epicor.lines) == 3
    assert epicor.journals[0]["Description"] == PO and epicor.journals[0]["JournalCode"] == "STRP"
    assert {line["GLAccount"] for line in epicor.lines} == {"1010|00|00", "6150|00|00", "1015|00|00"}


# -- settings ---------------------------------------------------------------------------------------------
def test_payouts_yaml_problems_are_all_named():
    with pytest.raises(MappingError) as raised:
        parse({"shape": "ledger", "banks": {"default": {"clearing": "MAIN", "operating": "MAIN"}, "JPY": {}},
               "fee_ids": {"processing": "STRFEE"}, "post_automatically": "yes"}, "MAIN")
    message = raised.value.message
    for fragment in ("shape", "must differ", "banks.JPY", "fee_ids.dispute", "post_automatically"):
        assert fragment in message


def test_a_currency_with_its_own_clearing_bank_gets_its_own_banks_and_group_prefix():
    settings = parse({"banks": {"default": {"operating": "OPER"},
                                "jpy": {"clearing": "STRJPY", "operating": "OPJPY", "group_prefix": "SY",
                                        "cash_group_prefix": "CY"}},
                      "fee_ids": SETTINGS.fee_ids}, "MAIN")
    assert settings.clearing_bank("usd") == "MAIN" and settings.clearing_bank("jpy") == "STRJPY"
    assert settings.group_prefix_for("jpy") == "SY" and settings.group_prefix_for("usd") == "SB"
    assert settings.cash_group_prefix_for("jpy", "SC") == "CY" and settings.cash_group_prefix_for("usd", "SC") == "SC"
    with pytest.raises(MappingError):
        parse({"banks": {"default": {"operating": "OPER"}, "jpy": {"clearing": "STRJPY", "operating": "OPJPY",
                                                                   "cash_group_prefix": "CY"}},
               "fee_ids": SETTINGS.fee_ids}, "MAIN")


@pytest.mark.parametrize("jpy, eur, fragment", [
    ({"group_prefix": "SY"}, None, "banks.jpy: a clearing bank other than the default one needs its own cash_group"),
    ({"group_prefix": "SY", "cash_group_prefix": "SC"}, None, "banks.jpy.cash_group_prefix: SC is already the cash "
                                                              "group prefix of defaults.yaml (clearing bank MAIN)"),
    ({"group_prefix": "SY", "cash_group_prefix": "CX"}, {"group_prefix": "SE", "cash_group_prefix": "CX"},
     "banks.eur.cash_group_prefix: CX is already the cash group prefix of banks.jpy (clearing bank STRJPY)"),
    ({"group_prefix": "SY", "cash_group_prefix": "c1"}, None, "banks.jpy.cash_group_prefix: must be 1 or 2 upper"),
])
def test_a_cash_group_holds_one_clearing_bank_or_the_file_is_refused(jpy, eur, fragment):
    banks = {"default": {"operating": "OPER"}, "jpy": {"clearing": "STRJPY", "operating": "OPJPY", **jpy}}
    if eur:
        banks["eur"] = {"clearing": "STREUR", "operating": "OPEUR", **eur}
    with pytest.raises(MappingError) as raised:
        parse({"banks": banks, "fee_ids": SETTINGS.fee_ids}, "MAIN", cash_group_prefix="SC")
    assert fragment in raised.value.message


def test_a_currency_sharing_the_default_clearing_bank_may_share_its_cash_group():
    settings = parse({"banks": {"default": {"operating": "OPER"}, "eur": {"operating": "OPEUR", "clearing": "MAIN"}},
                      "fee_ids": SETTINGS.fee_ids}, "MAIN", cash_group_prefix="SC")
    assert settings.cash_group_prefix_for("eur", "SC") == "SC"


def test_the_shipped_payouts_yaml_is_valid():
    settings = payout_posting.load_payout_settings(SHIPPED_DIR, "MAIN")
    assert settings.configured and settings.post_automatically and settings.shape == "bank"
    assert settings.banks_for("usd").operating == "OPER" and settings.fee_ids["processing"] == "STRFEE"


def test_a_currencys_receipts_go_to_its_clearing_bank(tmp_path, monkeypatch):
    from tasks.mapping.transforms import TRANSFORMS

    clearing = TRANSFORMS["clearing_bank"].function
    tables = load_mappings(SHIPPED_DIR)
    assert clearing("usd", {}, tables) == "MAIN" and clearing("jpy", {}, tables) == "MAIN"
    (tmp_path / "payouts.yaml").write_text("banks:\n  default: {operating: OPER}\n"
                                           "  jpy: {clearing: STRJPY, operating: OPJPY, group_prefix: SY,"
                                           " cash_group_prefix: CY}\n"
                                           "fee_ids: {processing: A, dispute: B, currency_conversion: C, other: D}\n")
    monkeypatch.setenv("MAPPINGS_DIR", str(tmp_path))
    assert clearing("jpy", {}, tables) == "STRJPY" and clearing("usd", {}, tables) == "MAIN"
    (tmp_path / "payouts.yaml").unlink()
    assert clearing("jpy", {}, tables) == "MAIN"  # no payouts.yaml: defaults.yaml's bank, as before


def test_a_currencys_receipts_go_into_a_cash_group_of_its_clearing_bank(tmp_path, monkeypatch):
    from tasks.mapping.transforms import TRANSFORMS

    group = TRANSFORMS["currency_cash_group"]
    tables = load_mappings(SHIPPED_DIR)
    day = "2026-03-04T00:00:00"
    assert group(day, {"currency": "jpy", "prefix": "SC"}, tables) == "SC260304"  # shipped: one clearing bank
    (tmp_path / "payouts.yaml").write_text("banks:\n  default: {operating: OPER}\n"
                                           "  jpy: {clearing: STRJPY, operating: OPJPY, group_prefix: SY,"
                                           " cash_group_prefix: CY}\n"
                                           "fee_ids: {processing: A, dispute: B, currency_conversion: C, other: D}\n")
    monkeypatch.setenv("MAPPINGS_DIR", str(tmp_path))
    assert group(day, {"currency": "jpy", "prefix": "SC"}, tables) == "CY260304"
    assert group(day, {"currency": "usd", "prefix": "SC"}, tables) == "SC260304"
    assert group(None, {"currency": "jpy", "prefix": "SC"}, tables) is None
    (tmp_path / "payouts.yaml").write_text("banks:\n  default: {operating: OPER}\n"  # SC is defaults.yaml's
                                           "  jpy: {clearing: STRJPY, operating: OPJPY, group_prefix: SY,"
                                           " cash_group_prefix: SC}\n"
                                           "fee_ids: {processing: A, dispute: B, currency_conversion: C, other: D}\n")
    with pytest.raises(MappingError):
        group(day, {"currency": "jpy", "prefix": "SC"}, tables)



# -- the flow's stages ------------------------------------------------------------------------------
class FakeStripe:
    def __init__(self, payout, txns):
        self.payout_object, self.txns = payout, txns

    def payout(self, payout_id):
        return dict(self.payout_object)

    def payout_transactions(self, payout_id):
        return list(self.txns)

    def balance_transaction(self, txn_id):
        return {"id": txn_id, "created": ARRIVAL + 2 * 86400}


def flow_world(ctx):
    payout = {"id": PO, "amount": 0, "currency": "usd", "arrival_date": ARRIVAL,
              "status": "paid", "automatic": True, "failure_balance_transaction": None}
    txns = [{"id": "txn_1", "type": "charge", "amount": 10000, "fee": 320, "net": 9680, "currency": "usd",
             "reporting_category": "charge", "source": "ch_1",
             "fee_details": [{"type": "stripe_fee", "amount": 320}]},
            {"id": "txn_2", "type": "refund", "amount": -1000, "fee": 0, "net": -1000, "currency": "usd",
             "reporting_category": "refund", "source": "re_1", "fee_details": []},
            {"id": "txn_p", "type": "payout", "amount": -8680, "fee": 0, "net": -8680, "currency": "usd",
             "reporting_category": "payout", "source": PO}]
    payout["amount"] = 8680
    stripe = FakeStripe(payout, txns)
    ctx.__dict__["stripe"] = stripe
    return stripe


def run_stages(ctx, event_type="payout.paid"):
    from tasks.flows.payout_reconciliation import FLOW

    stage_input = {"type": event_type, "object_id": PO}
    for name in ("fetch", "transform", "validate", "post", "status_update"):
        stage_input = FLOW.stage(name)(ctx, stage_input)
    return stage_input


def test_the_flow_waits_for_a_missing_sale_then_posts_once_and_reverses_a_failure(ctx, epicor):
    from tasks.errors import PrerequisiteMissing
    from tasks.flows import SkipEvent
    from tasks.flows.payout_reconciliation import load_report

    stripe = flow_world(ctx)
    epicor.receipts = [{"ExternalID": "re_1", "GroupID": "SC260301", "HeadNum": 2, "DocTranAmt": -10.0}]
    with pytest.raises(PrerequisiteMissing) as waiting:
        run_stages(ctx)
    assert "ch_1" in waiting.value.message and epicor.rows == []
    assert load_report(PO)["posting"]["status"] == "waiting"

    epicor.receipts.append({"ExternalID": "ch_1", "GroupID": "SC260301", "HeadNum": 1, "DocTranAmt": 100.0})
    done = run_stages(ctx)
    assert done["keys"]["posting"] == "posted"
    assert [doc["kind"] for doc in done["keys"]["documents"]] == ["bank_adjustment", "funds_transfer"]
    run_stages(ctx)  # the event delivered again
    assert len(epicor.transfers(PO)) == 1 and len([row for row in epicor.rows if row["BankFeeID"]]) == 1
    assert epicor.balance("MAIN", PO) == -(3.20 + 86.80)  # with the receipts' 100 - 10 in: zero
    report = load_report(PO)
    assert report["posting"]["documents"][1]["TranNum"] == epicor.transfers(PO)[0]

    stripe.payout_object.update(status="failed", failure_balance_transaction="txn_fail")
    run_stages(ctx, "payout.failed")
    with pytest.raises(SkipEvent):
        run_stages(ctx)  # a late payout.paid of a failed payout posts nothing
    assert len(epicor.transfers(PO + "-R")) == 1
    assert load_report(PO)["reversal"]["documents"][0]["TranRef"] == PO + "-R"


def test_a_payout_failed_before_posting_is_ignored(ctx, epicor):
    from tasks.flows import SkipEvent

    stripe = flow_world(ctx)
    stripe.payout_object.update(status="failed", failure_balance_transaction="txn_fail")
    with pytest.raises(SkipEvent):
        run_stages(ctx, "payout.failed")
    assert epicor.rows == []


def test_the_cli_dry_run_writes_nothing_and_post_posts_a_reconciled_payout(ctx, epicor, monkeypatch):
    from click.testing import CliRunner

    from tasks import payouts_cli

    flow_world(ctx)
    epicor.receipts = [{"ExternalID": "re_1", "GroupID": "SC260301", "HeadNum": 2, "DocTranAmt": -10.0},
                       {"ExternalID": "ch_1", "GroupID": "SC260301", "HeadNum": 1, "DocTranAmt": 100.0}]
    monkeypatch.setattr(payouts_cli, "context_for", lambda event: ctx)
    shown = CliRunner().invoke(payouts_cli.main, ["post", PO, "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert "bank adjustment MAIN TranNum - STRFEE (processing) -3.20 group SB260304 to create" in shown.output
    assert "funds transfer MAIN -> OPER TranNum - 86.80 ref " + PO + " to create" in shown.output
    assert epicor.rows == [] and epicor.groups == {}
    posted = CliRunner().invoke(payouts_cli.main, ["post", PO])
    assert posted.exit_code == 0, posted.output
    assert "Epicor: posted (bank shape)" in posted.output and len(epicor.transfers(PO)) == 1
    again = CliRunner().invoke(payouts_cli.main, ["post", PO, "--dry-run"])
    assert again.output.count("already there") == 2


def test_the_console_lists_each_posted_document_with_its_number():
    from app.console.views.payouts import posting_view

    view = posting_view({"status": "posted", "shape": "bank", "at": ARRIVAL, "documents": [
        {"kind": "bank_adjustment", "category": "processing", "BankFeeID": "STRFEE", "BankAcctID": "MAIN",
         "GroupID": "SB260304", "TranNum": 7, "amount": "-41.27", "created": True},
        {"kind": "funds_transfer", "TranRef": PO, "from": "MAIN", "to": "OPER", "TranNum": 8, "amount": "1958.73"}]})
    assert view["words"] == "posted in Epicor" and view["at"] == "2026-03-04T00:00:00+00:00"
    assert [(d["kind"], d["number"], d["where"]) for d in view["documents"]] == [
        ("Bank adjustment", 7, "MAIN group SB260304"), ("Funds transfer", 8, "MAIN → OPER")]
    assert posting_view(None) is None
