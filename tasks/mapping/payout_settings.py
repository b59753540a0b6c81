"""``mappings/payouts.yaml``: how a payout is posted into Epicor (banks, fee ids, shape, journal accounts).

Policy: the file is checked when the worker starts (``tasks.preflight``) and every problem is named
with the key and what would be right, so a person can fix it; ``celery -A tasks doctor`` then checks
that the banks, fee ids and accounts exist in Epicor. A site whose mapping directory has no
``payouts.yaml`` posts no payout (reports only) and books every receipt to defaults.yaml's
``bank_account``, exactly as before the file existed.

The clearing bank of a currency is the bank its cash receipts go to (the mapping files read it
through the ``clearing_bank`` transform), so a payout's fee adjustments and transfer come out of the
bank its receipts went into, and that bank nets to zero over the payout. A day's cash receipt group
holds one bank too (Epicor's group carries the bank its receipts default to), so a currency with a
clearing bank of its own names its own ``cash_group_prefix`` (the ``currency_cash_group`` transform)
as it names its own adjustment ``group_prefix``; the file is refused when two clearing banks would
share a group, defaults.yaml's ``cash_group_prefix`` included when the caller knows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import MappingError
from tasks.mapping import tables

FILE = "payouts.yaml"
FEE_CATEGORIES = ("processing", "dispute", "currency_conversion", "other")
SHAPES = ("bank", "journal")
JOURNAL_ACCOUNTS = ("operating_cash", "clearing", *FEE_CATEGORIES)
_CODE = re.compile(r"^\S{1,10}$")
_FEE_ID = re.compile(r"^\S{1,10}$")
_PREFIX = re.compile(r"^[A-Z]{1,2}$")
_CURRENCY = re.compile(r"^[a-z]{3}$")
_ACCOUNT = re.compile(r"^[^\s|]{1,50}$")


@dataclass(frozen=True)
class BankPair:
    clearing: str
    operating: str
    group_prefix: str = ""  # this pair's adjustment group prefix; blank: adjustment_group_prefix
    cash_group_prefix: str = ""  # this pair's cash receipt group prefix; blank: defaults.yaml's


@dataclass(frozen=True)
class PayoutSettings:
    post_automatically: bool
    shape: str
    banks: Mapping[str, BankPair]  # "default" and lower-case Stripe currency codes
    fee_ids: Mapping[str, str]
    adjustment_group_prefix: str = "SB"
    journal_code: str = "STRP"
    journal_group_prefix: str = "SJ"
    journal_accounts: Mapping[str, str] = field(default_factory=dict)  # display form
    configured: bool = True

    def banks_for(self, currency: str) -> BankPair:
        return self.banks.get(currency.lower()) or self.banks["default"]

    def group_prefix_for(self, currency: str) -> str:
        """One adjustment group per bank and day: a clearing bank of its own needs a prefix of its own."""
        return self.banks_for(currency).group_prefix or self.adjustment_group_prefix

    def clearing_bank(self, currency: str | None) -> str:
        return self.banks_for(currency or "").clearing

    def cash_group_prefix_for(self, currency: str | None, fallback: str) -> str:
        """One cash group per bank and day: the prefix of the currency's pair, else ``fallback``
        (defaults.yaml's ``cash_group_prefix``)."""
        return self.banks_for(currency or "").cash_group_prefix or fallback

    def all_banks(self) -> list[str]:
        return list(dict.fromkeys(bank for pair in self.banks.values() for bank in (pair.clearing, pair.operating)
                                  if bank))


def unconfigured(bank_account: str) -> PayoutSettings:
    """No payouts.yaml: nothing is posted, receipts go to defaults.yaml's bank as before."""
    return PayoutSettings(post_automatically=False, shape="bank", banks={"default": BankPair(bank_account, "")},
                          fee_ids={}, configured=False)


_cache: dict[tuple[str, Any, str, str], PayoutSettings] = {}


def mappings_dir() -> Path:
    """The worker's mapping directory (``MAPPINGS_DIR``, else the shipped one), as the settings read it."""
    from tasks.settings import REPO_ROOT, env_value

    return Path(env_value("MAPPINGS_DIR") or REPO_ROOT / "mappings")


def load_payout_settings(directory: str | Path, bank_account: str, cash_group_prefix: str = "") -> PayoutSettings:
    """The checked settings: the version published from the console's table editor when there is one,
    else ``directory``/payouts.yaml (each cached while unchanged). ``cash_group_prefix`` (defaults.yaml's,
    when the caller has it) is checked against the pairs' own."""
    published = tables.published_text(FILE)
    if published is not None:
        key: tuple[str, Any, str, str] = ("published", published, bank_account, cash_group_prefix)
        if key not in _cache:
            _cache[key] = parse(_text(published, f"{FILE} (published)"), bank_account, f"{FILE} (published)",
                                cash_group_prefix=cash_group_prefix)
        return _cache[key]
    path = Path(directory) / FILE
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        return unconfigured(bank_account)
    key = (str(path), stamp, bank_account, cash_group_prefix)
    if key not in _cache:
        _cache[key] = parse(_read(path), bank_account, str(path), cash_group_prefix=cash_group_prefix)
    return _cache[key]


def problems_of_text(text: str) -> list[str]:
    """Every problem of a payouts.yaml text, as the console's table editor shows them (none: valid)."""
    try:
        parse(_text(text, FILE), "MAIN", FILE)  # the clearing bank's fallback does not change what is valid
    except MappingError as refused:
        return [line.strip() for line in str(refused).splitlines() if line.strip()]
    return []


class _Loader(yaml.SafeLoader):
    """YAML without implicit dates: an account written ``1010-00-00`` stays text, quoted or not."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _read(path: Path) -> Any:
    return _text(path.read_text(encoding="utf-8"), str(path))


def _text(text: str, label: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise MappingError(f"{label}: not valid YAML ({exc})", reason="mapping.config") from None


tables.register_table(FILE, problems_of_text)  # the console edits and versions it like the other tables


def parse(raw: Any, bank_account: str, label: str = FILE, *, cash_group_prefix: str = "") -> PayoutSettings:
    """Every problem of the file at once, each naming its key; a MappingError when there is any.
    ``cash_group_prefix``: defaults.yaml's, which a pair without its own uses ("": not known here)."""
    problems: list[str] = []
    data = raw if isinstance(raw, dict) else {}
    if not isinstance(raw, dict):
        problems.append("must be a mapping of keys to values")
    unknown = sorted(set(data) - {"post_automatically", "shape", "banks", "fee_ids", "adjustment_group_prefix",
                                  "journal"})
    problems += [f"{name}: unknown key" for name in unknown]
    auto = data.get("post_automatically", False)
    if not isinstance(auto, bool):
        problems.append("post_automatically: must be true or false")
    shape = data.get("shape", "bank")
    if shape not in SHAPES:
        problems.append(f"shape: must be bank or journal, not {shape!r}")
    banks = _banks(data.get("banks"), bank_account, problems, cash_group_prefix)
    fee_ids = _fee_ids(data.get("fee_ids"), problems, required=shape != "journal")
    prefix = str(data.get("adjustment_group_prefix", "SB"))
    if not _PREFIX.match(prefix):
        problems.append("adjustment_group_prefix: must be 1 or 2 upper-case letters (group ids are prefix + YYMMDD)")
    journal = _journal(data.get("journal"), problems, required=shape == "journal")
    if problems:
        raise MappingError(f"{label}: " + "; ".join(problems), reason="mapping.config")
    return PayoutSettings(post_automatically=bool(auto), shape=str(shape), banks=banks, fee_ids=fee_ids,
                          adjustment_group_prefix=prefix, **journal)


def _banks(raw: Any, bank_account: str, problems: list[str], cash_group_prefix: str = "") -> dict[str, BankPair]:
    if raw is None:
        raw = {"default": {}}
    if not isinstance(raw, dict) or "default" not in raw:
        problems.append("banks: needs a `default` entry {clearing: ..., operating: ...}")
        return {"default": BankPair(bank_account, "")}
    pairs: dict[str, BankPair] = {}
    for name, pair in raw.items():
        where = f"banks.{name}"
        if name != "default" and not _CURRENCY.match(str(name)):
            problems.append(f"{where}: must be `default` or a lower-case Stripe currency code (jpy, eur ...)")
            continue
        pair = pair if isinstance(pair, dict) else {}
        clearing = str(pair.get("clearing") or (bank_account if name == "default" else ""))
        operating = str(pair.get("operating") or "")
        prefix = str(pair.get("group_prefix") or "")
        cash_prefix = str(pair.get("cash_group_prefix") or "")
        extra = sorted(set(pair) - {"clearing", "operating", "group_prefix", "cash_group_prefix"})
        problems += [f"{where}.{key}: unknown key (clearing, operating, group_prefix or cash_group_prefix)"
                     for key in extra]
        for key, value in (("group_prefix", prefix), ("cash_group_prefix", cash_prefix)):
            if value and not _PREFIX.match(value):
                problems.append(f"{where}.{key}: must be 1 or 2 upper-case letters")
        for role, code in (("clearing", clearing), ("operating", operating)):
            if not _CODE.match(code):
                problems.append(f"{where}.{role}: needs a bank account id of 1 to 10 characters")
        if clearing and clearing == operating:
            problems.append(f"{where}: the clearing and operating banks must differ (a transfer needs two banks)")
        pairs[str(name)] = BankPair(clearing, operating, prefix, cash_prefix)
    _distinct_groups(pairs, problems)
    _distinct_cash_groups(pairs, problems, cash_group_prefix)
    return pairs


def _distinct_groups(pairs: dict[str, BankPair], problems: list[str]) -> None:
    """A day's adjustment group holds one bank: two clearing banks sharing a prefix would collide."""
    default = pairs.get("default")
    for name, pair in pairs.items():
        if name != "default" and default and pair.clearing != default.clearing and not pair.group_prefix:
            problems.append(f"banks.{name}: a clearing bank other than the default one needs its own group_prefix "
                            "(the day's adjustment group holds one bank)")


def _distinct_cash_groups(pairs: dict[str, BankPair], problems: list[str], fallback: str) -> None:
    """A day's cash receipt group holds one bank: each clearing bank needs a cash group prefix no other
    clearing bank uses (``fallback``: defaults.yaml's, the prefix of a pair without its own)."""
    default = pairs.get("default")
    owners: dict[str, tuple[str, str]] = {}  # prefix -> (where it is set, the clearing bank using it)
    if default and (default.cash_group_prefix or fallback):
        where = "banks.default" if default.cash_group_prefix else "defaults.yaml"
        owners[default.cash_group_prefix or fallback] = (where, default.clearing)
    for name, pair in pairs.items():
        if name == "default" or not default or pair.clearing == default.clearing:
            continue
        if not pair.cash_group_prefix:
            problems.append(f"banks.{name}: a clearing bank other than the default one needs its own "
                            "cash_group_prefix (the day's cash receipt group holds one bank)")
            continue
        where, bank = owners.setdefault(pair.cash_group_prefix, (f"banks.{name}", pair.clearing))
        if bank != pair.clearing:
            problems.append(f"banks.{name}.cash_group_prefix: {pair.cash_group_prefix} is already the cash group "
                            f"prefix of {where} (clearing bank {bank}); choose another")


def _fee_ids(raw: Any, problems: list[str], *, required: bool) -> dict[str, str]:
    raw = raw if isinstance(raw, dict) else {}
    problems += [f"fee_ids.{name}: unknown fee category (one of {', '.join(FEE_CATEGORIES)})"
                 for name in sorted(set(raw) - set(FEE_CATEGORIES))]
    found = {name: str(raw.get(name) or "") for name in FEE_CATEGORIES}
    if required:
        problems += [f"fee_ids.{name}: needs a Bank Fee ID of 1 to 10 characters"
                     for name, code in found.items() if not _FEE_ID.match(code)]
    return found


def _journal(raw: Any, problems: list[str], *, required: bool) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    problems += [f"journal.{name}: unknown key" for name in sorted(set(raw) - {"code", "group_prefix", "accounts"})]
    code, prefix = str(raw.get("code") or "STRP"), str(raw.get("group_prefix") or "SJ")
    accounts_raw = raw.get("accounts") if isinstance(raw.get("accounts"), dict) else {}
    accounts = {name: str(accounts_raw.get(name) or "") for name in JOURNAL_ACCOUNTS}
    problems += [f"journal.accounts.{name}: unknown account (one of {', '.join(JOURNAL_ACCOUNTS)})"
                 for name in sorted(set(accounts_raw) - set(JOURNAL_ACCOUNTS))]
    if required:
        if not _CODE.match(code) or len(code) > 4:
            problems.append("journal.code: needs a journal code of 1 to 4 characters (STRP)")
        if not _PREFIX.match(prefix):
            problems.append("journal.group_prefix: must be 1 or 2 upper-case letters (SJ)")
        problems += [f"journal.accounts.{name}: needs a GL account in display form (1010-00-00)"
                     for name, account in accounts.items() if not _ACCOUNT.match(account)]
    return {"journal_code": code, "journal_group_prefix": prefix, "journal_accounts": accounts}
