"""Epicor Kinetic REST connector: the only place the pipeline talks HTTP to Epicor.

It speaks ``reference/epicor-contract.md`` exactly: v2 OData URLs with ``x-api-key`` (or v1 with the
``CallSettings`` header), Basic auth on every call, JSON in and out, entity-set reads and writes.

Error policy (contract §3): every non-2xx answer is turned into one of the pipeline's typed errors,
keeping Epicor's ``ErrorMessage``. Licence exhaustion, 5xx, timeouts and connection errors are
retryable; business rules, bad requests and credentials are permanent; 409 on a create is reported as
``AlreadyExists`` so the caller looks the row up and carries on. Reads and updates are retried here
for second-scale blips (tenacity); creates are never blindly re-sent, because a create that timed out
may have committed: callers look up by external reference first (``ensure``), and that whole
look-up-then-create step is what gets retried.

Load policy: at most ``EPICOR_MAX_CONCURRENCY`` calls are in flight in the whole deployment (every
worker process on every host; ``tasks.budget``), whatever the thread counts, so a burst of Stripe
events keeps Epicor busy without overrunning its app server or its integration licences; a call that
cannot get a permit within the timeout is retryable. Licence refusals, 429, 503, timeouts and slow
answers tell the budget to halve that limit for a while (it climbs back by itself); the call itself
is retried with backoff as before, never dead-lettered for it.
Each worker thread keeps one ``requests.Session``, so connections (and TLS sessions) are reused; it
reads the environment's proxy and CA bundle settings for the Epicor host once (``connectors.http``).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from tasks import budget, liveness
from tasks.connectors.http import PinnedSession, tls_verification
from tasks.errors import PermanentError, RetryableError
from tasks.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 100
LICENCE_RETRY_AFTER = 30.0
_JSON_BODY = {"Content-Type": "application/json"}


class EpicorError(PermanentError):
    """A permanent error answered by Epicor, with its own message and type."""

    reason = "epicor.rejected"

    def __init__(self, message: str, *, status: int, error_type: str = "", reason: str | None = None,
                 field: str = ""):
        super().__init__(message, reason=reason)
        self.status = status
        self.error_type = error_type
        self.field = field  # ErrorDetails[0].Field: the column a business rule refused (a reference code …)


class EpicorUnavailable(RetryableError):
    reason = "epicor.unavailable"


class AlreadyExists(EpicorError):
    """409 on create: the row is there (maybe our own earlier, timed-out create)."""

    reason = "epicor.duplicate"


class NotFound(EpicorError):
    reason = "epicor.not_found"


def odata_literal(value: str | int | bool) -> str:
    """A value as it appears in ``$filter`` or a key segment: strings quoted, quotes doubled."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def eq_filter(**fields: str | int | bool) -> str:
    return " and ".join(f"{name} eq {odata_literal(value)}" for name, value in fields.items())


def classify_response(response: requests.Response) -> Exception:
    """Turn a non-2xx Epicor answer into a typed error (closed by default: unknown is permanent)."""
    body = _error_body(response)
    message = str(body.get("ErrorMessage") or body.get("Message") or response.reason or "Epicor error")
    error_type = str(body.get("ErrorType") or "")
    status = response.status_code
    if "LicenseAccessException" in error_type or "Maximum users exceeded" in message:
        return EpicorUnavailable(f"Epicor has no free integration licence: {message}",
                                 reason="epicor.licence_exhausted", retry_after=LICENCE_RETRY_AFTER)
    if status >= 500 or status in (408, 429):
        return EpicorUnavailable(f"Epicor answered {status}: {message}", retry_after=_retry_after(response))
    if status == 409:
        return AlreadyExists(message, status=status, error_type=error_type)
    if status == 404:
        return NotFound(message, status=status, error_type=error_type)
    if status in (401, 403):
        return EpicorError(f"Epicor refused the credentials ({status}): {message}", status=status,
                           error_type=error_type, reason="epicor.auth")
    return EpicorError(message, status=status, error_type=error_type, reason="epicor.business_rule",
                       field=_refused_field(body))


