"""One closed error taxonomy for the whole pipeline.

Every failure a stage can meet is either a ``RetryableError`` (the same call may succeed later:
timeouts, connection errors, 5xx, 429, Epicor licence exhaustion, a prerequisite not posted yet) or a
``PermanentError`` (it will fail the same way until a person fixes data or configuration). Anything
that is not known to be retryable is permanent: an unknown exception is never retried forever.

A fault that is the operator's to fix (a setting, a mapping file, Epicor's set-up) is never
``internal.unexpected``: the worker refuses to start with such a configuration (``tasks.preflight``),
so one can only surface at run time if the environment changed under a running worker. It is then
``config.invalid`` and retryable: the event waits, with the reason on its record, for the operator to
fix the setting and restart the worker, instead of every event being dead-lettered for one setting.

Each error carries a short ``reason`` code (``epicor.business_rule``, ``mapping.unknown_part`` …)
that dashboards, alerts and dead-letter records group on, and a ``message`` written for the
accountant who has to act on it.
"""

from __future__ import annotations

import redis
import requests

from tasks.settings import ConfigError


class PipelineError(Exception):
    """Base of the taxonomy; never raised directly."""

    reason: str = "unknown"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {"error_class": type(self).__name__, "reason": self.reason, "message": self.message}


class RetryableError(PipelineError):
    """Transient: retry with backoff (``retry_after`` seconds when the server said so)."""

    reason = "transient"


class PermanentError(PipelineError):
    """Will not succeed by retrying: goes to the dead-letter queue for a person to fix."""

    reason = "permanent"


class MappingError(PermanentError):
    """Stripe data that the mapping tables cannot turn into an Epicor document."""

    reason = "mapping.invalid"


class ValidationFailed(PermanentError):
    """An Epicor document that breaks a schema or a business rule before it is sent."""

    reason = "validation.failed"


class PrerequisiteMissing(RetryableError):
    """A flow arrived before the one it depends on (a refund before its sale): wait and retry."""

    reason = "prerequisite.missing"


class ConfigurationFault(RetryableError):
    """A setting the worker cannot run with, met at run time: retried until the operator fixes it."""

    reason = "config.invalid"


# requests' errors for an address that can never be called (no scheme, a bad host): a setting's fault.
_BAD_ADDRESS = (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL)


MAPPING_FILE_REASON = "mapping.config"  # a mapping file that fails validation (tasks.mapping.tables)


def _configuration(exc: PipelineError) -> ConfigurationFault:
    return ConfigurationFault(f"Configuration: {exc.message}; fix it and restart the worker", retry_after=60.0)


def _redis_not_writable(exc: BaseException) -> bool:
    """A primary refusing writes for a while (Sentinel's failover, ``min-replicas-to-write`` unmet; README,
    "Redis high availability"): Redis away, not a fault of the event."""
    if isinstance(exc, (redis.exceptions.ReadOnlyError, redis.exceptions.MasterDownError)):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and "NOREPLICAS" in str(exc)  # a pipeline's says more


def classify(exc: BaseException) -> PipelineError:
    """Map any exception to the taxonomy; unknown means permanent.

    Redis itself going away (a restart, a fail-over) is the one infrastructure error known here: the
    stage did nothing it cannot repeat, so it is retried rather than dead-lettered. A configuration
    fault is retried too (module docstring); its message names the setting, never its value.
    """
    if isinstance(exc, PipelineError):
        return _configuration(exc) if exc.reason == MAPPING_FILE_REASON else exc
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.BusyLoadingError)) or _redis_not_writable(exc):
        return RetryableError(f"Redis is unavailable: {type(exc).__name__}", reason="redis.unavailable")
    if isinstance(exc, ConfigError):
        return ConfigurationFault(f"Configuration: {exc}; fix it and restart the worker", retry_after=60.0)
    if isinstance(exc, _BAD_ADDRESS):
        return ConfigurationFault(f"Configuration: a service address cannot be called ({type(exc).__name__}); "
                                  "check EPICOR_BASE_URL and STRIPE_API_BASE, then restart the worker",
                                  retry_after=60.0)
    return PermanentError(f"Unexpected error: {type(exc).__name__}: {exc}", reason="internal.unexpected")
