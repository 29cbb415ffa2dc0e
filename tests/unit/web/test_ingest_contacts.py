"""The ingest replaces a form's raw email/phone by their salted hashes, and never lets a
raw value through: not into the events it returns, not into a problem it reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from funnelwatch.connectors.contacts import ContactHashing, contact_hashes
from funnelwatch.processors.web.ingest import Rejection, parse_events
from funnelwatch.schemas.contracts import Limits

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
HASHING = ContactHashing(SecretStr("unit-salt"), "DE")
EMAIL, PHONE = "Jane.Doe@Example.com", "030 1234567"


def form(**kw: Any) -> dict[str, Any]:
    event = {
        "event_type": "form_submission",
        "event_id": "f1",
        "event_time": "2026-11-01T11:59:00Z",
        "schema_version": 1,
        "lead_id": "L1",
        "form_id": "demo",
        "form_type": "demo",
    }
    event.update(kw)
    return event


def _parse(endpoint: str, *events: dict[str, Any], hashing: ContactHashing | None = HASHING
           ) -> list[dict[str, Any]]:  # fmt: skip
    return parse_events(json.dumps(list(events)).encode(), endpoint, Limits(), NOW,
                        contacts=hashing)  # fmt: skip


def test_a_forms_email_and_phone_become_its_contact_hashes() -> None:
    (event,) = _parse("forms", form(email=EMAIL, phone=PHONE))
    assert "email" not in event and "phone" not in event
    assert event["contact_hashes"] == list(
        contact_hashes(SecretStr("unit-salt"), "jane.doe@example.com", "+49301234567")
    )


def test_hashes_the_form_already_carries_are_kept_once() -> None:
    (mine,) = contact_hashes(SecretStr("unit-salt"), email=EMAIL)
    (event,) = _parse("forms", form(email=EMAIL, contact_hashes=[mine]))
    assert event["contact_hashes"] == [mine]


def test_an_unusable_address_is_dropped_and_the_form_kept() -> None:
    (event,) = _parse("forms", form(email="not an address", phone=None))
    assert "email" not in event and "phone" not in event and "contact_hashes" not in event


def _problems(call: Any) -> tuple[dict[str, Any], ...]:
    with pytest.raises(Rejection) as err:
        call()
    assert err.value.status == 400
    return err.value.problems


def test_without_a_salt_a_form_with_contacts_is_refused_without_echoing_them() -> None:
    problems = _problems(lambda: _parse("forms", form(email=EMAIL, phone=PHONE), hashing=None))
    assert "FUNNELWATCH_CONTACT_HASH_SALT" in problems[0]["message"]
    assert EMAIL not in json.dumps(problems) and PHONE not in json.dumps(problems)


def test_without_a_salt_a_form_without_contacts_is_accepted() -> None:
    assert _parse("forms", form(email=None), hashing=None) == [form()]


@pytest.mark.parametrize("endpoint,event", [
    ("crm", {"event_type": "crm_event", "event_id": "c1", "event_time": "2026-11-01T11:59:00Z",
             "schema_version": 1, "lead_id": "L1", "status": "contacted", "email": EMAIL}),
    ("forms", form(phone=4930123456)),
])  # fmt: skip
def test_contacts_on_another_event_or_of_another_type_are_refused(
    endpoint: str, event: dict[str, Any]
) -> None:
    problems = _problems(lambda: _parse(endpoint, event))
    assert problems[0]["field"] in ("email", "phone")
    assert EMAIL not in json.dumps(problems) and "4930123456" not in json.dumps(problems)


def test_a_form_invalid_otherwise_is_reported_without_its_contacts() -> None:
    problems = _problems(lambda: _parse("forms", form(email=EMAIL, lead_id=None)))
    assert [p["field"] for p in problems] == ["lead_id"]
    assert "jane" not in json.dumps(problems).lower()