def _refused_field(body: dict[str, Any]) -> str:
    details = body.get("ErrorDetails")
    first = details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else {}
    return str(first.get("Field") or "")


def _error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


# Answers that mean Epicor is overloaded: the deployment's limit is halved (tasks.budget).
_CONGESTION = frozenset({"epicor.licence_exhausted", "epicor.timeout"})


def _congestion(exc: EpicorUnavailable, status: int | None) -> bool:
    return exc.reason in _CONGESTION or status in (429, 503)


def _blip_retry(func: Callable[..., T]) -> Callable[..., T]:
    """Second-scale retries for idempotent calls; longer outages go back to Celery."""
    return retry(
        retry=retry_if_exception(lambda exc: isinstance(exc, EpicorUnavailable) and not _is_licence(exc)),
        stop=stop_after_attempt(3),
        wait=wait_exponential_jitter(multiplier=0.3, max=2.0, jitter=0.3),
        reraise=True,
    )(func)


def _is_licence(exc: BaseException) -> bool:
    return isinstance(exc, EpicorUnavailable) and exc.reason == "epicor.licence_exhausted"


class EpicorClient:
    """Thin client for the entity sets of the contract; built from settings, passed in."""

    def __init__(self, settings: Settings, session: requests.Session | None = None):
        settings.require_epicor()
        self.company = settings.epicor_company
        self.version = settings.epicor_api_version
        self.timeout = settings.epicor_timeout
        self.base_url = settings.epicor_base_url
        self.session = session if session is not None else PinnedSession(self.base_url, system="epicor")
        self.session.verify = tls_verification(settings.epicor_verify_tls)
        self.session.headers.update(self._auth_headers(settings))
        self.slots = budget.epicor_permits(settings)
        self.rate = budget.epicor_rate(settings)
        self.calls = 0

    def _auth_headers(self, settings: Settings) -> dict[str, str]:
        token = base64.b64encode(f"{settings.epicor_username}:{settings.epicor_password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        if self.version == "v2":
            headers["x-api-key"] = settings.epicor_api_key
        else:
            headers["CallSettings"] = json.dumps({"Company": self.company})
        return headers

    # -- URLs -------------------------------------------------------------------------------
    def url(self, service: str, entity: str) -> str:
        if self.version == "v2":
            return f"{self.base_url}/api/v2/odata/{self.company}/{service}/{entity}"
        return f"{self.base_url}/api/v1/{service}/{entity}"

    def key_segment(self, entity_set: str, keys: Iterable[str | int]) -> str:
        parts = [odata_literal(self.company), *(odata_literal(k) for k in keys)]
        return f"{entity_set}({','.join(parts)})"

    # -- transport --------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, query: dict[str, str] | None = None,
              body: dict[str, Any] | None = None) -> requests.Response:
        """One call: ``query`` goes in the URL, ``body`` as compact JSON."""
        self.calls += 1
        kwargs: dict[str, Any] = {}
        if query:
            kwargs["params"] = urlencode(query)  # as requests encodes a dict, minus its per-call type checks
        if body is not None:
            kwargs.update(data=_dumps(body), headers=_JSON_BODY)
        self._take_budget()
        started = time.monotonic()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            liveness.note_unreachable("epicor", "epicor.timeout")
            error = EpicorUnavailable(f"Epicor did not answer within {self.timeout:.0f} s", reason="epicor.timeout")
            self.slots.congested(error.reason)
            raise error from None
        except requests.ConnectionError:
            liveness.note_unreachable("epicor", "epicor.connection")
            raise EpicorUnavailable("Epicor could not be reached", reason="epicor.connection") from None
        finally:
            self.slots.release()
        if response.status_code >= 400:
            raise self._refusal(response)
        self.slots.observe(time.monotonic() - started)
        liveness.note_success("epicor")  # the console's health tile; throttled in memory (tasks.liveness)
        return response

    def _take_budget(self) -> None:
        """A permit of the deployment's EPICOR_MAX_CONCURRENCY, then a token of its calls per second."""
        if not self.slots.acquire(timeout=self.timeout):
            raise EpicorUnavailable("Every Epicor call permit stayed busy; EPICOR_MAX_CONCURRENCY bounds them",
                                    reason="epicor.busy")
        if not self.rate.acquire(timeout=self.timeout):
            self.slots.release()
            raise EpicorUnavailable("EPICOR_MAX_CALLS_PER_SECOND left no call free in time", reason="epicor.busy")

    def _refusal(self, response: requests.Response) -> Exception:
        """The typed error of a non-2xx answer; an overload answer lowers the deployment's limit."""
        if response.status_code >= 500:
            liveness.note_unreachable("epicor", f"epicor.http_{response.status_code}")
        error = classify_response(response)
        if isinstance(error, EpicorUnavailable) and _congestion(error, response.status_code):
            self.slots.congested(error.reason)
        return error

    # -- reads ------------------------------------------------------------------------------
    @_blip_retry
    def query(self, service: str, entity_set: str, filter: str, *, select: str | None = None,
              top: int | None = None) -> list[dict[str, Any]]:
        """Rows matching ``filter``; pages with $top/$skip until a short page (no nextLink)."""
        rows: list[dict[str, Any]] = []
        page = top or PAGE_SIZE
        while True:
            params = {"$filter": filter, "$top": str(page), "$skip": str(len(rows))}
            if select:
                params["$select"] = select
            batch = self._send("GET", self.url(service, entity_set), query=params).json().get("value", [])
            rows.extend(batch)
            if top is not None or len(batch) < page:
                return rows

    def find_one(self, service: str, entity_set: str, /, **fields: str | int | bool) -> dict[str, Any] | None:
        rows = self.query(service, entity_set, eq_filter(**fields), top=1)
        return rows[0] if rows else None

    @_blip_retry
    def get(self, service: str, entity_set: str, *keys: str | int) -> dict[str, Any] | None:
        try:
            return self._send("GET", self.url(service, self.key_segment(entity_set, keys))).json()
        except NotFound:
            return None

    # -- writes -----------------------------------------------------------------------------
    def create(self, service: str, entity_set: str, row: dict[str, Any]) -> dict[str, Any]:
        """POST one row; not retried here (see module docstring)."""
        return self._send("POST", self.url(service, entity_set), body=row).json()

    @_blip_retry
    def update(self, service: str, entity_set: str, keys: Iterable[str | int], changes: dict[str, Any]) -> None:
        self._send("PATCH", self.url(service, self.key_segment(entity_set, keys)), body=changes)

    def invoke(self, service: str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A custom method of contract §4b: POST with every parameter in the body, or GET for a method
        without input (``params`` None). Not retried here: a method may write (``CreateBankTranRecords``)."""
        if params is None:
            return self._send("GET", self.url(service, method)).json()
        return self._send("POST", self.url(service, method), body=params).json()

    def ensure(self, service: str, entity_set: str, lookup: dict[str, str | int], row: dict[str, Any],
               *, known_absent: bool = False) -> tuple[dict[str, Any], bool]:
        """Look up by external reference, create when absent; (row, created).

        ``known_absent`` skips the look-up when the caller has just created the parent this row
        hangs on, so it cannot exist yet. A 409 means it exists after all: look it up.
        """
        if not known_absent:
            found = self.find_one(service, entity_set, **lookup)
            if found:
                return found, False
        try:
            return self.create(service, entity_set, row), True
        except AlreadyExists:
            found = self.find_one(service, entity_set, **lookup)
            if found:
                return found, False
            raise


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":"))
