"""One closed error taxonomy for the whole pipeline.

Every failure a stage can meet is either a ``RetryableError`` (the same call may succeed later:
timeouts, connection errors, 5xx, 429, Epicor licence exhaustion, a prerequisite not posted yet) or a
``PermanentError`` (it will fail the same way until a person fixes data or configuration). Anything
that is not known to be retryable is permanent: an unknown exception is never retried forever.

Each error carries a short ``reason`` code (``epicor.business_rule``, ``mapping.unknown_part`` …)
that dashboards, alerts and dead-letter records group on, and a ``message`` written for the
accountant who has to act on it.
"""

from __future__ import annotations

import redis


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


def classify(exc: BaseException) -> PipelineError:
    """Map any exception to the taxonomy; unknown means permanent.

    Redis itself going away (a restart, a fail-over) is the one infrastructure error known here: the
    stage did nothing it cannot repeat, so it is retried rather than dead-lettered.
    """
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.BusyLoadingError)):
        return RetryableError(f"Redis is unavailable: {type(exc).__name__}", reason="redis.unavailable")
    return PermanentError(f"Unexpected error: {type(exc).__name__}: {exc}", reason="internal.unexpected")
