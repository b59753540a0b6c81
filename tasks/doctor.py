"""The pre-flight check: ``celery -A tasks doctor`` (or ``python -m tasks.doctor``), run before going live.

It answers "will events post?" before the first one arrives, with a checklist an administrator can
work through: each line passes or fails, and a failure says the fix (the setting, the mapping file
and key, or the Epicor screen where the code is created). It exits 1 when anything fails, so a
deployment script can stop on it; ``--json`` prints the same checklist for a machine.

Policy:

- **Read only.** Every call is a GET: the Stripe account and webhook endpoints, the newest event,
  Epicor's company and the rows of the read-only sets of contract §8 (companies, currencies, terms,
  parts, reasons, bank accounts) and a customer look-up. Nothing is created, not even what the
  service itself would create (the catch-all customer, the daily groups): that is reported as info.
- **Everything at once.** One failure does not hide the next: every check runs; only the checks that
  depend on an earlier one (Epicor's codes on Epicor being reachable) are skipped, and say so.
- **The same rules as the service.** The configuration check is the worker's own start-up check
  (``tasks.preflight``); missing reference data is described by the catalogue the pipeline's errors
  use (``tasks.mapping.reference``); the event types are the routing table's (``tasks.flows``).
- **No secrets printed.** Keys and passwords are never shown; a Redis URL is shown without its password.

Which webhook endpoint is this service's: ``--url`` or, failing that, ``PUBLIC_URL`` (the address
Stripe reaches this service at, e.g. ``https://connector.example.com``) + ``/webhooks/stripe``.

Integration pairs (``tasks.pairs``): the configuration (every pair's start-up check) and Redis are the
deployment's and checked once; Stripe and Epicor are checked for each pair with its own key, company and
mapping files, in a section titled by the pair (``--pair NAME``: that pair only), a pair's webhook endpoint
being the address above + ``/<pair>``. A deployment of the one default pair prints what it always did.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import click

from tasks.errors import PipelineError
from tasks.settings import ConfigError, Settings, env_value, load_settings

PASS, FAIL, INFO, SKIP = "pass", "fail", "info", "skip"
WEBHOOK_PATH = "/webhooks/stripe"
DEFAULT_PAIR = "default"  # tasks.pairs.DEFAULT, without importing the pairs before the configuration check


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    name: str
    status: str
    detail: str
    fix: str = ""
    pair: str = ""  # the integration pair it is about; "" for what the deployment shares


@dataclass
class Doctor:
    """What the checks share: the settings, the mappings and the connectors, built once (for each pair)."""

    url: str | None = None
    settings: Settings | None = None
    mappings: Any = None
    results: list[Check] = field(default_factory=list)
    pair: str = ""  # the pair whose checks run now ("" while the deployment's run, or with one pair)

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.results.append(Check(name, status, detail, fix, self.pair))

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.results)


# -- configuration and Redis --------------------------------------------------------------------------
def check_configuration(doctor: Doctor) -> None:
    from tasks.preflight import configuration_problems

    problems = configuration_problems("worker")
    for problem in problems:
        doctor.add("Configuration", FAIL, problem, "fix the setting or mapping file named, then restart the worker")
    from tasks.mapping.tables import load_mappings

    try:
        doctor.settings = load_settings()
        doctor.mappings = load_mappings(doctor.settings.mappings_dir, _published_tables())
    except (ConfigError, PipelineError):
        return  # said above: the same problems
    if not problems:
        doctor.add("Configuration", PASS, f"settings and the mapping files in {doctor.settings.mappings_dir} are valid")


def _published_tables() -> dict[str, str]:
    """The lookup tables published from the console (what workers build with); none when Redis cannot say:
    the Redis check says so on its own line."""
    from tasks.mapping import table_versions

    try:
        return table_versions.published_now()
    except Exception:  # noqa: BLE001 - Redis away or unreadable: check the files
        return {}


def redacted(url: str) -> str:
    """A Redis URL without its password."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def check_redis(doctor: Doctor) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tasks import redis_clients
    from tasks.settings import load_redis_settings
    from tasks.signals import redis_durability_warnings

    try:  # REDIS_URL, or the primary REDIS_SENTINELS name (tasks.redis_clients)
        where = doctor.settings.redis if doctor.settings else load_redis_settings()
    except ConfigError as exc:
        doctor.add("Redis", FAIL, str(exc), "fix the Redis settings (README, Redis high availability)")
        return
    problems = redis_clients.sentinel_problems(where)
    if problems:
        doctor.add("Redis", FAIL, problems[0], "check REDIS_SENTINELS, REDIS_SENTINEL_MASTER and the passwords")
        return
    client = redis_clients.connect(where, decode_responses=True, socket_timeout=5, socket_connect_timeout=5,
                                   retry=Retry(NoBackoff(), 0))  # a checklist answers now, not after a failover
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        doctor.add("Redis", FAIL, f"{redis_clients.describe(where)} does not answer ({type(exc).__name__})",
                   "start Redis or set REDIS_URL (or REDIS_SENTINELS) to the one the worker and web use")
        return
    doctor.add("Redis", PASS, f"{redis_clients.describe(where)} answers")
    try:
        config = cast("dict[str, str]", client.config_get("*"))
    except redis.exceptions.RedisError:
        doctor.add("Redis persistence", INFO, "CONFIG is not allowed here (managed Redis): check persistence "
                   "and maxmemory-policy noeviction in the provider's settings")
        return
    warnings = redis_durability_warnings(config)
    for warning in warnings:
        doctor.add("Redis persistence", FAIL, warning.split(";")[0],
                   warning.split("; ", 1)[-1] + " (queued events and dead letters must survive a restart)")
    if not warnings:
        doctor.add("Redis persistence", PASS, "persistence on, maxmemory-policy noeviction")


