"""Contact hashes through one batch and its checkpoint (both backends): the hashes a form
carries land in ``lead_contacts`` with its lead, a replay changes nothing, and raw
``email``/``phone`` fields are never stored or copied to another topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.connectors.contacts import contact_hashes, lead_for_contacts
from funnelwatch.schemas.funnel import load_funnel
from tests.integration.processors.hotpath.test_batch import LEAD, OTHER, Rec, T, Worker
from tests.support import events

pytestmark = pytest.mark.integration

SALT = SecretStr("batch-test-salt")
EMAIL, PHONE = "jane.doe@example.com", "+49 30 1234567"


@pytest.fixture
def worker(client: ClickHouse, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(client, tmp_path / "state", load_funnel())
    yield w
    w.store.close()


def form(event_id: str, lead_id: str, t_ms: int, **fields: object) -> bytes:
    data = json.loads(events.form(event_id, lead_id, t_ms, utm_campaign="cmp-utm"))
    return events.encode({**data, **fields})


def _rows(worker: Worker) -> list[tuple[object, ...]]:
    return sorted(
        tuple(r)
        for r in worker.client.execute(
            "SELECT contact_hash, lead_id, lead_partition, event_id, event_time_ms "
            "FROM lead_contacts FINAL"
        )
    )


def test_a_forms_hashes_link_its_lead_and_a_replay_changes_nothing(worker: Worker) -> None:
    email, phone = contact_hashes(SALT, EMAIL, PHONE)
    value = form("f1", LEAD, T, contact_hashes=[email, phone])
    pending = worker.batch(Rec("forms", 1, 0, value))
    assert len(pending.contacts) == 2
    assert _rows(worker) == sorted([(email, LEAD, 1, "f1", T), (phone, LEAD, 1, "f1", T)])
    # the same address spelled otherwise finds the lead
    assert lead_for_contacts(worker.client, contact_hashes(SALT, " Jane.Doe@EXAMPLE.com")) == LEAD
    # read again (a crash before the commit): the facts do not change, the rows neither
    worker.batch(Rec("forms", 1, 0, value))
    assert _rows(worker) == sorted([(email, LEAD, 1, "f1", T), (phone, LEAD, 1, "f1", T)])


def test_the_most_recent_lead_of_a_shared_contact_is_the_one_found(worker: Worker) -> None:
    (email,) = contact_hashes(SALT, EMAIL)
    worker.batch(
        Rec("forms", 1, 0, form("f1", LEAD, T, contact_hashes=[email])),
        Rec("forms", 2, 0, form("f2", OTHER, T + 60_000, contact_hashes=[email])),
    )
    assert lead_for_contacts(worker.client, [email]) == OTHER
    assert lead_for_contacts(worker.client, contact_hashes(SALT, "someone@else.example")) is None


def test_a_form_without_contacts_writes_no_contact_row(worker: Worker) -> None:
    pending = worker.batch(Rec("forms", 1, 0, form("f1", LEAD, T)))
    assert pending.contacts == [] and len(pending.facts) == 1
    assert _rows(worker) == []


def test_raw_contact_fields_are_counted_and_never_stored_or_copied(worker: Worker) -> None:
    raw_form = form("f1", LEAD, T, email=EMAIL, phone=PHONE)
    invalid = form("f2", LEAD, T, email=EMAIL, form_id=None)
    pending = worker.batch(
        Rec("forms", 3, 0, raw_form, key_=LEAD.encode()),  # not the owner: forwarded
        Rec("forms", 1, 0, invalid),  # dead-lettered
    )
    assert pending.counts.raw_contacts == 2
    produced = worker.producer.calls
    assert {c["topic"] for c in produced} == {"by-lead", "dead-letter"}
    for call in produced:
        assert b"jane" not in call["value"] and b"1234567" not in call["value"]
    (forwarded,) = worker.producer.to("by-lead")
    at_owner = worker.batch(Rec("by-lead", 1, 0, forwarded["value"], key_=LEAD.encode(),
                                headers_=forwarded["headers"]))  # fmt: skip
    assert [f.event_id for f in at_owner.facts.leads] == ["f1"]  # the form still counts
    assert at_owner.counts.raw_contacts == 0 and _rows(worker) == []
