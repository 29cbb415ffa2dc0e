"""Unmapped CRM records in ClickHouse, on chDB and the Debian 18.16 server: a record
delivered twice counts once, its first and last delivery are kept, and its normalised
form (contact hashes, no raw contact) can be read back for replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from funnelwatch.clickhouse import connect
from funnelwatch.connectors.contacts import ContactHashing
from funnelwatch.connectors.crm import pipedrive
from funnelwatch.connectors.crm.events import record_hashes
from funnelwatch.connectors.crm.mapping import ProviderMapping
from funnelwatch.connectors.crm.store import (
    insert_unmapped,
    list_unmapped,
    unmapped_records,
    unmapped_row,
)
from funnelwatch.schemas.migrate import migrate
from tests.support.crm import CONTACT_SALT, PIPEDRIVE_LEAD_FIELD, delivery, pipedrive_deal

pytestmark = pytest.mark.integration


def test_unmapped_record_delivered_twice_is_listed_once_with_first_and_last_seen(
    clickhouse_url: str,
) -> None:
    stage = 1000 + uuid.uuid4().int % 10**6
    section = ProviderMapping(lead_id_field=PIPEDRIVE_LEAD_FIELD, email_field="email")
    body = pipedrive_deal(42, stage=stage, lead_id="lead-s")
    [record] = pipedrive.parse(delivery(body), section).records
    hashes = record_hashes(record, ContactHashing(SecretStr(CONTACT_SALT)))
    first = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    client = connect(clickhouse_url)
    try:
        migrate(client)
        insert_unmapped(client, [unmapped_row(record, hashes, first)])
        insert_unmapped(client, [unmapped_row(record, hashes, first + timedelta(minutes=5))])
        [listed] = [s for s in list_unmapped(client, "pipedrive") if s.stage == str(stage)]
        held = [r for r in unmapped_records(client, "pipedrive") if r["stage"] == str(stage)]
    finally:
        client.close()
    assert (listed.pipeline, listed.records) == ("1", 1)
    assert (listed.first_seen, listed.last_seen) == (first, first + timedelta(minutes=5))
    assert held == [record.normalised(hashes)]
    assert held[0]["lead_id"] == "lead-s"