# -- Stripe -------------------------------------------------------------------------------------------
def check_stripe(doctor: Doctor) -> None:
    from tasks.connectors.stripe_api import StripeConnector

    if doctor.settings is None or not doctor.settings.stripe_api_key:
        doctor.add("Stripe", SKIP, "no usable Stripe settings (see Configuration)")
        return
    try:
        stripe = StripeConnector(doctor.settings)
        account = stripe.account()
    except (ConfigError, PipelineError) as exc:
        doctor.add("Stripe API key", FAIL, _error_text(exc),
                   "set STRIPE_API_KEY to a secret or restricted key of the account (Dashboard > Developers > "
                   "API keys); a restricted key needs read access to the account, events and webhook endpoints")
        return
    doctor.add("Stripe API key", PASS, f"works for account {account.get('id')}")
    endpoint = check_webhook_endpoint(doctor, stripe)
    check_api_version(doctor, stripe, endpoint)


def target_url(doctor: Doctor) -> str | None:
    """This service's Stripe webhook address: ``--url``, else ``PUBLIC_URL`` + ``/webhooks/stripe``; a pair
    other than the default's is that + ``/<pair>`` (``app.webhooks``)."""
    public = (env_value("PUBLIC_URL") or "").rstrip("/")
    base = doctor.url.rstrip("/") if doctor.url else public + WEBHOOK_PATH if public else None
    if base is None or doctor.pair in ("", DEFAULT_PAIR):
        return base
    return f"{base}/{doctor.pair}"


def handled_event_types() -> list[str]:
    from tasks.flows import EVENT_FLOWS

    return sorted(EVENT_FLOWS)


def check_webhook_endpoint(doctor: Doctor, stripe: Any) -> dict[str, Any] | None:
    url = target_url(doctor)
    if url is None:
        doctor.add("Stripe webhook endpoint", FAIL, "this service's address is not known",
                   "set PUBLIC_URL (e.g. https://connector.example.com) or pass --url <address>/webhooks/stripe")
        return None
    try:
        endpoints = stripe.webhook_endpoints()
    except PipelineError as exc:
        doctor.add("Stripe webhook endpoint", FAIL, _error_text(exc),
                   "give the key read access to webhook endpoints, or check the endpoint in the Dashboard")
        return None
    endpoint = next((e for e in endpoints if str(e.get("url") or "").rstrip("/") == url), None)
    if endpoint is None:
        doctor.add("Stripe webhook endpoint", FAIL, f"no endpoint sends to {url} ({len(endpoints)} endpoints)",
                   f"add an endpoint for {url} in Dashboard > Developers > Webhooks with the events "
                   f"{', '.join(handled_event_types())}, and put its signing secret in STRIPE_WEBHOOK_SECRET")
        return None
    _judge_endpoint(doctor, endpoint)
    return endpoint


