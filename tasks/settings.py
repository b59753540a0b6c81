"""Configuration from the environment, read once and validated early.

Every variable of DESIGN.md's public interface is read here and nowhere else. A secret may come from
``NAME`` or from the file named by ``NAME_FILE`` (Docker / Kubernetes secrets), so it never has to
sit in a process listing or a compose file. Missing secrets fail fast with the variable's name, never
its value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A required setting is missing or malformed: the operator's to fix, never a pipeline bug."""


# Stripe's secret and restricted keys; a publishable key (pk_) or a webhook secret (whsec_) pasted by
# mistake would be refused on every call.
STRIPE_KEY_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")


def url_problem(name: str, url: str) -> str | None:
    """Why ``url`` cannot be a service address (scheme and host), or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"{name} must be an http(s) address with a host, e.g. https://erp.example.com/KineticLive"
    if parts.query or parts.fragment:
        return f"{name} must not carry a query or fragment"
    return None


def env_value(name: str, default: str | None = None) -> str | None:
    """``NAME`` or the contents of the file named by ``NAME_FILE``; stripped."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE names a file that cannot be read ({exc.strerror})") from None
    value = os.environ.get(name)
    return value.strip() if value is not None else default


def env_list(name: str) -> tuple[str, ...]:
    raw = env_value(name) or ""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def env_int(name: str, default: int) -> int:
    raw = env_value(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None


def env_float(name: str, default: float) -> float:
    raw = env_value(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_value(name)
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is: ``REDIS_URL``, or the primary that Redis Sentinel names (``REDIS_SENTINELS``).

    Every Redis client of the project is built from this by ``tasks.redis_clients``. With Sentinel, the
    passwords are separate settings (``REDIS_PASSWORD`` for the Redis servers, ``REDIS_SENTINEL_PASSWORD``
    for the sentinels) and the database number is ``REDIS_DB``, else ``REDIS_URL``'s.
    """

    url: str = DEFAULT_REDIS_URL
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = ""
    db: int = 0
    failover_timeout: float = 20.0  # how long a command waits for Sentinel to name a new primary
    password: str = field(default="", repr=False)
    sentinel_password: str = field(default="", repr=False)

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def __repr__(self) -> str:  # never print secrets
        if self.uses_sentinel:
            return f"RedisSettings(sentinels={self.sentinels!r}, master={self.sentinel_master!r}, db={self.db})"
        return f"RedisSettings(url={redis_url_without_password(self.url)!r})"


def redis_url_without_password(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def sentinel_address(entry: str) -> tuple[str, int]:
    """``host:port`` (or ``host``, port 26379; ``[v6 address]:port``) of one sentinel."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:  # a bare host name, or an IPv6 address without brackets
        host, port = entry, ""
    try:
        number = int(port) if port else SENTINEL_PORT
    except ValueError:
        raise ConfigError(f"REDIS_SENTINELS: '{entry}' is not host:port") from None
    if not host or not 0 < number < 65536:
        raise ConfigError(f"REDIS_SENTINELS: '{entry}' is not host:port")
    return host, number


def url_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    try:
        return int(path) if path else 0
    except ValueError:
        raise ConfigError("REDIS_URL's path must be a database number, e.g. redis://host:6379/0") from None


def load_redis_settings() -> RedisSettings:
    """Redis's address and credentials from the environment; a fault names the variable, never a value."""
    url = env_value("REDIS_URL") or DEFAULT_REDIS_URL
    sentinels = tuple(sentinel_address(entry) for entry in env_list("REDIS_SENTINELS"))
    master = env_value("REDIS_SENTINEL_MASTER") or ""
    if sentinels and not master:
        raise ConfigError("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER (the primary's name in Sentinel) is not")
    # Without Sentinel, REDIS_URL's path is the database as it always was; REDIS_DB is read with Sentinel only.
    db = (env_int("REDIS_DB", 0) if env_value("REDIS_DB") else url_db(url)) if sentinels else 0
    if db < 0:
        raise ConfigError("REDIS_DB must be a database number (0 or more)")
    return RedisSettings(
        url=url, sentinels=sentinels, sentinel_master=master, db=db,
        failover_timeout=max(0.0, env_float("REDIS_FAILOVER_TIMEOUT", 20.0)),
        password=env_value("REDIS_PASSWORD") or urlsplit(url).password or "",
        sentinel_password=env_value("REDIS_SENTINEL_PASSWORD") or "")


@dataclass(frozen=True)
class Settings:
    redis_url: str
    stripe_api_key: str
    stripe_webhook_secrets: tuple[str, ...]
    stripe_api_base: str | None
    stripe_timeout: float
    stripe_max_network_retries: int
    epicor_base_url: str
    epicor_company: str
    epicor_api_key: str
    epicor_username: str
    epicor_password: str
    epicor_api_version: str
    epicor_webhook_secrets: tuple[str, ...]
    epicor_timeout: float
    epicor_verify_tls: bool
    epicor_allow_http: bool
    mappings_dir: Path
    webhook_tolerance: int = 300
    max_body_bytes: int = 1_048_576
    epicor_max_concurrency: int = 64
    # Deployment-wide budgets (tasks.budget): calls per second (0: none), the adaptive back-off's
    # cool-down and raise interval, the smoothed call time that counts as congestion (0: not watched).
    epicor_max_calls_per_second: float = 0.0
    stripe_max_calls_per_second: float = 0.0
    epicor_limit_cooldown: float = 10.0
    epicor_limit_raise_interval: float = 5.0
    epicor_slow_call_seconds: float = 10.0
    budget_heartbeat: float = 1.0
    secrets: tuple[str, ...] = field(default=(), repr=False)
    redis: RedisSettings = field(default_factory=RedisSettings, repr=False)  # REDIS_SENTINELS & co.
    # The integration pair these settings are (``tasks.pairs``; the environment's is ``default``) and, for
    # an event of a Stripe Connect account, that account (sent as ``Stripe-Account`` on every Stripe call).
    pair: str = "default"
    stripe_account: str = ""

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        return (f"Settings(pair={self.pair!r}, epicor_base_url={self.epicor_base_url!r}, "
                f"company={self.epicor_company!r})")

    def require_stripe(self) -> None:
        if not self.stripe_api_key:
            raise ConfigError("STRIPE_API_KEY is not set")
        if not self.stripe_api_key.startswith(STRIPE_KEY_PREFIXES):
            raise ConfigError("STRIPE_API_KEY is not a secret or restricted key (sk_… or rk_…)")
        problem = url_problem("STRIPE_API_BASE", self.stripe_api_base) if self.stripe_api_base else None
        if problem:
            raise ConfigError(problem)

    def require_epicor(self) -> None:
        missing = [name for name, value in (
            ("EPICOR_BASE_URL", self.epicor_base_url), ("EPICOR_USERNAME", self.epicor_username),
            ("EPICOR_PASSWORD", self.epicor_password),
        ) if not value]
        if self.epicor_api_version == "v2" and not self.epicor_api_key:
            missing.append("EPICOR_API_KEY")
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set")
        problem = url_problem("EPICOR_BASE_URL", self.epicor_base_url)
        if problem:
            raise ConfigError(problem)
        if self.epicor_base_url.startswith("http://") and not self.epicor_allow_http:
            raise ConfigError("EPICOR_BASE_URL uses plain http; set EPICOR_ALLOW_HTTP=true only for a local sandbox")


# Stripe's documented basic rate limit is 100 operations a second in live mode and 25 in test mode
# (sandboxes), per account; the defaults keep a margin under it for the Dashboard and other clients.
STRIPE_LIVE_RATE, STRIPE_TEST_RATE = 80.0, 20.0


def stripe_default_rate(api_key: str, api_base: str | None) -> float:
    """Calls per second allowed to Stripe unless STRIPE_MAX_CALLS_PER_SECOND says: none for an
    emulator (STRIPE_API_BASE elsewhere than Stripe: its limits are not Stripe's)."""
    if api_base and urlsplit(api_base).hostname != "api.stripe.com":
        return 0.0
    return STRIPE_LIVE_RATE if api_key.startswith(("sk_live_", "rk_live_")) else STRIPE_TEST_RATE


def load_settings() -> Settings:
    version = (env_value("EPICOR_API_VERSION") or "v2").lower()
    if version not in {"v1", "v2"}:
        raise ConfigError("EPICOR_API_VERSION must be v1 or v2")
    values: dict[str, Any] = dict(
        redis_url=env_value("REDIS_URL") or "redis://127.0.0.1:6379/0",
        stripe_api_key=env_value("STRIPE_API_KEY") or "",
        stripe_webhook_secrets=env_list("STRIPE_WEBHOOK_SECRET"),
        stripe_api_base=(env_value("STRIPE_API_BASE") or None),
        stripe_timeout=env_float("STRIPE_TIMEOUT", 20.0),
        stripe_max_network_retries=env_int("STRIPE_MAX_NETWORK_RETRIES", 2),
        epicor_base_url=(env_value("EPICOR_BASE_URL") or "").rstrip("/"),
        epicor_company=env_value("EPICOR_COMPANY") or "EPIC06",
        epicor_api_key=env_value("EPICOR_API_KEY") or "",
        epicor_username=env_value("EPICOR_USERNAME") or "",
        epicor_password=env_value("EPICOR_PASSWORD") or "",
        epicor_api_version=version,
        epicor_webhook_secrets=env_list("EPICOR_WEBHOOK_SECRET"),
        epicor_timeout=env_float("EPICOR_TIMEOUT", 30.0),
        epicor_verify_tls=env_bool("EPICOR_VERIFY_TLS", True),
        epicor_allow_http=env_bool("EPICOR_ALLOW_HTTP", False),
        mappings_dir=Path(env_value("MAPPINGS_DIR") or REPO_ROOT / "mappings"),
        webhook_tolerance=env_int("WEBHOOK_TOLERANCE_SECONDS", 300),
        max_body_bytes=env_int("WEBHOOK_MAX_BODY_BYTES", 1_048_576),
        epicor_max_concurrency=max(1, env_int("EPICOR_MAX_CONCURRENCY", 64)),
        epicor_max_calls_per_second=max(0.0, env_float("EPICOR_MAX_CALLS_PER_SECOND", 0.0)),
        epicor_limit_cooldown=max(0.0, env_float("EPICOR_LIMIT_COOLDOWN_SECONDS", 10.0)),
        epicor_limit_raise_interval=max(0.0, env_float("EPICOR_LIMIT_RAISE_SECONDS", 5.0)),
        epicor_slow_call_seconds=max(0.0, env_float("EPICOR_SLOW_CALL_SECONDS", 10.0)),
        budget_heartbeat=min(max(0.1, env_float("BUDGET_HEARTBEAT_SECONDS", 1.0)), 5.0),
    )
    values["stripe_max_calls_per_second"] = max(0.0, env_float(
        "STRIPE_MAX_CALLS_PER_SECOND", stripe_default_rate(values["stripe_api_key"], values["stripe_api_base"])))
    redis_settings = load_redis_settings()
    secrets = tuple(s for s in (
        values["stripe_api_key"], values["epicor_api_key"], values["epicor_password"],
        *values["stripe_webhook_secrets"], *values["epicor_webhook_secrets"],
        redis_settings.password, redis_settings.sentinel_password,
    ) if s)
    return Settings(**values, secrets=secrets, redis=redis_settings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
