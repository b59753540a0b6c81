"""Dead letters grouped by cause (ids and times do not split a group) and shown with secrets masked."""

from __future__ import annotations

from tasks import dlq


def record(event_id: str, message: str, reason: str = "validation.unknown_part", at: float = 1.0) -> dict:
    return {"id": event_id, "reason": reason, "stage": "validate", "message": message,
            "first_failed_at": at, "last_failed_at": at + 1}


def test_messages_differing_only_by_ids_and_times_are_one_group():
    records = [record("evt_1", "PartNum 'NEWPART-9' is not in Epicor (pi_3AbCdEfGh1, 2026-12-05T10:00:00Z)"),
               record("evt_2", "PartNum 'NEWPART-9' is not in Epicor (pi_3ZyXwVuTs2, 2026-12-06T11:30:00Z)", at=0.5),
               record("evt_3", "PartNum 'OTHER-1' is not in Epicor (pi_3AbCdEfGh3, 2026-12-05T10:00:00Z)")]
    groups = dlq.groups(records)
    assert [group["count"] for group in groups] == [2, 1]
    assert groups[0]["event_ids"] == ["evt_1", "evt_2"] and groups[0]["first_failed_at"] == 0.5
    assert "NEWPART-9" in groups[0]["message"] and "pi_3" not in groups[0]["message"]
    assert groups[1]["message"].startswith("PartNum 'OTHER-1'")


def test_the_same_message_with_another_reason_is_another_group():
    assert dlq.group_key(record("evt_1", "m")) != dlq.group_key(record("evt_1", "m", reason="epicor.business_rule"))


def test_shown_masks_secret_shapes_and_credential_fields_at_any_depth():
    shown = dlq.shown({"stage_input": {"headers": {"Authorization": "Basic abc"}, "items": [
        {"note": "whsec_AbC123 and sk_test_51Xyz"}], "password": "p", "amount": 4500, "email": "ap@acme.example"}})
    text = repr(shown)
    assert "Basic abc" not in text and "whsec_AbC123" not in text and "sk_test_51Xyz" not in text
    assert shown["stage_input"]["amount"] == 4500 and shown["stage_input"]["email"] == "ap@acme.example"