def _judge_endpoint(doctor: Doctor, endpoint: dict[str, Any]) -> None:
    name = f"endpoint {endpoint.get('id')} ({endpoint.get('url')})"
    if endpoint.get("status") != "enabled":
        doctor.add("Stripe webhook endpoint", FAIL, f"{name} is {endpoint.get('status')}",
                   "enable it in Dashboard > Developers > Webhooks")
        return
    subscribed = set(endpoint.get("enabled_events") or [])
    missing = [] if "*" in subscribed else [t for t in handled_event_types() if t not in subscribed]
    if missing:
        doctor.add("Stripe webhook endpoint", FAIL, f"{name} does not send {', '.join(missing)}",
                   "add these events to the endpoint in Dashboard > Developers > Webhooks")
        return
    doctor.add("Stripe webhook endpoint", PASS, f"{name} is enabled and sends every event type a flow handles")


def check_api_version(doctor: Doctor, stripe: Any, endpoint: dict[str, Any] | None) -> None:
    """The version events arrive in: the endpoint's own, else the account's default (newest event's)."""
    if endpoint and endpoint.get("api_version"):
        doctor.add("Stripe API version", INFO, f"the endpoint sends events in {endpoint['api_version']}")
        return
    try:
        newest = (stripe.events_page({"limit": 1}).get("data") or [None])[0]
    except PipelineError as exc:
        doctor.add("Stripe API version", INFO, f"not known: {_error_text(exc)}")
        return
    if newest is None:
        doctor.add("Stripe API version", INFO, "the account's default (no event yet to read it from)")
        return
    doctor.add("Stripe API version", INFO, f"events arrive in the account's default, {newest.get('api_version')}")


# -- Epicor -------------------------------------------------------------------------------------------
def check_epicor(doctor: Doctor) -> None:
    from tasks.connectors.epicor import EpicorClient

    if doctor.settings is None:
        doctor.add("Epicor", SKIP, "no usable settings (see Configuration)")
        return
    try:
        epicor = EpicorClient(doctor.settings)
        company = epicor.get("Erp.BO.CompanySvc", "Companies")
    except (ConfigError, PipelineError) as exc:
        _epicor_failure(doctor, exc)
        return
    name = doctor.settings.epicor_company
    doctor.add("Epicor", PASS, f"{doctor.settings.epicor_base_url} answers with these credentials")
    if company is None:
        doctor.add("Epicor company", FAIL, f"company {name} does not exist",
                   "set EPICOR_COMPANY to the company's id (Company Maintenance)")
        return
    doctor.add("Epicor company", PASS, f"{name} exists (base currency {company.get('BaseCurrCode') or '?'})")
    if doctor.mappings is None:
        doctor.add("Epicor codes", SKIP, "the mapping files are not valid (see Configuration)")
        return
    check_payout_codes(doctor, epicor)
    check_codes(doctor, epicor)


def _epicor_failure(doctor: Doctor, exc: Exception) -> None:
    reason = getattr(exc, "reason", "")
    company = doctor.settings.epicor_company if doctor.settings else "?"
    if reason == "epicor.auth":
        doctor.add("Epicor", FAIL, _error_text(exc), "check EPICOR_USERNAME, EPICOR_PASSWORD and EPICOR_API_KEY "
                   "(User Account Security Maintenance; API Key Maintenance for v2)")
    elif reason == "epicor.business_rule":  # a call for a company the user cannot use is a 400 (contract §8)
        doctor.add("Epicor company", FAIL, f"company {company} refused: {_error_text(exc)}",
                   "set EPICOR_COMPANY to a company the integration user may use (Company Maintenance)")
    else:
        doctor.add("Epicor", FAIL, _error_text(exc), "check EPICOR_BASE_URL (server and instance) and that "
                   "this host can reach it")


