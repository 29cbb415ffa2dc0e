"""CRM webhooks as ingest endpoints: ``POST /ingest/crm/<provider>`` for HubSpot, Pipedrive,
amoCRM/Kommo and Bitrix24 (:mod:`funnelwatch.connectors.crm`).

Invariants:

* nothing is read from a delivery before the provider's own proof of origin holds
  (signature, basic auth or token: 401 with the reason otherwise, nothing produced);
* every status change is kept: a mapped one is produced to the crm topic (keyed by lead
  id, linked to no lead: under a marked unlinked lead id), an unmapped one is stored in
  ClickHouse (``crm_unmapped``) and counted; 200 only once Kafka acknowledged and
  ClickHouse stored everything, else 503 so the provider retries — deterministic event
  ids make the retry change nothing;
* the answer comes within the provider's own timeout: the whole handling is bounded by
  the provider's budget (:data:`BUDGET_SECONDS`) and ``ingest_ack_timeout_seconds``,
  whichever is shorter; ClickHouse work runs off the event loop (the pipeline's reader);
* raw e-mail addresses and phone numbers never leave the request: they are hashed with
  the contact salt for linking, and only hashes are stored or logged;
* rate limit: a verified provider is never throttled (refusing it only delays its
  retries); a client address whose requests fail verification spends its budget of
  :class:`~.ratelimit.HttpLimits` and, once spent, gets 429 before its body is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from funnelwatch.clickhouse import ClickHouse, ClickHouseError
from funnelwatch.connectors.contacts import ContactHashing, lead_for_contacts
from funnelwatch.connectors.crm import amocrm, bitrix24, hubspot, pipedrive
from funnelwatch.connectors.crm.events import crm_event, record_hashes, unlinked_lead_id
from funnelwatch.connectors.crm.mapping import CrmMapping, ProviderMapping, load_mapping
from funnelwatch.connectors.crm.model import Delivery, MalformedDelivery, Parsed
from funnelwatch.connectors.crm.signatures import Unauthorized
from funnelwatch.connectors.crm.store import insert_unmapped, unmapped_row
from funnelwatch.processors import metrics
from funnelwatch.schemas.contracts import InvalidEvent, validate_mapping

from .access import client_address
from .ingest import Rejection, read_bounded
from .produce import produce_acked
from .ratelimit import HttpLimits

if TYPE_CHECKING:
    from funnelwatch.processors.app import Pipeline
    from funnelwatch.settings import Settings

log = logging.getLogger(__name__)

#: seconds each provider's answer may take at most, inside the provider's own timeout:
#: HubSpot's webhooks API waits 5 s (workflows 30 s), Pipedrive 10 s, amoCRM/Kommo about
#: 2 s; Bitrix24 documents none for application handlers: a few seconds
BUDGET_SECONDS = {
    "hubspot": 4.0,
    "pipedrive": 8.0,
    "amocrm": 1.5,
    "kommo": 1.5,
    "bitrix24": 4.0,
}


@dataclass(frozen=True)
class Connector:
    """One endpoint: the mapping section it reads, its check and its parser."""

    section: str
    #: None while the provider's secret is not configured (the endpoint answers 503)
    verify: Callable[[Delivery], None] | None
    parse: Callable[[Delivery, ProviderMapping], Parsed]
    missing: str


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def connectors(settings: Settings) -> dict[str, Connector]:
    """The endpoints and their checks, from the configured secrets."""
    hs = _secret(settings.crm_hubspot_client_secret)
    pd_user, pd_password = (
        _secret(settings.crm_pipedrive_user) or "",
        _secret(settings.crm_pipedrive_password),
    )
    amo = _secret(settings.crm_amocrm_token)
    b24 = _secret(settings.crm_bitrix24_application_token)
    amo_verify = (lambda d: amocrm.verify(d, amo)) if amo else None
    amo_missing = "FUNNELWATCH_CRM_AMOCRM_TOKEN"
    return {
        "hubspot": Connector(
            "hubspot",
            (lambda d: hubspot.verify(d, hs)) if hs else None,
            hubspot.parse,
            "FUNNELWATCH_CRM_HUBSPOT_CLIENT_SECRET",
        ),
        "pipedrive": Connector(
            "pipedrive",
            (lambda d: pipedrive.verify(d, pd_user, pd_password)) if pd_password else None,
            pipedrive.parse,
            "FUNNELWATCH_CRM_PIPEDRIVE_USER and FUNNELWATCH_CRM_PIPEDRIVE_PASSWORD",
        ),
        "amocrm": Connector("amocrm", amo_verify, amocrm.parse, amo_missing),
        # Kommo is amoCRM's international edition: the same webhooks
        "kommo": Connector("amocrm", amo_verify, amocrm.parse, amo_missing),
        "bitrix24": Connector(
            "bitrix24",
            (lambda d: bitrix24.verify(d, b24)) if b24 else None,
            bitrix24.parse,
            "FUNNELWATCH_CRM_BITRIX24_APPLICATION_TOKEN",
        ),
    }


@dataclass
class Outcome:
    produced: int = 0
    unmapped: int = 0
    unlinked: int = 0


def register_crm(pipeline: Pipeline) -> None:
    """Attach ``POST /ingest/crm/<provider>`` to the pipeline's Faust app."""
    app, settings, reader = pipeline.app, pipeline.settings, pipeline.reader
    topic = pipeline.catalogue.crm.name
    endpoints = connectors(settings)
    mapping: CrmMapping | None = None
    mapping_problem = "CRM connectors are off: set FUNNELWATCH_CRM_MAPPING_FILE"
    if settings.crm_mapping_file is not None:
        try:
            mapping = load_mapping(settings.crm_mapping_file)
        except ValueError as exc:
            # the worker still serves everything else; the endpoints say what is wrong
            log.error("%s", exc)
            mapping_problem = f"CRM connectors are off: {exc}"
    limits = HttpLimits.of(
        settings.rate_limit_per_second,
        settings.rate_limit_per_client_per_second,
        settings.rate_limit_burst,
    )
    hashing = ContactHashing.from_settings(settings)
    limit = settings.ingest_max_body_bytes

    def delivery_of(request: Any, body: bytes) -> Delivery:
        base = settings.crm_public_url.rstrip("/") or f"{request.scheme}://{request.host}"
        return Delivery(
            method=request.method,
            uri=base + request.raw_path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query={k: v for k, v in request.query.items()},
            body=body,
        )

    async def handle(provider: str, parsed: Parsed, section: ProviderMapping) -> Outcome:
        outcome = Outcome()
        now = datetime.now(UTC)
        held: list[tuple[Any, ...]] = []
        events: list[tuple[bytes, bytes]] = []
        counted: list[tuple[str, str]] = []
        for record in parsed.records:
            hashes = record_hashes(record, hashing)
            status = section.status_of(record.pipeline, record.stage, record.object_status)
            if status is None:
                held.append(unmapped_row(record, hashes, now))
                counted.append(("unmapped", record.pipeline))
                continue
            lead, how = record.lead_id, "lead_id"
            if lead is None and hashes:
                lead, how = await reader.run(partial(_lead_of, hashes)), "contact"
            if lead is None:
                lead, how = unlinked_lead_id(record), "unlinked"
            event = crm_event(record, status, lead)
            try:
                validate_mapping(event, pipeline.limits)
            except InvalidEvent as exc:
                raise Rejection(
                    400, f"record {record.event_id} is not a valid crm_event: {exc}"
                ) from None
            events.append((lead.encode(), _json(event)))
            counted.append((f"produced_{how}", record.pipeline))
        if held:
            await reader.run(lambda client: insert_unmapped(client, held))
        if events:
            await produce_acked(app.producer, topic, events, settings.ingest_ack_timeout_seconds)
        for kind, pipeline_id in counted:
            metrics.CRM_RECORDS.labels(provider=provider, outcome=kind).inc()
            if kind == "unmapped":
                metrics.CRM_UNMAPPED.labels(provider=provider, pipeline=pipeline_id).inc()
                outcome.unmapped += 1
            else:
                outcome.produced += 1
                outcome.unlinked += kind == "produced_unlinked"
        for reason, n in parsed.ignored.items():
            metrics.CRM_RECORDS.labels(provider=provider, outcome=f"ignored_{reason}").inc(n)
        return outcome

    def refuse(web: View, provider: str, outcome: str, status: int, message: str) -> Response:
        metrics.CRM_DELIVERIES.labels(provider=provider, outcome=outcome).inc()
        return web.json({"error": message}, status=status)

    class CrmView(View):
        async def post(self, request: Request, provider: str) -> Response:
            endpoint = endpoints.get(provider)
            if endpoint is None:
                return self.json(
                    {"error": f"unknown CRM {provider!r}: one of {', '.join(endpoints)}"},
                    status=404,
                )
            client = client_address(request)
            started = time.monotonic()
            budget = min(settings.ingest_ack_timeout_seconds, BUDGET_SECONDS[provider])
            wait = limits.per_client.retry_after(client)
            if wait > 0:
                response = refuse(self, provider, "rate_limited", 429, "too many failed deliveries")
                response.headers["Retry-After"] = str(max(1, round(wait)))
                return response
            if mapping is None:
                return refuse(self, provider, "disabled", 503, mapping_problem)
            if endpoint.verify is None:
                return refuse(
                    self, provider, "disabled", 503, f"{provider} is off: set {endpoint.missing}"
                )
            try:
                delivery = delivery_of(request, await read_bounded(request, limit))
                endpoint.verify(delivery)
            except Rejection as rejection:
                return refuse(self, provider, "malformed", rejection.status, rejection.message)
            except Unauthorized as exc:
                limits.admit(f"crm:{provider}", client)
                log.warning("CRM %s: refused a delivery from %s: %s", provider, client, exc.reason)
                return refuse(self, provider, "unauthorized", 401, exc.reason)
            try:
                parsed = endpoint.parse(delivery, mapping.of(endpoint.section))
                remaining = max(0.1, budget - (time.monotonic() - started))
                outcome = await asyncio.wait_for(
                    handle(provider, parsed, mapping.of(endpoint.section)), remaining
                )
            except MalformedDelivery as exc:
                return refuse(
                    self, provider, "malformed", 400, f"malformed {provider} delivery: {exc}"
                )
            except Rejection as rejection:
                kind = "unavailable" if rejection.status == 503 else "malformed"
                return refuse(self, provider, kind, rejection.status, rejection.message)
            except (TimeoutError, ClickHouseError) as exc:
                log.warning("CRM %s: delivery not kept in time: %r", provider, exc)
                return refuse(
                    self,
                    provider,
                    "unavailable",
                    503,
                    "the delivery could not be kept in time; retry (event ids make it safe)",
                )
            metrics.CRM_DELIVERIES.labels(provider=provider, outcome="accepted").inc()
            return self.json(
                {
                    "produced": outcome.produced,
                    "unlinked": outcome.unlinked,
                    "unmapped": outcome.unmapped,
                    "ignored": sum(parsed.ignored.values()),
                },
                status=200,
            )

    app.page("/ingest/crm/{provider}")(CrmView)


def _lead_of(hashes: tuple[str, ...], client: ClickHouse) -> str | None:
    lead: str | None = lead_for_contacts(client, hashes)
    return lead


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
