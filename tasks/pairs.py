"""Integration pairs: several Stripe accounts and Epicor companies served by one deployment (issue 16).

A pair is one Stripe account (its API key, webhook secrets and any Stripe Connect accounts routed to it)
and one Epicor company (base URL, company, credentials, mappings directory). The environment's settings
are the pair ``default``, as they always were; further pairs are declared in ``PAIRS_FILE`` (YAML):

    pairs:
      emea:
        stripe:
          account: acct_1EmeaPlatform          # optional: the account's own id
          api_key_env: EMEA_STRIPE_API_KEY      # or api_key_file: /run/secrets/emea_stripe_key
          webhook_secret_env: EMEA_STRIPE_WEBHOOK_SECRET   # several, comma-separated, during a rotation
          connect_accounts: [acct_1Shop]        # Connect accounts whose events this pair posts
        epicor:
          base_url: https://erp.example.com/KineticEMEA
          company: EMEA01
          username_env: EMEA_EPICOR_USERNAME
          password_env: EMEA_EPICOR_PASSWORD
          api_key_env: EMEA_EPICOR_API_KEY
          webhook_secret_env: EMEA_EPICOR_WEBHOOK_SECRET
        mappings_dir: mappings-emea

Policy: a secret is named, never written in the file (``<name>_env`` or ``<name>_file``); a secret written
inline, an unknown key or a name that is not a pair name refuses the file, so that the worker, beat and web
refuse to start (``tasks.preflight``) rather than post one company's documents with another's settings.
Everything else a pair does not say (timeouts, budgets' sizes, Redis) is the environment's.

Which pair an event belongs to is set once per stage (``current``, a context variable the stage sets from
the envelope; the receiver sets it while it records the event), and ``tasks.store.key`` puts it in the
Redis keys of everything kept per Epicor company (journals, caches, locks, payment leads, reports).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from tasks.settings import (
    REPO_ROOT,
    STRIPE_KEY_PREFIXES,
    ConfigError,
    Settings,
    env_value,
    get_settings,
    stripe_default_rate,
)

DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # names a URL path segment and a Redis key part
ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")

# What a pair's section may hold: plain values, and secrets by reference (``<name>_env``/``<name>_file``).
STRIPE_VALUES = {"account", "api_base", "connect_accounts"}
STRIPE_SECRETS = {"api_key", "webhook_secret"}
EPICOR_VALUES = {"base_url", "company", "api_version"}
EPICOR_SECRETS = {"api_key", "username", "password", "webhook_secret"}
PAIR_KEYS = {"stripe", "epicor", "mappings_dir"}
# Values that are secrets whatever key they are under: a key pasted into the file by mistake.
SECRET_LOOKING = re.compile(r"^(sk|rk)_(live|test)_|^whsec_")

current: contextvars.ContextVar[str] = contextvars.ContextVar("pair", default=DEFAULT)


@dataclass(frozen=True)
class Pair:
    name: str
    settings: Settings
    stripe_account: str = ""  # the account's own acct_ id, when the file says
    connect_accounts: tuple[str, ...] = ()


class Pairs:
    """Every pair of the deployment by name, and the Connect accounts routed to each."""

    def __init__(self, pairs: dict[str, Pair]):
        self.by_name = pairs
        self.by_account = {account: pair.name for pair in pairs.values() for account in pair.connect_accounts}

    def get(self, name: str) -> Pair | None:
        return self.by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self.by_name, key=lambda name: (name != DEFAULT, name))

    def for_account(self, received_by: Pair, account: str) -> tuple[Pair | None, str]:
        """The pair an event of Stripe account ``account`` received at ``received_by``'s endpoint belongs to,
        or None with the reason. A Connect account listed by a pair goes to it; the receiving pair's own
        account stays; an account nobody lists is refused by a pair that declares its own account, and taken
        as its own by one that does not (it cannot tell its own events from others': today's behaviour)."""
        routed = self.by_account.get(account)
        if routed:
            return self.by_name[routed], ""
        if not received_by.stripe_account or account == received_by.stripe_account:
            return received_by, ""
        return None, (f"event of Stripe account {account}, which no pair lists in connect_accounts"
                      f" (pair {received_by.name} is {received_by.stripe_account})")


def settings_for(name: str | None) -> Settings:
    """The settings of pair ``name`` (the environment's for the default pair); ``ConfigError`` if unknown."""
    if not name or name == DEFAULT:
        return get_settings()
    found = get_pairs().get(name)
    if found is None:
        raise ConfigError(f"pair {name} is not declared in PAIRS_FILE")
    return found.settings


@contextmanager
def working_for(name: str | None) -> Iterator[None]:
    """Run the block as pair ``name`` (``current``): what it keeps in Redis is kept apart per pair."""
    token = current.set(name or DEFAULT)
    try:
        yield
    finally:
        current.reset(token)


@lru_cache(maxsize=1)
def get_pairs() -> Pairs:
    return load_pairs()


def load_pairs(base: Settings | None = None) -> Pairs:
    """The default pair (the environment) and every pair of ``PAIRS_FILE``; ``ConfigError`` names what is
    wrong (the file's key, never a secret's value)."""
    base = base or get_settings()
    pairs = {DEFAULT: Pair(DEFAULT, replace(base, pair=DEFAULT))}
    path = env_value("PAIRS_FILE")
    if not path:
        return Pairs(pairs)
    for name, spec in _read(Path(path)).items():
        pairs[name] = _pair(name, spec, base)
    _check_accounts(pairs)
    return Pairs(pairs)


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"PAIRS_FILE cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"PAIRS_FILE is not YAML{where}") from None
    if not isinstance(document, dict) or set(document) != {"pairs"} or not isinstance(document["pairs"], dict):
        raise ConfigError("PAIRS_FILE must hold one mapping 'pairs:' of pair name -> its stripe and epicor")
    for name in document["pairs"]:
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(f"PAIRS_FILE: '{name}' is not a pair name (a-z, 0-9, '-', '_'; at most 32)")
        if name == DEFAULT:
            raise ConfigError("PAIRS_FILE: 'default' is the environment's pair (STRIPE_*, EPICOR_*); "
                              "name the file's pairs otherwise")
    return document["pairs"]


def _section(where: str, spec: Any, values: set[str], secrets: set[str]) -> dict[str, Any]:
    """A section's plain values and its secrets read from where they are named; refused if any secret is
    written inline or a key is unknown."""
    if not isinstance(spec, dict):
        raise ConfigError(f"PAIRS_FILE: {where} must be a mapping")
    found: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, str) and SECRET_LOOKING.match(value.strip()):
            raise ConfigError(f"PAIRS_FILE: {where}.{key} holds a secret inline; name an environment variable"
                              f" or a file instead")
        if key in secrets:
            raise ConfigError(f"PAIRS_FILE: {where}.{key} is a secret written inline: name it by {key}_env "
                              f"(an environment variable) or {key}_file (a file), never its value")
        base, _, kind = str(key).rpartition("_")
        if base in secrets and kind in ("env", "file"):
            found[base] = _secret(f"{where}.{key}", value, kind)
        elif key in values:
            found[key] = value
        else:
            known = sorted(values | {f"{name}_{kind}" for name in secrets for kind in ("env", "file")})
            raise ConfigError(f"PAIRS_FILE: {where}.{key} is not a setting ({', '.join(known)})")
    return found