@dataclass(frozen=True)
class Code:
    """One code the mappings name, and where Epicor keeps it."""

    kind: str  # tasks.mapping.reference catalogue kind
    code: str
    service: str
    entity_set: str
    keys: tuple[str, ...]


def named_codes(mappings: Any) -> list[Code]:
    """Every code the mappings name that Epicor must already hold (contract §8's read-only sets)."""
    def codes(kind: str, values: Iterable[str], service: str, entity_set: str,
              key: Callable[[str], tuple[str, ...]] = lambda code: (code,)) -> list[Code]:
        return [Code(kind, code, service, entity_set, key(code)) for code in dict.fromkeys(values)]

    parts = [mappings.default_part, *mappings.products.values(), *mappings.prices.values()]
    reasons = [*mappings.refund_reasons.values(), *mappings.dispute_codes.values()]
    return [
        *codes("currency", sorted(set(mappings.currencies.values())), "Erp.BO.CurrencySvc", "Currencies"),
        *codes("terms", [mappings.terms_code, *mappings.terms_days], "Erp.BO.TermsSvc", "Terms"),
        *codes("part", parts, "Erp.BO.PartSvc", "Parts"),
        *codes("reason", reasons, "Erp.BO.ReasonSvc", "Reasons", lambda code: (mappings.reason_type, code)),
        *codes("bank_account", [mappings.bank_account], "Erp.BO.BankAcctSvc", "BankAccts"),
    ]


def check_codes(doctor: Doctor, epicor: Any) -> None:
    from tasks.mapping import reference

    missing = 0
    for code in named_codes(doctor.mappings):
        try:
            row = epicor.get(code.service, code.entity_set, *code.keys)
        except PipelineError as exc:
            doctor.add("Epicor codes", FAIL, f"{code.entity_set} could not be read: {_error_text(exc)}",
                       "give the integration user read access to this service")
            return
        problem = _row_problem(code, row)
        if problem:
            missing += 1
            message = reference.missing_message(code.kind, code.code, doctor.mappings)
            head, _, fix = message.partition(": ")
            doctor.add(f"Epicor {reference.CATALOGUE[code.kind].label.lower()}", FAIL,
                       head if problem == "missing" else f"{head.split(' is not')[0]} is {problem}", fix)
    if not missing:
        doctor.add("Epicor codes", PASS, "every currency, terms code, part, reason code and bank account the "
                   "mappings name exists")
    check_catch_all(doctor, epicor)


def _row_problem(code: Code, row: dict[str, Any] | None) -> str | None:
    """Why a fetched row does not serve: missing, or closed / inactive."""
    if row is None:
        return "missing"
    if code.kind == "bank_account" and row.get("Closed"):
        return "closed"
    if code.kind == "currency" and row.get("Inactive"):
        return "inactive"
    return None


def check_payout_codes(doctor: Doctor, epicor: Any) -> None:
    """The banks, Bank Fee IDs (bank shape) or journal code and GL accounts (journal shape) of payouts.yaml."""
    from tasks.mapping.payout_settings import load_payout_settings

    if doctor.settings is None or doctor.mappings is None:
        return  # said by the configuration check
    settings = load_payout_settings(doctor.settings.mappings_dir, doctor.mappings.bank_account)
    if not settings.configured:
        doctor.add("Epicor payout codes", INFO, "no payouts.yaml: payouts are reported, never posted")
        return
    try:
        problems = [*_payout_bank_problems(settings, epicor, checked=doctor.mappings.bank_account),
                    *(_payout_journal_problems(settings, epicor) if settings.shape == "journal" else [])]
    except PipelineError as exc:
        doctor.add("Epicor payout codes", FAIL, f"could not be read: {_error_text(exc)}",
                   "give the integration user read access to the bank and GL services")
        return
    for problem in problems:
        doctor.add("Epicor payout codes", FAIL, problem, "create it in Epicor or correct mappings/payouts.yaml")
    if not problems:
        doctor.add("Epicor payout codes", PASS, f"every bank, fee id and account payouts.yaml names exists "
                   f"({settings.shape} shape, {'automatic' if settings.post_automatically else 'by hand'})")


