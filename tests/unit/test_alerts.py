"""Alerts: Slack-compatible JSON to the webhook, rate-limited in Redis, never a secret or a card number."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from tasks import alerts
from tasks.settings import get_settings

HOOK = "https://hooks.chat.example/services/T000/B000/XXXXSECRET"


@pytest.fixture()
def hook(monkeypatch, fake_redis):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", HOOK)
    monkeypatch.setenv("ALERT_MAX_PER_WINDOW", "3")
    monkeypatch.setenv("ALERT_WINDOW_SECONDS", "600")
    monkeypatch.setenv("ALERT_DLQ_THRESHOLD", "10")
    with responses.RequestsMock() as mock:
        mock.post(HOOK, json={"ok": True})
        yield mock


def posted(mock) -> list[str]:
    return [json.loads(call.request.body)["text"] for call in mock.calls]


def new_dead_letter(n: int = 1, message: str = "PartNum 'X-1' is not in Epicor") -> bool:
    return alerts.dead_letter_alert(event_id=f"evt_{n}", event_type="charge.succeeded", stage="validate",
                                    reason="validation.unknown_part", message=message, depth=n)


def test_new_dead_letter_posts_slack_json_naming_the_event_and_the_fix(hook):
    assert new_dead_letter() is True
    (call,) = hook.calls
    assert call.request.headers["Content-Type"] == "application/json"
    body = json.loads(call.request.body)
    assert list(body) == ["text"]
    assert "evt_1" in body["text"] and "validation.unknown_part" in body["text"]
    assert "PartNum 'X-1' is not in Epicor" in body["text"]
    assert "celery -A tasks dlq retry evt_1" in body["text"]


def test_alert_is_logged_even_without_a_webhook(monkeypatch, fake_redis, caplog):
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    with caplog.at_level(logging.WARNING, logger="tasks.alerts"):
        assert new_dead_letter() is False
    assert any("evt_1" in record.getMessage() for record in caplog.records)


def test_an_outage_sends_a_handful_not_thousands(hook):
    sent = [new_dead_letter(n) for n in range(1, 201)]
    texts = posted(hook)
    assert sent.count(True) == 4 and len(texts) == 4
    assert all("Dead-lettered" in text for text in texts[:3])
    assert texts[3].startswith("Alert limit reached (3 per 600 s)")


def test_the_next_window_reports_how_many_were_held_back(hook, fake_redis):
    for n in range(1, 11):
        new_dead_letter(n)
    fake_redis.delete(alerts.WINDOW_KEY)  # the window expired
    new_dead_letter(11)
    assert posted(hook)[-1].endswith("| 7 earlier alert(s) were held back by the rate limit")
    new_dead_letter(12)
    assert "held back" not in posted(hook)[-1]


def test_depth_alert_above_threshold_once_per_window(hook):
    assert alerts.depth_alert(10) is False
    assert alerts.depth_alert(11) is True
    assert alerts.depth_alert(50) is False
    (text,) = posted(hook)
    assert text.startswith("Dead-letter queue holds 11 records (threshold 10)")


def test_secrets_and_card_numbers_never_leave(hook, monkeypatch, caplog):
    monkeypatch.setenv("EPICOR_PASSWORD", "epicor-password-456")
    get_settings.cache_clear()
    try:
        message = (f"Epicor said: bad password epicor-password-456 for card 4242 4242 4242 4242 "
                   f"and 4000056655665556, key {get_settings().stripe_api_key}, hook {HOOK}")
        with caplog.at_level(logging.WARNING, logger="tasks.alerts"):
            new_dead_letter(message=message)
        (text,) = posted(hook)
        logged = " ".join(record.getMessage() for record in caplog.records)
        for leaked in ("epicor-password-456", "4242 4242 4242 4242", "4000056655665556",
                       get_settings().stripe_api_key, HOOK):
            assert leaked not in text and leaked not in logged
        assert "evt_1" in text and "[card number removed]" in text
    finally:
        get_settings.cache_clear()


def test_a_broken_webhook_never_breaks_the_pipeline(monkeypatch, fake_redis):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", HOOK)
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=500)
        assert new_dead_letter(1) is False
    with responses.RequestsMock() as mock:
        mock.post(HOOK, body=requests.ConnectionError("refused"))
        assert new_dead_letter(2) is False
