"""The tables and entity sets the emulator serves, with a curated column list per table.

Names and JSON types follow Epicor's REST swagger (``reference/epicor-schema/fields-by-table.json``);
each table carries a few dozen of its real columns, every one the contract mentions among them, so a
misspelt field is caught as Epicor catches it. Column types: ``str``, ``int``, ``dec`` (JSON number),
``bool`` and ``date`` (ISO string without offset, or null).

Policy for server-owned columns (``COMPUTED``): a body may carry them (they must still have the right
JSON type) but the server ignores the sent value and writes its own, as Epicor's UpdateExt does for
totals and balances. Key columns the server assigns (CustNum, OrderNum, InvoiceNum, HeadNum, line
numbers) are taken from the body when non-zero and assigned when 0 or absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .payout_columns import PAYOUT_COLUMNS


def _columns(*specs: str) -> dict[str, str]:
    """``"Name:type"`` strings to an ordered ``{name: type}`` map."""
    return dict(spec.split(":", 1) for spec in specs)


# The user-defined (UD) columns of the contract's reference site (§8, epicor-schema/ud-fields.json): in
# REST they are ordinary columns of their entity set; any other ``_c`` name is refused as unknown.
UD_COLUMNS: dict[str, tuple[str, ...]] = {
    "Customer": ("StripeCustomerID_c:str",),
    "OrderHed": ("StripePaymentID_c:str", "StripeCheckoutID_c:str", "StripeReceiptURL_c:str"),
    "InvcHead": ("StripeChargeID_c:str",),
    "CashHead": ("StripePayoutID_c:str",),
}

COLUMNS: dict[str, dict[str, str]] = {
    "Customer": _columns(
        "Company:str", "CustID:str", "CustNum:int", "Name:str", "Address1:str", "Address2:str",
        "Address3:str", "City:str", "State:str", "Zip:str", "Country:str", "CountryNum:int",
        "ResaleID:str", "SalesRepCode:str", "TerritoryID:str", "ShipToNum:str", "TermsCode:str",
        "ShipViaCode:str", "PrintStatements:bool", "CreditHold:bool", "GroupCode:str",
        "DiscountPercent:dec", "PrimPCon:int", "PrimBCon:int", "PrimSCon:int", "Comment:str",
        "EstDate:date", "FaxNum:str", "PhoneNum:str", "TaxExempt:str", "CurrencyCode:str",
        "LangNameID:str", "BTName:str", "BTAddress1:str", "BTAddress2:str", "BTAddress3:str",
        "BTCity:str", "BTState:str", "BTZip:str", "BTCountry:str", "BTPhoneNum:str",
        "TaxRegionCode:str", "EMailAddress:str", "WebCustomer:bool", "CustomerType:str",
        "CustURL:str", "ExternalID:str", "CreditLimit:dec", "Inactive:bool",
        "ExternalCRMCustomerID:str", "OrgRegCode:str", "SysRevID:int", "SysRowID:str",
        "BitFlag:int", "RowMod:str",
    ),
    "OrderHed": _columns(
        "Company:str", "OrderNum:int", "CustNum:int", "OpenOrder:bool", "VoidOrder:bool",
        "PONum:str", "OrderHeld:bool", "EntryPerson:str", "ShipToNum:str", "RequestDate:date",
        "OrderDate:date", "FOB:str", "ShipViaCode:str", "TermsCode:str", "DiscountPercent:dec",
        "OrderComment:str", "ShipComment:str", "InvoiceComment:str", "PickListComment:str",
        "DepositBal:dec", "DocDepositBal:dec", "NeedByDate:date", "CreditOverride:bool",
        "ExchangeRate:dec", "CurrencyCode:str", "LockRate:bool", "WebOrder:bool",
        "WebEntryPerson:str", "CCApprovalNum:str", "BTCustNum:int", "ShipToCustNum:int",
        "IntExternalKey:str", "ECCOrderNum:str", "OrderAmt:dec", "DocOrderAmt:dec",
        "TotalCharges:dec", "DocTotalCharges:dec", "TotalLines:int", "ReadyToCalc:bool",
        "OrderStatus:str", "Plant:str", "CustomerCustID:str", "SysRevID:int", "SysRowID:str",
        "BitFlag:int", "RowMod:str",
    ),
    "OrderDtl": _columns(
        "Company:str", "OrderNum:int", "OrderLine:int", "VoidLine:bool", "OpenLine:bool",
        "LineType:str", "PartNum:str", "PartExists:bool", "LineDesc:str", "Reference:str",
        "IUM:str", "RevisionNum:str", "POLine:str", "DiscountPercent:dec", "UnitPrice:dec",
        "DocUnitPrice:dec", "OrderQty:dec", "Discount:dec", "DocDiscount:dec", "RequestDate:date",
        "ProdCode:str", "XPartNum:str", "PricePerCode:str", "OrderComment:str",
        "InvoiceComment:str", "TaxCatID:str", "NeedByDate:date", "CustNum:int", "SalesUM:str",
        "SellingFactor:dec", "SellingQuantity:dec", "LockPrice:bool", "ListPrice:dec",
        "DocListPrice:dec", "OverridePriceList:bool", "ExtPriceDtl:dec", "DocExtPriceDtl:dec",
        "TotalReleases:int", "KitFlag:str", "SysRevID:int", "SysRowID:str", "BitFlag:int",
        "RowMod:str",
    ),
    "Part": _columns(
        "Company:str", "PartNum:str", "SearchWord:str", "PartDescription:str", "ClassID:str",
        "IUM:str", "PUM:str", "TypeCode:str", "NonStock:bool", "UnitPrice:dec", "PricePerCode:str",
        "InternalUnitPrice:dec", "ProdCode:str", "TaxCatID:str", "InActive:bool", "TrackLots:bool",
        "TrackSerialNum:bool", "PhantomBOM:bool", "SalesUM:str", "SellingFactor:dec",
        "NetWeight:dec", "OnHold:bool", "WebPart:bool", "UOMClassID:str", "SysRevID:int",
        "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "InvcHead": _columns(
        "Company:str", "InvoiceNum:int", "GroupID:str", "InvoiceType:str", "OpenInvoice:bool",
        "ClosedDate:date", "CreditMemo:bool", "UnappliedCash:bool", "CheckRef:str", "Posted:bool",
        "OrderNum:int", "CustNum:int", "PONum:str", "EntryPerson:str", "FOB:str", "TermsCode:str",
        "InvoiceDate:date", "DueDate:date", "ApplyDate:date", "FiscalYear:int", "FiscalPeriod:int",
        "GLPosted:bool", "InvoiceComment:str", "Description:str", "InvoiceAmt:dec",
        "DocInvoiceAmt:dec", "InvoiceBal:dec", "DocInvoiceBal:dec", "UnpostedBal:dec",
        "DocUnpostedBal:dec", "InvoiceRef:int", "InvoiceHeld:bool", "CurrencyCode:str",
        "ExchangeRate:dec", "LockRate:bool", "LegalNumber:str", "ExternalID:str",
        "XRefInvoiceNum:str", "DebitNote:bool", "SoldToCustNum:int", "CMType:str", "CMReason:str",
        "ReadyToCalc:bool", "Plant:str", "SysRevID:int", "SysRowID:str", "BitFlag:int",
        "RowMod:str",
    ),
    "InvcDtl": _columns(
        "Company:str", "InvoiceNum:int", "InvoiceLine:int", "LineType:str", "XPartNum:str",
        "PartNum:str", "LineDesc:str", "IUM:str", "RevisionNum:str", "POLine:str", "TaxCatID:str",
        "DiscountPercent:dec", "UnitPrice:dec", "DocUnitPrice:dec", "PricePerCode:str",
        "ExtPrice:dec", "DocExtPrice:dec", "Discount:dec", "DocDiscount:dec", "ProdCode:str",
        "OurShipQty:dec", "PackNum:int", "PackLine:int", "OrderNum:int", "OrderLine:int",
        "OrderRelNum:int", "ShipToCustNum:int", "ShipDate:date", "CustNum:int",
        "InvoiceComment:str", "SellingShipQty:dec", "SalesUM:str", "SellingFactor:dec",
        "SysRevID:int", "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "InvcGrp": _columns(
        "Company:str", "GroupID:str", "InvoiceDate:date", "CreatedBy:str", "FiscalYear:int",
        "FiscalPeriod:int", "ActiveUserID:str", "PostErrorLog:str", "PostInProcess:bool",
        "ApplyDate:date", "TotalInvAmt:dec", "SysRevID:int", "SysRowID:str", "BitFlag:int",
        "RowMod:str",
    ),
    "CashGrp": _columns(
        "Company:str", "GroupID:str", "TranDate:date", "CreatedBy:str", "FiscalYear:int",
        "FiscalPeriod:int", "ActiveUserID:str", "BankAcctID:str", "PostErrorLog:str",
        "TotalApplied:dec", "TotalCashReceived:dec", "TotalDiscount:dec", "TotalMisc:dec",
        "UnappliedBalance:dec", "SysRevID:int", "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "CashHead": _columns(
        "Company:str", "GroupID:str", "HeadNum:int", "Posted:bool", "TranType:str", "CheckRef:str",
        "OrderNum:int", "InvoiceNum:int", "TranAmt:dec", "DocTranAmt:dec", "CustID:str",
        "TranDate:date", "CustNum:int", "UnAppliedAmt:dec", "DocUnAppliedAmt:dec",
        "AppliedAmt:dec", "DocAppliedAmt:dec", "FiscalYear:int", "FiscalPeriod:int",
        "Reference:str", "GLPosted:bool", "CreditMemoNum:int", "CurrencyCode:str",
        "ExchangeRate:dec", "ExternalID:str", "ReceiptCurrencyCode:str", "ReceiptAmt:dec",
        "BankAcctID:str", "BankAmount:dec", "Comment:str", "OnAccount:bool", "SysRevID:int",
        "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "CashDtl": _columns(
        "Company:str", "GroupID:str", "HeadNum:int", "InvoiceNum:int", "InvoiceRef:int",
        "TranType:str", "Posted:bool", "FiscalYear:int", "FiscalPeriod:int", "TranDate:date",
        "CheckRef:str", "TranAmt:dec", "DocTranAmt:dec", "CustNum:int", "Discount:dec",
        "DocDiscount:dec", "Comment:str", "Reference:str", "ExchangeRate:dec", "InvoiceAmt:dec",
        "InvoiceBal:dec", "DocInvoiceBal:dec", "NewBalance:dec", "DocNewBalance:dec",
        "FullyPaid:bool", "OrderNum:int", "InvDueDate:date", "SysRevID:int", "SysRowID:str",
        "BitFlag:int", "RowMod:str",
    ),
    "Reason": _columns(
        "Company:str", "ReasonType:str", "ReasonCode:str", "Description:str", "Scrap:bool",
        "QACause:bool", "GlobalReason:bool", "GlobalLock:bool", "SysRevID:int", "SysRowID:str",
        "BitFlag:int", "RowMod:str",
    ),
    # Set-up sets (contract §4, §8): read only; the company row's id is ``Company1``, it has no ``Company``.
    "Company": _columns(
        "Company1:str", "Name:str", "BaseCurrCode:str", "FiscalCalendarID:str", "Country:str",
        "CurrentFiscalYear:int", "SysRevID:int", "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "Currency": _columns(
        "Company:str", "CurrencyCode:str", "CurrDesc:str", "CurrSymbol:str", "CurrName:str",
        "CurrencyID:str", "DecimalsGeneral:int", "BaseCurr:bool", "Inactive:bool", "SysRevID:int",
        "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "Terms": _columns(
        "Company:str", "TermsCode:str", "Description:str", "NumberOfDays:int", "TermsType:str",
        "SysRevID:int", "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
    "BankAcct": _columns(
        "Company:str", "BankAcctID:str", "Description:str", "CurrencyCode:str", "Closed:bool",
        "BankName:str", "SysRevID:int", "SysRowID:str", "BitFlag:int", "RowMod:str",
    ),
}

for _table, _ud in UD_COLUMNS.items():
    COLUMNS[_table] |= _columns(*_ud)

# The payout tables of contract §4b carry every column of the reference schema (payout_columns.py).
for _table, _specs in PAYOUT_COLUMNS.items():
    COLUMNS[_table] = _columns(*_specs)

_SYSTEM = ("SysRevID", "SysRowID", "BitFlag", "RowMod")

COMPUTED: dict[str, frozenset[str]] = {
    table: frozenset(_SYSTEM + extra) for table, extra in {
        "Customer": (),
        "OrderHed": ("OrderAmt", "DocOrderAmt", "TotalLines", "CustomerCustID"),
        "OrderDtl": ("PartExists", "UnitPrice", "ExtPriceDtl", "DocExtPriceDtl", "CustNum",
                     "TotalReleases"),
        "Part": (),
        "InvcHead": ("InvoiceAmt", "DocInvoiceAmt", "InvoiceBal", "DocInvoiceBal", "UnpostedBal",
                     "DocUnpostedBal", "Posted", "GLPosted", "FiscalYear", "FiscalPeriod",
                     "SoldToCustNum"),
        "InvcDtl": ("UnitPrice", "ExtPrice", "DocExtPrice", "CustNum", "ShipToCustNum"),
        "InvcGrp": ("CreatedBy", "FiscalYear", "FiscalPeriod", "TotalInvAmt"),
        "CashGrp": ("CreatedBy", "FiscalYear", "FiscalPeriod", "TotalApplied", "TotalCashReceived",
                    "UnappliedBalance"),
        "CashHead": ("TranAmt", "CustID", "UnAppliedAmt", "DocUnAppliedAmt", "AppliedAmt",
                     "DocAppliedAmt", "FiscalYear", "FiscalPeriod", "Posted", "GLPosted",
                     "CreditMemoNum", "ReceiptCurrencyCode", "ReceiptAmt", "BankAmount"),
        "CashDtl": ("TranType", "Posted", "FiscalYear", "FiscalPeriod", "TranDate", "TranAmt",
                    "CustNum", "InvoiceAmt", "InvoiceBal", "DocInvoiceBal", "NewBalance",
                    "DocNewBalance", "FullyPaid", "OrderNum", "InvDueDate"),
        "Reason": (),
        "Company": (), "Currency": (), "Terms": (), "BankAcct": (),
        # Payout tables (contract §5b): what the server fills whatever is sent. Fiscal fields, TranAmt,
        # TransAmt and GLPosted are not here: a value sent for them must agree, so the rules see them.
        "BankGrp": ("CreatedBy", "ActiveUserID", "BankAcctIDDescription", "BankAcctIDBankName",
                    "BankCurrencyDesc"),
        "BankTran": ("SourceModule", "EntryPerson", "EntryDate", "EntryTime", "JournalCode",
                     "JournalNum", "HeadNum", "BankFeeIDDescription"),
        "GLJrnGrp": ("CreatedBy", "ActiveUserID", "Posted"),
        "GLJrnHed": ("TotDebit", "TotCredit", "Balance", "Posted", "PostedDate", "EnteredBy",
                     "CreateDate"),
        "GLJrnDtlMnl": ("Posted", "PostedDate", "PostedBy"),
        **{table: () for table in ("BankFundsTransfer", "BankFee", "GLJrnDtl", "JrnlCode", "GLBook",
                                   "COA", "GLAccount", "FiscalPer", "GLBookPer", "BankAdjPostParam",
                                   "BankFundPostParam")},
    }.items()
}

# Caller-sent amounts held to the document currency's decimal places (contract §5).
MONEY: dict[str, tuple[str, ...]] = {
    "Customer": ("CreditLimit",),
    "OrderDtl": ("DocUnitPrice", "DocDiscount", "DocListPrice"),
    "InvcDtl": ("DocUnitPrice", "DocDiscount"),
    "CashHead": ("DocTranAmt",),
    "CashDtl": ("DocTranAmt", "DocDiscount"),
}


# The key of a GL journal header (GLJournalEntries); its lines add JournalLine before FiscalCalendarID.
JOURNAL_KEYS = ("Company", "BookID", "FiscalYear", "FiscalYearSuffix", "JournalCode", "JournalNum",
                "FiscalCalendarID")


@dataclass(frozen=True)
class EntitySet:
    """One OData entity set: where it lives, which table backs it, and its key columns."""

    name: str
    service: str
    table: str
    keys: tuple[str, ...]
    read_only: bool = False
    children: tuple[str, ...] = ()

    @property
    def row_type(self) -> str:
        """Epicor's CLR type name for the set's rows, as used in its error messages."""
        return f"Erp.Tablesets.{self.table}Row"


ENTITY_SETS: dict[str, EntitySet] = {es.name: es for es in (
    EntitySet("Customers", "Erp.BO.CustomerSvc", "Customer", ("Company", "CustNum")),
    EntitySet("Parts", "Erp.BO.PartSvc", "Part", ("Company", "PartNum"), read_only=True),
    EntitySet("SalesOrders", "Erp.BO.SalesOrderSvc", "OrderHed", ("Company", "OrderNum"),
              children=("OrderDtls",)),
    EntitySet("OrderDtls", "Erp.BO.SalesOrderSvc", "OrderDtl",
              ("Company", "OrderNum", "OrderLine")),
    EntitySet("InvcGrps", "Erp.BO.InvcGrpSvc", "InvcGrp", ("Company", "GroupID")),
    EntitySet("ARInvoices", "Erp.BO.ARInvoiceSvc", "InvcHead", ("Company", "InvoiceNum"),
              children=("InvcDtls",)),
    EntitySet("InvcDtls", "Erp.BO.ARInvoiceSvc", "InvcDtl",
              ("Company", "InvoiceNum", "InvoiceLine")),
    EntitySet("CashGrps", "Erp.BO.CashGrpSvc", "CashGrp", ("Company", "GroupID")),
    EntitySet("CashRecs", "Erp.BO.CashRecSvc", "CashHead", ("Company", "GroupID", "HeadNum"),
              children=("CashDtls",)),
    EntitySet("CashDtls", "Erp.BO.CashRecSvc", "CashDtl",
              ("Company", "GroupID", "HeadNum", "InvoiceNum", "InvoiceRef")),
    EntitySet("Reasons", "Erp.BO.ReasonSvc", "Reason", ("Company", "ReasonType", "ReasonCode"),
              read_only=True),
    EntitySet("Companies", "Erp.BO.CompanySvc", "Company", ("Company1",), read_only=True),
    EntitySet("Currencies", "Erp.BO.CurrencySvc", "Currency", ("Company", "CurrencyCode"), read_only=True),
    EntitySet("Terms", "Erp.BO.TermsSvc", "Terms", ("Company", "TermsCode"), read_only=True),
    EntitySet("BankAccts", "Erp.BO.BankAcctSvc", "BankAcct", ("Company", "BankAcctID"), read_only=True),
    # Payouts (contract §4b): bank adjustments and the bank register, GL journals, their reference data.
    EntitySet("BankFees", "Erp.BO.BankFeeSvc", "BankFee", ("Company", "BankFeeID"), read_only=True),
    EntitySet("BankAdjEntries", "Erp.BO.BankAdjEntrySvc", "BankGrp", ("Company", "GroupID"),
              children=("BankTrans",)),
    EntitySet("BankTrans", "Erp.BO.BankAdjEntrySvc", "BankTran",
              ("Company", "BankAcctID", "TranNum", "Voided")),
    EntitySet("GLJrnGrps", "Erp.BO.GLJrnGrpSvc", "GLJrnGrp", ("Company", "GroupID")),
    EntitySet("GLJournalEntries", "Erp.BO.GLJournalEntrySvc", "GLJrnHed", JOURNAL_KEYS,
              children=("GLJrnDtlMnls",)),
    EntitySet("GLJrnDtlMnls", "Erp.BO.GLJournalEntrySvc", "GLJrnDtlMnl",
              (*JOURNAL_KEYS[:-1], "JournalLine", "FiscalCalendarID")),
    EntitySet("GLJrnDtls", "Erp.BO.GLJrnDtlSvc", "GLJrnDtl", (*JOURNAL_KEYS[:-1], "JournalLine"),
              read_only=True),
    EntitySet("GLBooks", "Erp.BO.GLBookSvc", "GLBook", ("Company", "BookID"), read_only=True),
    EntitySet("COAs", "Erp.BO.COASvc", "COA", ("Company", "COACode"), read_only=True),
    EntitySet("GLAccounts", "Erp.BO.GLAccountSvc", "GLAccount", ("Company", "COACode", "GLAccount1"),
              read_only=True),
    EntitySet("FiscalPers", "Erp.BO.FiscalCalSvc", "FiscalPer",
              ("Company", "FiscalCalendarID", "FiscalYear", "FiscalYearSuffix", "FiscalPeriod"),
              read_only=True),
    EntitySet("GLBookPerSearches", "Erp.BO.GLBookPerSearchSvc", "GLBookPer",
              ("Company", "BookID", "FiscalCalendarID", "FiscalYear", "FiscalYearSuffix", "FiscalPeriod"),
              read_only=True),
    EntitySet("JrnlCodes", "Erp.BO.JrnlCodeSvc", "JrnlCode", ("Company", "JournalCode"), read_only=True),
)}

DUMP_ORDER = ("Customers", "SalesOrders", "OrderDtls", "ARInvoices", "InvcDtls", "CashRecs",
              "CashDtls", "InvcGrps", "CashGrps", "Parts", "Reasons")


def find_entity_set(service: str, name: str) -> EntitySet | None:
    """The set ``name`` of ``service``; the service matches case-insensitively, the set exactly."""
    entity_set = ENTITY_SETS.get(name)
    if entity_set is None or entity_set.service.lower() != service.lower():
        return None
    return entity_set


def is_known_service(service: str) -> bool:
    """Whether any entity set lives in ``service`` (case-insensitive)."""
    return any(es.service.lower() == service.lower() for es in ENTITY_SETS.values())


def key_of(entity_set: EntitySet, row: dict) -> tuple:
    """The row's key tuple, Company first."""
    return tuple(row[name] for name in entity_set.keys)


_DEFAULTS = {"str": "", "int": 0, "dec": 0.0, "bool": False, "date": None}


def blank_row(table: str, company: str) -> dict:
    """A row of ``table`` with every column at Epicor's empty value."""
    row = {name: _DEFAULTS[kind] for name, kind in COLUMNS[table].items()}
    row["Company"] = company
    return row