def _payout_bank_problems(settings: Any, epicor: Any, *, checked: str) -> list[str]:
    problems = []
    for bank in [bank for bank in settings.all_banks() if bank != checked]:  # defaults.yaml's: checked above
        row = epicor.get("Erp.BO.BankAcctSvc", "BankAccts", bank)
        if row is None or row.get("Closed"):
            problems.append(f"bank account {bank} is {'missing' if row is None else 'closed'}")
    if settings.shape == "bank":
        problems += [f"Bank Fee ID {code} ({name} fees) is missing" for name, code in settings.fee_ids.items()
                     if epicor.get("Erp.BO.BankFeeSvc", "BankFees", code) is None]
    return problems


def _payout_journal_problems(settings: Any, epicor: Any) -> list[str]:
    from tasks.epicor.journal import internal_account

    code = epicor.get("Erp.BO.JrnlCodeSvc", "JrnlCodes", settings.journal_code)
    problems = [] if code and not code.get("SystemJournal") else [
        f"journal code {settings.journal_code} is {'missing' if code is None else 'a system journal'}"]
    books = epicor.query("Erp.BO.GLBookSvc", "GLBooks", "MainBook eq true", top=1)
    coa = str(books[0].get("COACode") or "") if books else ""
    chart = epicor.get("Erp.BO.COASvc", "COAs", coa) if coa else None
    if chart is None:
        return [*problems, "the main book's chart of accounts could not be read"]
    for name, display in settings.journal_accounts.items():
        try:
            account = internal_account(display, str(chart.get("SeparatorChar") or ""))["GLAccount"]
        except PipelineError as exc:
            problems.append(f"{name} account: {exc.message}")
            continue
        row = epicor.get("Erp.BO.GLAccountSvc", "GLAccounts", coa, account)
        if row is None or row.get("Active") is False:
            problems.append(f"GL account {display} ({name}) is {'missing' if row is None else 'inactive'}")
    return problems


def check_catch_all(doctor: Doctor, epicor: Any) -> None:
    cust_id = doctor.mappings.catch_all_cust_id
    try:
        found = epicor.find_one("Erp.BO.CustomerSvc", "Customers", CustID=cust_id)
    except PipelineError as exc:
        doctor.add("Epicor catch-all customer", INFO, f"not checked: {_error_text(exc)}")
        return
    detail = f"{cust_id} exists (CustNum {found.get('CustNum')})" if found else \
        f"{cust_id} is not in Epicor yet: the service creates it with the first guest payment"
    doctor.add("Epicor catch-all customer", INFO, detail)


def _error_text(exc: Exception) -> str:
    return exc.message if isinstance(exc, PipelineError) else str(exc)


# -- running and printing -----------------------------------------------------------------------------
CHECKS: tuple[Callable[[Doctor], None], ...] = (check_configuration, check_redis, check_stripe, check_epicor)
PAIR_CHECKS = (check_stripe, check_epicor)  # run once per pair; the others once for the deployment


def pair_names(pair: str | None) -> list[str] | None:
    """The pairs to check one by one: ``pair``, else every pair when there are several; None for the one
    default pair (or a PAIRS_FILE that is refused, which the configuration check reports)."""
    from tasks.pairs import get_pairs

    if pair is not None:
        return [pair]
    try:
        names = get_pairs().names()
    except ConfigError:
        return None
    return names if len(names) > 1 else None


