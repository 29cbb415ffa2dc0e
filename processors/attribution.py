"""Attribution of leads and CRM events to campaigns, as pure functions.

Rules (design brief):
- a lead goes to the campaign of the click its ``click_id`` names (method ``click``),
  else to its ``utm_campaign`` (``utm``), else to ``(unattributed)`` (``none``);
- a CRM event goes wherever its lead went (through the lead's earliest form);
  before any form of the lead has arrived it counts as ``(unattributed)``;
- nothing is dropped: an event that cannot be attributed is counted unattributed.

Order independence: when a parent arrives late (a click after its form, a form after
its CRM events), the children are emitted again with the better attribution and a
higher version, so the final state does not depend on arrival order as long as the
parent arrives within the hold time. The state kept per lead is a set of events
keyed by event_id, so replays and duplicates change nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from funnelwatch.schemas.funnel import Funnel

from .facts import Fact, Source, minute_of

UNATTRIBUTED = "(unattributed)"
UNKNOWN = "(unknown)"
RANKS = {"click": 3, "utm": 2, "none": 1}


@dataclass(frozen=True)
class Attribution:
    campaign_id: str
    channel: str
    ad_group_id: str
    device: str
    geo: str
    method: str

    @property
    def rank(self) -> int:
        return RANKS[self.method]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Attribution:
        return cls(**data)


NO_LEAD = Attribution(UNATTRIBUTED, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, "none")


def click_segment(click: dict[str, Any]) -> dict[str, str]:
    """What a stored click contributes to the leads that name it."""
    return {
        "campaign_id": click["campaign_id"],
        "channel": click["channel"],
        "ad_group_id": click["ad_group_id"],
        "device": click.get("device") or UNKNOWN,
        "geo": click.get("geo") or UNKNOWN,
    }


def attribute_form(form: dict[str, Any], click: dict[str, str] | None) -> Attribution:
    """Attribution of a form given the stored click segment of its click_id, if seen."""
    if click is not None:
        return Attribution(method="click", **click)
    if form.get("utm_campaign"):
        return Attribution(
            campaign_id=form["utm_campaign"],
            channel=form.get("utm_source") or UNKNOWN,
            ad_group_id=form.get("utm_content") or UNKNOWN,
            device=form.get("device") or UNKNOWN,
            geo=form.get("geo") or UNKNOWN,
            method="utm",
        )
    return Attribution(
        UNATTRIBUTED,
        UNKNOWN,
        UNKNOWN,
        form.get("device") or UNKNOWN,
        form.get("geo") or UNKNOWN,
        "none",
    )


def event_ms(event: dict[str, Any]) -> int:
    """Epoch milliseconds of a wire event's ``event_time`` (ISO 8601, validated)."""
    from funnelwatch.schemas.contracts import parse_event_time

    return int(parse_event_time(event["event_time"]).timestamp() * 1000)


def click_fact(click: dict[str, Any], source: Source) -> Fact:
    t = event_ms(click)
    seg = click_segment(click)
    return Fact(
        minute=minute_of(t),
        stage="click",
        event_id=click["event_id"],
        event_time_ms=t,
        attribution="click",
        lead_id="",
        click_id=click["click_id"],
        cost_micros=click["cost_micros"],
        revenue_micros=0,
        counted=1,
        version=1,
        source_topic=source[0],
        source_partition=source[1],
        source_offset=source[2],
        campaign_id=seg["campaign_id"],
        channel=seg["channel"],
        ad_group_id=seg["ad_group_id"],
        device=seg["device"],
        geo=seg["geo"],
    )


# ---- per-lead state ---------------------------------------------------------
# {"rev": int, "forms": {event_id: {...}}, "crm": {event_id: {...}}}; JSON-safe so it
# can live in a Faust table.


def new_lead_state() -> dict[str, Any]:
    return {"rev": 0, "forms": {}, "crm": {}}