def _secret(where: str, reference: Any, kind: str) -> str:
    if not isinstance(reference, str) or not reference.strip():
        raise ConfigError(f"PAIRS_FILE: {where} must name an environment variable or a file")
    if kind == "env":
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", reference):
            raise ConfigError(f"PAIRS_FILE: {where} is not an environment variable's name")
        value = env_value(reference)
        if not value:
            raise ConfigError(f"PAIRS_FILE: {where} names {reference}, which is not set")
        return value
    try:
        return Path(reference).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"PAIRS_FILE: {where} names a file that cannot be read ({exc.strerror})") from None


def _pair(name: str, spec: Any, base: Settings) -> Pair:
    if not isinstance(spec, dict) or not {"stripe", "epicor"} <= set(spec) or set(spec) - PAIR_KEYS:
        raise ConfigError(f"PAIRS_FILE: pair {name} must have stripe and epicor sections (and may have "
                          f"mappings_dir), nothing else")
    stripe = _section(f"{name}.stripe", spec["stripe"], STRIPE_VALUES, STRIPE_SECRETS)
    epicor = _section(f"{name}.epicor", spec["epicor"], EPICOR_VALUES, EPICOR_SECRETS)
    account = str(stripe.get("account") or "")
    connect = stripe.get("connect_accounts") or []
    if not isinstance(connect, list):
        raise ConfigError(f"PAIRS_FILE: {name}.stripe.connect_accounts must be a list of acct_ ids")
    for found in [account, *connect] if account else connect:
        if not isinstance(found, str) or not ACCOUNT.match(found):
            raise ConfigError(f"PAIRS_FILE: {name}.stripe: '{found}' is not a Stripe account id (acct_…)")
    settings = _settings(name, stripe, epicor, spec.get("mappings_dir"), base)
    return Pair(name, settings, account, tuple(connect))


