"""Alerts for the person on call: a new dead-letter record, and a dead-letter queue above its threshold.

Each alert is logged and, when ``ALERT_WEBHOOK_URL`` is set, POSTed as Slack-compatible JSON
(``{"text": …}``; Slack, Mattermost, Rocket.Chat and most chat webhooks take it). Policy:

- **Rate-limited across all workers.** At most ``ALERT_MAX_PER_WINDOW`` alerts per
  ``ALERT_WINDOW_SECONDS``, counted in Redis by one Lua script. The first alert past the limit says
  that further alerts are held back; the first alert of a later window says how many were. An Epicor
  outage that dead-letters thousands of events therefore sends a handful of messages.
- **Depth.** When the queue holds more than ``ALERT_DLQ_THRESHOLD`` records, one depth alert per window.
- **Nothing sensitive.** Texts carry event ids, the event type, stage, reason code and the error
  message, with every configured secret and anything shaped like a card number masked; never stage
  inputs, payloads or the webhook address itself (a Slack webhook URL is a credential: it may come
  from ``ALERT_WEBHOOK_URL_FILE``).
- **Never in the way.** A webhook that fails or is slow (``ALERT_TIMEOUT`` seconds) is logged and
  dropped; alerts never fail or delay a pipeline task.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import requests

from tasks import store
from tasks.settings import env_float, env_int, env_value, get_settings

log = logging.getLogger(__name__)

CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
WINDOW_KEY = store.key("alerts", "window")
SUPPRESSED_KEY = store.key("alerts", "suppressed")

# KEYS: this window's counter, the held-back counter. ARGV: limit, window seconds.
# Returns {verdict, held back so far}: 'send' (with the count to report), 'limit' or 'suppress'.
_ADMIT = """
local sent = redis.call('INCR', KEYS[1])
if sent == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if sent <= tonumber(ARGV[1]) then
  local held = tonumber(redis.call('GET', KEYS[2]) or '0')
  if held > 0 then redis.call('DEL', KEYS[2]) end
  return {'send', held}
end
redis.call('INCR', KEYS[2])
if sent == tonumber(ARGV[1]) + 1 then return {'limit', 0} end
return {'suppress', 0}
"""


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str
    max_per_window: int
    window_seconds: int
    dlq_threshold: int
    timeout: float


def alert_settings() -> AlertSettings:
    return AlertSettings(webhook_url=env_value("ALERT_WEBHOOK_URL") or "",
                         max_per_window=env_int("ALERT_MAX_PER_WINDOW", 5),
                         window_seconds=max(1, env_int("ALERT_WINDOW_SECONDS", 600)),
                         dlq_threshold=env_int("ALERT_DLQ_THRESHOLD", 25),
                         timeout=env_float("ALERT_TIMEOUT", 5.0))


def safe_text(text: str) -> str:
    """``text`` with configured secrets and card-number-shaped digit runs masked."""
    secrets = (*get_settings().secrets, env_value("ALERT_WEBHOOK_URL") or "")
    for secret in (s for s in secrets if len(s) >= 4):
        text = text.replace(secret, "[redacted]")
    return CARD_NUMBER.sub("[card number removed]", text)


def dead_letter_alert(*, event_id: str, event_type: str | None, stage: str, reason: str, message: str,
                      depth: int) -> bool:
    """Announce one new dead-letter record; True when a message was posted."""
    text = (f"Dead-lettered: {event_type or 'event'} {event_id} failed at {stage} ({reason}): {message} "
            f"| dead-letter queue: {depth} | after fixing the cause: celery -A tasks dlq retry {event_id}")
    return send(text, kind="dead_letter")


def depth_alert(depth: int) -> bool:
    """Announce a queue above the threshold, once per window; True when a message was posted."""
    settings = alert_settings()
    if depth <= settings.dlq_threshold:
        return False
    if not store.client().set(store.key("alerts", "depth"), depth, nx=True, ex=settings.window_seconds):
        return False
    text = (f"Dead-letter queue holds {depth} records (threshold {settings.dlq_threshold}): "
            "see celery -A tasks dlq list, or Flower's dead_letter queue")
    return send(text, kind="depth")


def send(text: str, *, kind: str) -> bool:
    """Log and post one alert through the rate limiter; True when a message was posted."""
    settings = alert_settings()
    verdict, held = _admit(settings)
    if verdict == "suppress":
        log.warning("alert held back by the rate limit (%s)", kind)
        return False
    if verdict == "limit":
        text = (f"Alert limit reached ({settings.max_per_window} per {settings.window_seconds} s): further "
                "alerts are held back; see celery -A tasks dlq list")
    elif held:
        text += f" | {held} earlier alert(s) were held back by the rate limit"
    text = safe_text(text)
    log.warning("alert (%s): %s", kind, text)
    return _post(settings, text)


def _admit(settings: AlertSettings) -> tuple[str, int]:
    """The rate limiter's verdict; a window opens with the first alert and lasts ``window_seconds``."""
    verdict, held = store.client().eval(_ADMIT, 2, WINDOW_KEY, SUPPRESSED_KEY, settings.max_per_window,
                                        settings.window_seconds)
    return str(verdict), int(held)


def _post(settings: AlertSettings, text: str) -> bool:
    if not settings.webhook_url:
        return False
    try:
        response = requests.post(settings.webhook_url, json={"text": text}, timeout=settings.timeout)
    except requests.RequestException as exc:
        log.warning("alert webhook unreachable: %s", type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("alert webhook answered %s", response.status_code)
        return False
    return True
