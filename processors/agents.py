"""The Faust agents: thin glue between topics, tables and the pure logic.

Each agent runs with concurrency 1: with more, Faust can commit an offset past an
event still in flight (faust-streaming issue 606), breaking at-least-once.
Agents emit with ``await topic.send``; Faust flushes the producer before it commits
offsets, so an event's outputs are in Kafka before its offset is committed.

Topology::

    ad-clicks, form-submissions, crm-events --route--> by-click (click_id) / by-lead (lead_id)
                                                       \\-> dead-letter
    by-click --join_click [tables clicks, waiting_for_click]--> facts, by-lead
    by-lead  --join_lead  [table leads]--> facts
    facts    --sink (own consumer, batches, commit after ClickHouse)--> ClickHouse
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from faust import StreamT

from funnelwatch.schemas.contracts import InvalidEvent, to_json_dict, validate_raw

from . import metrics
from .attribution import (
    Attribution,
    add_crm,
    add_form,
    attribute_form,
    click_fact,
    click_segment,
    event_ms,
    facts_to_emit,
    lead_facts,
    new_lead_state,
)

if TYPE_CHECKING:
    from .app import Pipeline

log = logging.getLogger(__name__)


def register(p: Pipeline) -> None:
    """Attach the agents to ``p.app``."""
    app, s = p.app, p.settings
    hold_ms = s.attribution_hold_seconds * 1000

    @app.agent(p.sources, name="route", concurrency=1)
    async def route(stream: StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            msg = event.message
            try:
                ev = validate_raw(event.value, p.limits)
            except InvalidEvent as exc:
                metrics.DEAD_LETTERS.labels(reason=exc.reason, topic=msg.topic).inc()
                await p.dead_letter.send(
                    key=msg.key,
                    value=event.value,
                    headers=[
                        ("reason", exc.reason.encode()),
                        ("error", str(exc)[:2000].encode()),
                        ("source_topic", msg.topic.encode()),
                        ("source_partition", str(msg.partition).encode()),
                        ("source_offset", str(msg.offset).encode()),
                    ],
                )
                continue
            metrics.EVENTS_IN.labels(event_type=ev.event_type).inc()
            metrics.LAST_EVENT_TIME.labels(source=ev.event_type).set(ev.event_time.timestamp())
            body = {"event": to_json_dict(ev), "src": [msg.topic, msg.partition, msg.offset]}
            wire = body["event"]
            if ev.event_type == "ad_click":
                await p.by_click.send(key=wire["click_id"], value={"kind": "click", **body})
            elif ev.event_type == "form_submission" and wire.get("click_id"):
                await p.by_click.send(key=wire["click_id"], value={"kind": "form", **body})
            elif ev.event_type == "form_submission":
                attr = attribute_form(wire, None)
                metrics.ATTRIBUTIONS.labels(method=attr.method).inc()
                await p.by_lead.send(
                    key=wire["lead_id"], value={"kind": "form", "attr": attr.to_dict(), **body}
                )
            else:
                await p.by_lead.send(key=wire["lead_id"], value={"kind": "crm", **body})
        yield None  # pragma: no cover - keeps this an async generator for Faust

    @app.agent(p.by_click, name="join_click", concurrency=1)
    async def join_click(stream: StreamT[dict[str, Any]]) -> AsyncIterator[None]:
        async for msg in stream:
            ev, src = msg["event"], tuple(msg["src"])
            click_id = ev["click_id"]
            if msg["kind"] == "click":
                segment = click_segment(ev)
                p.clicks[click_id] = segment
                await p.facts.send(key=ev["event_id"], value=click_fact(ev, src))
                # Waiting forms are re-sent on every sight of the click (not deleted), so a
                # replayed click re-attributes them again even if the first sends were lost.
                for waiting in p.waiting_for_click.get(click_id) or []:
                    metrics.REATTRIBUTED.labels(parent="click").inc()
                    await _send_form(p, waiting["event"], waiting["src"], segment)
                continue
            segment = p.clicks.get(click_id)
            if segment is None:
                entries = [
                    w
                    for w in p.waiting_for_click.get(click_id) or []
                    if w["event"]["event_id"] != ev["event_id"]
                    and event_ms(ev) - event_ms(w["event"]) <= hold_ms
                ]
                p.waiting_for_click[click_id] = [*entries, {"event": ev, "src": list(src)}]
            await _send_form(p, ev, list(src), segment)
        yield None  # pragma: no cover

    @app.agent(p.by_lead, name="join_lead", concurrency=1)
    async def join_lead(stream: StreamT[dict[str, Any]]) -> AsyncIterator[None]:
        async for msg in stream:
            ev, src = msg["event"], tuple(msg["src"])
            lead_id = ev["lead_id"]
            state = p.leads.get(lead_id) or new_lead_state()
            before = lead_facts(lead_id, state, p.funnel)
            if msg["kind"] == "form":
                add_form(state, ev, Attribution.from_dict(msg["attr"]), src)
                if state["crm"]:
                    metrics.REATTRIBUTED.labels(parent="lead").inc()
            else:
                if not state["forms"]:
                    metrics.CRM_WITHOUT_LEAD.inc()
                add_crm(state, ev, src)
            state["rev"] += 1
            p.leads[lead_id] = state
            for fact in facts_to_emit(before, lead_facts(lead_id, state, p.funnel)):
                await p.facts.send(key=fact["event_id"], value=fact)
        yield None  # pragma: no cover

    @app.task  # type: ignore[untyped-decorator]
    async def sink() -> None:
        # Not an agent: see processors/sink_consumer.py for why it has its own consumer.
        await p.sink_consumer.run()


async def _send_form(
    p: Pipeline, form: dict[str, Any], src: list[Any], segment: dict[str, str] | None
) -> None:
    attr = attribute_form(form, segment)
    metrics.ATTRIBUTIONS.labels(method=attr.method).inc()
    await p.by_lead.send(
        key=form["lead_id"],
        value={"kind": "form", "event": form, "attr": attr.to_dict(), "src": src},
    )
