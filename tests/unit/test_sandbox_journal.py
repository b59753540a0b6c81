"""The Epicor emulator's GL journals of the journal shape (contract §4b, §5b, §6b): groups, headers, manual
lines, numbering, the read by Description and posting with PostGroupJournals, each rule refused in
Epicor's error shape (§3)."""

from __future__ import annotations

import pytest
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint
from tests.unit.test_sandbox_bank import API, BL, HEADERS, V2, assert_error, created, get, post

GRP = "Erp.BO.GLJrnGrpSvc"
JE = "Erp.BO.GLJournalEntrySvc"
PAYOUT = "po_1Q2w3E4r5T6y7U8i9O0pAbCd"
DAY = "2026-03-04T00:00:00"
KEY = {"BookID": "MAIN", "FiscalYear": 2026, "FiscalYearSuffix": "", "JournalCode": "STRP",
       "FiscalCalendarID": "MAIN"}


@pytest.fixture
def client():
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(EpicorState(":memory:")))
    return app.test_client()


def group(client, group_id="SJ260304", **fields):
    body = {"Company": "EPIC06", "GroupID": group_id, "JEDate": DAY, "JournalCode": "STRP", **fields}
    return post(client, f"{GRP}/GLJrnGrps", body)


def header(client, **fields):
    body = {"Company": "EPIC06", "GroupID": "SJ260304", **KEY, "JournalNum": 0, "JEDate": DAY,
            "CurrencyCode": "USD", "Description": PAYOUT, "CommentText": f"Stripe payout {PAYOUT}",
            "ExtSysURL": f"https://dashboard.stripe.com/payouts/{PAYOUT}", **fields}
    return post(client, f"{JE}/GLJournalEntries", body)


def line(client, account="1010|00|00", journal=1, **fields):
    segments = account.split("|")
    body = {"Company": "EPIC06", **KEY, "JournalNum": journal, "JournalLine": 0, "Description": PAYOUT,
            "GLAccount": account, **{f"SegValue{i}": value for i, value in enumerate(segments, 1)}, **fields}
    return post(client, f"{JE}/GLJrnDtlMnls", body)


def journal_url(number=1):
    return f"{JE}/GLJournalEntries('EPIC06','MAIN',2026,'',STRP,{number},'MAIN')".replace(",STRP,", ",'STRP',")


def payout_journal(client):
    created(group(client))
    created(header(client))
    created(line(client, "1010|00|00", TotDebit=1958.73))
    created(line(client, "6150|00|00", TotDebit=41.27))
    created(line(client, "1015|00|00", TotCredit=2000))


def test_journal_reference_sets(client):
    rows = get(client, "Erp.BO.JrnlCodeSvc/JrnlCodes").get_json()["value"]
    codes = {row["JournalCode"]: row["SystemJournal"] for row in rows}
    assert codes == {"STRP": False, "GJ": False, "CR": True, "BK": True}
    book = get(client, "Erp.BO.GLBookSvc/GLBooks('EPIC06','MAIN')").get_json()
    assert (book["MainBook"], book["COACode"], book["CurrencyCode"], book["FiscalCalendarID"]) \
        == (True, "MAIN", "USD", "MAIN")
    assert get(client, "Erp.BO.COASvc/COAs('EPIC06','MAIN')").get_json()["SeparatorChar"] == "-"
    account = get(client, "Erp.BO.GLAccountSvc/GLAccounts('EPIC06','MAIN','1015%7C00%7C00')").get_json()
    assert (account["SegValue1"], account["Active"], account["GLAcctDispGLAcctDisp"]) == ("1015", True, "1015-00-00")
    periods = get(client, "Erp.BO.FiscalCalSvc/FiscalPers?$filter=FiscalYear eq 2024&$select=FiscalPeriod,EndDate")
    assert len(periods.get_json()["value"]) == 12
    assert periods.get_json()["value"][1]["EndDate"] == "2024-02-29T00:00:00"


def test_group_defaults_and_derived_fields(client):
    row = created(group(client))
    assert (row["BookID"], row["BookMode"], row["COACode"], row["CurrencyCode"]) == ("MAIN", "S", "MAIN", "USD")
    assert (row["FiscalYear"], row["FiscalPeriod"], row["FiscalYearSuffix"], row["FiscalCalendarID"]) \
        == (2026, 3, "", "MAIN")
    assert_error(group(client), 409, "Ice.Common.DuplicateRecordException")