def run(url: str | None = None, pair: str | None = None) -> Doctor:
    """Every check, in order (Stripe and Epicor once per pair when there are several, or ``pair``'s); one
    that crashes is reported as a failure, never stops the others."""
    doctor = Doctor(url=url)
    names = pair_names(pair)
    for check in CHECKS:
        if names is None or check not in PAIR_CHECKS:
            _run_check(doctor, check)
    environment = (doctor.settings, doctor.mappings)  # the default pair's, read by the configuration check
    for name in names or ():
        _as_pair(doctor, name, environment)
        for check in PAIR_CHECKS:
            _run_check(doctor, check)
    return doctor


def _run_check(doctor: Doctor, check: Callable[[Doctor], None]) -> None:
    try:
        check(doctor)
    except Exception as exc:  # noqa: BLE001 - the checklist must finish and say what broke
        doctor.add(check.__name__.removeprefix("check_").capitalize(), FAIL,
                   f"the check itself failed: {type(exc).__name__}: {exc}", "report this as a bug")


def _as_pair(doctor: Doctor, name: str, environment: tuple[Settings | None, Any]) -> None:
    """Point the checks at pair ``name``: its settings and mapping files (none when they are refused: the
    configuration check said why, and the pair's checks say they are skipped)."""
    from tasks.mapping.tables import load_mappings
    from tasks.pairs import settings_for, working_for

    doctor.pair = name
    if name == DEFAULT_PAIR:
        doctor.settings, doctor.mappings = environment
        return
    doctor.settings = doctor.mappings = None
    try:
        doctor.settings = settings_for(name)
        with working_for(name):  # the lookup tables published for this pair, what its workers build with
            doctor.mappings = load_mappings(doctor.settings.mappings_dir, _published_tables())
    except (ConfigError, PipelineError):
        return


MARKS = {PASS: "pass", FAIL: "FAIL", INFO: "info", SKIP: "skip"}


def checklist_json(doctor: Doctor) -> dict[str, Any]:
    """The checklist for a machine; a check names its ``pair`` when it is one pair's."""
    return {"ok": doctor.ok, "checks": [{k: v for k, v in asdict(check).items() if k != "pair" or v}
                                        for check in doctor.results]}


def checklist(doctor: Doctor) -> str:
    lines = ["Stripe -> Epicor pre-flight check"]
    section = ""
    for check in doctor.results:
        if check.pair != section:
            section = check.pair
            lines.append(f"Pair {section}:")
        lines.append(f"  [{MARKS[check.status]}] {check.name}: {check.detail}")
        if check.fix:
            lines.append(f"         fix: {check.fix}")
    failed = sum(check.status == FAIL for check in doctor.results)
    lines.append("All checks passed: ready to go live." if not failed else f"{failed} check(s) failed.")
    return "\n".join(lines)


@click.command(name="doctor", help="Pre-flight check of Redis, Stripe, the webhook endpoint, Epicor and "
                                   "the codes the mappings name; exits 1 when anything fails.")
@click.option("--json", "as_json", is_flag=True, help="print the checklist as JSON")
@click.option("--url", default=None, help="this service's Stripe webhook address "
                                          "(default: PUBLIC_URL + /webhooks/stripe; a pair's: + /<pair>)")
@click.option("--pair", default=None, metavar="NAME", help="check this integration pair's Stripe and Epicor "
                                                            "only (default: every pair, each in its section)")
def doctor(as_json: bool, url: str | None, pair: str | None) -> None:
    if pair is not None:
        _known_pair(pair)
    result = run(url, pair)
    if as_json:
        click.echo(json.dumps(checklist_json(result), indent=2))
    else:
        click.echo(checklist(result))
    sys.exit(0 if result.ok else 1)


def _known_pair(pair: str) -> None:
    from tasks.pairs import get_pairs

    try:
        names = get_pairs().names()
    except ConfigError as exc:
        raise click.BadParameter(f"the pairs cannot be read: {exc}", param_hint="--pair") from None
    if pair not in names:
        raise click.BadParameter(f"no pair named {pair} (pairs: {', '.join(names)})", param_hint="--pair")


if __name__ == "__main__":
    doctor(prog_name="python -m tasks.doctor")