def add_form(
    state: dict[str, Any], form: dict[str, Any], attr: Attribution, source: Source
) -> None:
    """Record a form with an attribution; a better-ranked attribution replaces a worse one."""
    known = state["forms"].get(form["event_id"])
    if known is not None and RANKS[known["attr"]["method"]] >= attr.rank:
        return
    state["forms"][form["event_id"]] = {
        "t": event_ms(form),
        "attr": attr.to_dict(),
        "click_id": form.get("click_id") or "",
        "src": list(source),
    }


def add_crm(state: dict[str, Any], crm: dict[str, Any], source: Source) -> None:
    state["crm"].setdefault(
        crm["event_id"],
        {
            "t": event_ms(crm),
            "status": crm["status"],
            "value": crm.get("deal_value_micros") or 0,
            "src": list(source),
        },
    )


def _earliest(items: dict[str, dict[str, Any]]) -> str | None:
    return min(items, key=lambda eid: (items[eid]["t"], eid)) if items else None


def lead_attribution(state: dict[str, Any]) -> Attribution:
    winner = _earliest(state["forms"])
    return NO_LEAD if winner is None else Attribution.from_dict(state["forms"][winner]["attr"])


def lead_facts(lead_id: str, state: dict[str, Any], funnel: Funnel) -> list[Fact]:
    """Every fact of one lead, as its state now says, all at version ``state['rev']``."""
    version = int(state["rev"])
    lead_stage = funnel.stage_names[1]
    facts: list[Fact] = []

    def fact(
        eid: str,
        item: dict[str, Any],
        stage: str,
        attr: Attribution,
        counted: bool,
        click_id: str,
        revenue: int,
    ) -> Fact:
        src = item["src"]
        return Fact(
            minute=minute_of(item["t"]),
            stage=stage,
            event_id=eid,
            event_time_ms=item["t"],
            campaign_id=attr.campaign_id,
            channel=attr.channel,
            ad_group_id=attr.ad_group_id,
            device=attr.device,
            geo=attr.geo,
            attribution=attr.method,
            lead_id=lead_id,
            click_id=click_id,
            cost_micros=0,
            revenue_micros=revenue,
            counted=int(counted),
            version=version,
            source_topic=src[0],
            source_partition=src[1],
            source_offset=src[2],
        )

    first_form = _earliest(state["forms"])
    for eid, item in state["forms"].items():
        attr = Attribution.from_dict(item["attr"])
        facts.append(fact(eid, item, lead_stage, attr, eid == first_form, item["click_id"], 0))

    attr = lead_attribution(state)
    by_stage: dict[str, dict[str, dict[str, Any]]] = {}
    for eid, item in state["crm"].items():
        stage = funnel.stage_for_status(item["status"])
        if stage is not None:
            by_stage.setdefault(stage, {})[eid] = item
    for stage, items in by_stage.items():
        first = _earliest(items)
        for eid, item in items.items():
            facts.append(fact(eid, item, stage, attr, eid == first, "", int(item["value"])))
    return facts


def _content(fact: Fact) -> tuple[Any, ...]:
    return (fact["minute"], fact["campaign_id"], fact["channel"], fact["ad_group_id"],
            fact["device"], fact["geo"], fact["attribution"], fact["counted"],
            fact["revenue_micros"])  # fmt: skip


def facts_to_emit(before: list[Fact], after: list[Fact]) -> list[Fact]:
    """The facts of a lead worth writing after one event.

    Only facts that are new or changed are re-sent, so a CRM event does not rewrite the
    lead's older minutes. An event that changed nothing (a duplicate, or a replay after
    a crash whose outputs may have been lost) re-sends every fact of the lead: that is
    what makes a replay repair whatever the crash left unwritten.
    """
    old = {(f["stage"], f["event_id"]): _content(f) for f in before}
    changed = [f for f in after if old.get((f["stage"], f["event_id"])) != _content(f)]
    return changed or after