@pytest.mark.parametrize(("fields", "field"), [
    ({"GroupID": "SJ2603041"}, "GroupID"),
    ({"JEDate": None}, "JEDate"),
    ({"JEDate": "2021-06-10T00:00:00"}, "JEDate"),
    ({"JournalCode": ""}, "JournalCode"),
    ({"JournalCode": "NOPE"}, "JournalCode"),
    ({"JournalCode": "BK"}, "JournalCode"),
    ({"JournalCode": "CR"}, "JournalCode"),
    ({"BookID": "OTHER"}, "BookID"),
    ({"BookMode": "B"}, "BookMode"),
    ({"FiscalPeriod": 4}, "FiscalPeriod"),
    ({"CurrencyCode": "EUR"}, "CurrencyCode"),
    ({"COACode": "X"}, "COACode"),
])
def test_group_rules(client, fields, field):
    assert_error(group(client, **fields), 400, field=field)


def test_group_with_journals_keeps_its_book_code_and_period(client):
    created(group(client))
    url = f"{V2}/{GRP}/GLJrnGrps('EPIC06','SJ260304')"
    assert client.patch(url, headers=HEADERS, json={"JEDate": "2026-04-02T00:00:00"}).status_code == 204
    assert client.patch(url, headers=HEADERS, json={"JEDate": DAY}).status_code == 204
    created(header(client))
    assert_error(client.patch(url, headers=HEADERS, json={"JEDate": "2026-04-02T00:00:00"}), 400, field="JEDate")
    assert_error(client.patch(url, headers=HEADERS, json={"JournalCode": "GJ"}), 400, field="JournalCode")
    assert client.patch(url, headers=HEADERS, json={"JEDate": "2026-03-20T00:00:00"}).status_code == 204


def test_header_numbering_and_defaults(client):
    created(group(client))
    first = created(header(client))
    assert (first["JournalNum"], first["TotDebit"], first["TotCredit"], first["Balance"]) == (1, 0, 0, 0)
    bare = {"Company": "EPIC06", "GroupID": "SJ260304", "Description": PAYOUT, "TotDebit": 5}
    second = created(post(client, f"{JE}/GLJournalEntries", bare))    # book, code, fiscal fields, date: the group's
    assert (second["JournalNum"], second["JEDate"], second["CurrencyCode"], second["TotDebit"]) == (2, DAY, "USD", 0)
    assert created(header(client, CurrencyCode="JPY"))["JournalNum"] == 3
    created(group(client, "SJ260305", JournalCode="GJ"))
    assert created(header(client, GroupID="SJ260305", JournalCode="GJ"))["JournalNum"] == 1
    assert get(client, journal_url(2)).status_code == 200


@pytest.mark.parametrize(("fields", "field"), [
    ({"GroupID": "SJ990101"}, "GroupID"),
    ({"JournalCode": "GJ"}, "JournalCode"),
    ({"FiscalYear": 2025}, "FiscalYear"),
    ({"FiscalCalendarID": "OTHER"}, "FiscalCalendarID"),
    ({"JEDate": "2026-04-01T00:00:00"}, "JEDate"),
    ({"CurrencyCode": "XXX"}, "CurrencyCode"),
    ({"Description": "po_" + "x" * 28}, "Description"),
])
def test_header_rules(client, fields, field):
    created(group(client))
    assert_error(header(client, **fields), 400, field=field)


