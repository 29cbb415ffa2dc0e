"""Raw email/phone fields are found however the JSON spells their keys, and removed."""

from __future__ import annotations

import json

import pytest

from funnelwatch.processors.source.rawcontacts import without_raw_contacts

FORM = {"event_type": "form_submission", "event_id": "f1", "lead_id": "L1", "utm_term": "ü"}


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({**FORM, "email": "jane@example.com"}).encode(),
        json.dumps({**FORM, "phone": "+49 30 1234567", "email": None}).encode(),
        # keys spelled with JSON escapes decode to the same keys
        b'{"event_id": "f1", "\\u0065mail": "jane@example.com"}',
        b'{"event_id": "f1", "\\u0070\\u0068\\u006f\\u006E\\u0065": "+4930123456"}',
        b'{"event_id": "f1", "e\\u006Dail": "jane@example.com"}',
        b'{"event_id": "f1", "\\u0070hone": "+4930123456"}',
        json.dumps({**FORM, "email": "jane@example.com"}, ensure_ascii=False).encode(),
    ],
)
def test_a_record_with_raw_contact_keys_is_re_encoded_without_them(raw: bytes) -> None:
    stripped = without_raw_contacts(raw)
    assert stripped is not None
    data = json.loads(stripped)
    assert "email" not in data and "phone" not in data
    assert data["event_id"] == "f1"
    assert b"jane" not in stripped and b"1234567" not in stripped and b"30123456" not in stripped


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        json.dumps(FORM).encode(),
        # the words alone, in values or nested, are no raw contact fields
        json.dumps({**FORM, "utm_term": "email phone"}).encode(),
        json.dumps({**FORM, "extra": {"email": "x"}}).encode(),
        b'["email", "phone"]',
        b'{"email": ',  # malformed: no fields to remove
    ],
)
def test_a_record_without_raw_contact_keys_is_left_as_it_is(raw: bytes | None) -> None:
    assert without_raw_contacts(raw) is None