def _settings(name: str, stripe: dict[str, Any], epicor: dict[str, Any], mappings: Any, base: Settings) -> Settings:
    for section, required in ((f"{name}.stripe", ("api_key", "webhook_secret")),
                              (f"{name}.epicor", ("base_url", "company", "username", "password"))):
        values = stripe if section.endswith("stripe") else epicor
        missing = [key for key in required if not values.get(key)]
        if missing:
            raise ConfigError(f"PAIRS_FILE: {section} lacks {', '.join(missing)}")
    api_key = stripe["api_key"]
    if not api_key.startswith(STRIPE_KEY_PREFIXES):
        raise ConfigError(f"PAIRS_FILE: {name}.stripe.api_key is not a secret or restricted key (sk_… or rk_…)")
    version = str(epicor.get("api_version") or base.epicor_api_version).lower()
    if version not in {"v1", "v2"}:
        raise ConfigError(f"PAIRS_FILE: {name}.epicor.api_version must be v1 or v2")
    mappings_dir = Path(str(mappings)) if mappings else base.mappings_dir
    if not mappings_dir.is_absolute():
        mappings_dir = REPO_ROOT / mappings_dir
    secrets = tuple(value for value in (api_key, epicor.get("api_key"), epicor["password"],
                                        *_list(stripe["webhook_secret"]), *_list(epicor.get("webhook_secret")))
                    if value)
    api_base = str(stripe.get("api_base") or "") or None
    rate = base.stripe_max_calls_per_second if env_value("STRIPE_MAX_CALLS_PER_SECOND") \
        else stripe_default_rate(api_key, api_base)  # the pair's own account, live or test
    return replace(
        base, pair=name, stripe_max_calls_per_second=rate, stripe_api_key=api_key, stripe_api_base=api_base,
        stripe_webhook_secrets=_list(stripe["webhook_secret"]),
        epicor_base_url=str(epicor["base_url"]).rstrip("/"), epicor_company=str(epicor["company"]),
        epicor_api_key=epicor.get("api_key") or "", epicor_username=epicor["username"],
        epicor_password=epicor["password"], epicor_api_version=version,
        epicor_webhook_secrets=_list(epicor.get("webhook_secret")), mappings_dir=mappings_dir,
        secrets=tuple(dict.fromkeys((*base.secrets, *secrets))))


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _check_accounts(pairs: dict[str, Pair]) -> None:
    """A Connect account routed to two pairs would be posted to whichever came first: refused."""
    seen: dict[str, str] = {}
    for pair in pairs.values():
        for account in pair.connect_accounts:
            if account in seen:
                raise ConfigError(f"PAIRS_FILE: {account} is a Connect account of both {seen[account]} and "
                                  f"{pair.name}")
            seen[account] = pair.name