def test_lines_number_and_total_the_header(client):
    payout_journal(client)
    got = get(client, journal_url()).get_json()
    assert (got["TotDebit"], got["TotCredit"], got["Balance"]) == (2000, 2000, 0)
    lines = get(client, f"{journal_url()}/GLJrnDtlMnls").get_json()["value"]
    assert [(row["JournalLine"], row["TransAmt"], row["GroupID"], row["COACode"], row["CurrencyCode"])
            for row in lines] == [(1, 1958.73, "SJ260304", "MAIN", "USD"), (2, 41.27, "SJ260304", "MAIN", "USD"),
                                  (3, -2000, "SJ260304", "MAIN", "USD")]
    found = get(client, f"{JE}/GLJournalEntries?$filter=Description eq '{PAYOUT}'&$select=GroupID,JournalNum,"
                        "TotDebit,TotCredit").get_json()["value"]
    assert found == [{"GroupID": "SJ260304", "JournalNum": 1, "TotDebit": 2000, "TotCredit": 2000}]
    by_line = get(client, f"{JE}/GLJrnDtlMnls?$filter=Description eq '{PAYOUT}' and GLAccount eq '6150%7C00%7C00'")
    assert len(by_line.get_json()["value"]) == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"GLAccount": ""}, "GLAccount"),
    ({"GLAccount": "1015-00-00"}, "GLAccount"),       # display form
    ({"GLAccount": "9999|00|00"}, "GLAccount"),
    ({"GLAccount": "6190|00|00"}, "GLAccount"),       # inactive
    ({"GLAccount": "6191|00|00"}, "GLAccount"),       # effective in 2020 only
    ({"SegValue1": "1015"}, "SegValue1"),
    ({"SegValue4": "01"}, "SegValue4"),
    ({"TotDebit": 0}, "TotDebit"),
    ({"TotDebit": 5, "TotCredit": 5}, "TotDebit"),
    ({"TotDebit": -5}, "TotDebit"),
    ({"TotDebit": 5.001}, "TotDebit"),
    ({"TotDebit": 5, "TransAmt": 4}, "TransAmt"),
    ({"TotDebit": 5, "CurrencyCode": "EUR"}, "CurrencyCode"),
    ({"TotDebit": 5, "FiscalPeriod": 4}, "FiscalPeriod"),
    ({"TotDebit": 5, "COACode": "X"}, "COACode"),
    ({"TotDebit": 5, "GroupID": "SJ260305"}, "GroupID"),
    ({"TotDebit": 5, "JournalNum": 9}, "JournalNum"),
    ({"TotDebit": 5, "Description": "po_" + "x" * 28}, "Description"),
])
def test_line_rules(client, fields, field):
    created(group(client))
    created(header(client))
    body = fields if "TotDebit" in fields or "TotCredit" in fields else {"TotDebit": 1, **fields}
    error = assert_error(line(client, **body), 400, field=field)
    if fields.get("GLAccount") == "":
        assert error["ErrorMessage"] == "G/L Account is required."


def test_yen_lines_take_no_decimals_and_a_line_sent_with_its_number_is_kept(client):
    created(group(client))
    created(header(client, CurrencyCode="JPY"))
    assert_error(line(client, TotDebit=10.5), 400, field="TotDebit")
    assert created(line(client, TotDebit=195873, JournalLine=5))["JournalLine"] == 5
    assert_error(line(client, TotDebit=1, JournalLine=5), 409, "Ice.Common.DuplicateRecordException")
    assert created(line(client, TotCredit=195873))["JournalLine"] == 6


def test_posting_moves_lines_to_posted_detail_and_frees_the_group(client):
    payout_journal(client)
    response = post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ260304"})
    assert response.status_code == 200 and response.get_json() == {"parameters": {"NotAllPostedMessage": ""}}
    posted = get(client, f"Erp.BO.GLJrnDtlSvc/GLJrnDtls?$filter=Description eq '{PAYOUT}'").get_json()["value"]
    assert [(row["JournalLine"], row["Posted"], row["GLAccount"]) for row in posted] == [
        (1, True, "1010|00|00"), (2, True, "6150|00|00"), (3, True, "1015|00|00")]
    assert get(client, journal_url()).status_code == 404
    assert get(client, f"{GRP}/GLJrnGrps('EPIC06','SJ260304')").status_code == 404
    assert get(client, f"{JE}/GLJrnDtlMnls?$filter=Description eq '{PAYOUT}'").get_json()["value"] == []
    assert_error(post(client, "Erp.BO.GLJrnDtlSvc/GLJrnDtls", {"Description": "x"}), 405, API)
    created(group(client))                                    # the group id may be used again
    assert created(header(client))["JournalNum"] == 2         # posted journals keep their numbers


def test_posting_refuses_an_unbalanced_or_short_journal_and_posts_nothing(client):
    created(group(client))
    created(header(client))
    created(line(client, TotDebit=10))
    body = assert_error(post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ260304"}), 400, BL)
    assert "STRP 1" in body["ErrorMessage"]
    created(line(client, "1015|00|00", TotCredit=9))
    assert_error(post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ260304"}), 400, BL)
    assert len(get(client, f"{journal_url()}/GLJrnDtlMnls").get_json()["value"]) == 2
    assert client.patch(f"{V2}/{journal_url()}", headers=HEADERS, json={"Override": True}).status_code == 204
    assert post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ260304"}).status_code == 200


def test_posting_an_unknown_or_empty_group_is_400(client):
    assert_error(post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ990101"}), 400, BL)
    created(group(client))
    assert_error(post(client, f"{GRP}/PostGroupJournals", {"postGroupID": "SJ260304"}), 400, BL)
    assert_error(post(client, f"{GRP}/PostGroupJournals", {"groupID": "SJ260304"}), 400, API)
