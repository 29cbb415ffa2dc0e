"""Attribution rules and the per-lead state that makes them order-independent."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from funnelwatch.processors.attribution import (
    UNATTRIBUTED,
    add_crm,
    add_form,
    attribute_form,
    click_segment,
    facts_to_emit,
    lead_facts,
    new_lead_state,
)
from funnelwatch.schemas.funnel import load_funnel

FUNNEL = load_funnel()
CLICK = {
    "event_id": "c1",
    "click_id": "k1",
    "campaign_id": "cmp-a",
    "channel": "google",
    "ad_group_id": "ag1",
    "device": "mobile",
    "geo": "DE",
}


def form(eid: str = "f1", t: str = "2026-11-01T10:00:00Z", **kw: Any) -> dict[str, Any]:
    return {
        "event_id": eid,
        "lead_id": "L1",
        "event_time": t,
        "click_id": "k1",
        "utm_campaign": "cmp-utm",
        "utm_source": "newsletter",
        "device": "desktop",
        "geo": "FR",
        **kw,
    }


def crm(eid: str, status: str, t: str, value: int | None = None) -> dict[str, Any]:
    return {
        "event_id": eid,
        "lead_id": "L1",
        "status": status,
        "event_time": t,
        "deal_value_micros": value,
    }


def test_form_with_known_click_takes_the_click_campaign_and_segment() -> None:
    attr = attribute_form(form(), click_segment(CLICK))
    assert (attr.campaign_id, attr.method, attr.device, attr.geo) == (
        "cmp-a",
        "click",
        "mobile",
        "DE",
    )


def test_form_without_known_click_falls_back_to_utm_campaign() -> None:
    attr = attribute_form(form(), None)
    assert (attr.campaign_id, attr.channel, attr.method) == ("cmp-utm", "newsletter", "utm")


def test_form_without_click_or_utm_is_counted_unattributed_not_dropped() -> None:
    attr = attribute_form(form(utm_campaign=None, click_id=None), None)
    assert (attr.campaign_id, attr.method, attr.geo) == (UNATTRIBUTED, "none", "FR")


def test_crm_event_before_its_form_is_unattributed_then_follows_the_lead() -> None:
    state = new_lead_state()
    add_crm(state, crm("x1", "contacted", "2026-11-01T11:00:00Z"), ("crm", 0, 1))
    before = lead_facts("L1", state, FUNNEL)
    assert [(f["stage"], f["campaign_id"]) for f in before] == [("contacted", UNATTRIBUTED)]
    add_form(state, form(), attribute_form(form(), click_segment(CLICK)), ("forms", 0, 1))
    after = {f["stage"]: f["campaign_id"] for f in lead_facts("L1", state, FUNNEL)}
    assert after == {"lead": "cmp-a", "contacted": "cmp-a"}


def test_late_click_replaces_utm_attribution_but_not_the_reverse() -> None:
    state = new_lead_state()
    add_form(state, form(), attribute_form(form(), click_segment(CLICK)), ("forms", 0, 1))
    add_form(state, form(), attribute_form(form(), None), ("forms", 0, 1))  # replay, worse rank
    assert lead_facts("L1", state, FUNNEL)[0]["campaign_id"] == "cmp-a"


def test_only_earliest_event_of_a_stage_is_counted_per_lead() -> None:
    state = new_lead_state()
    add_form(state, form(), attribute_form(form(), None), ("forms", 0, 1))
    add_crm(state, crm("m", "meeting_booked", "2026-11-02T10:00:00Z"), ("crm", 0, 2))
    add_crm(state, crm("p", "presentation_requested", "2026-11-01T12:00:00Z"), ("crm", 0, 3))
    qualified = {
        f["event_id"]: f["counted"]
        for f in lead_facts("L1", state, FUNNEL)
        if f["stage"] == "qualified"
    }
    assert qualified == {"m": 0, "p": 1}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_lead_facts_do_not_depend_on_arrival_order(order: tuple[int, ...]) -> None:
    steps = [
        lambda s: add_form(s, form(), attribute_form(form(), None), ("forms", 0, 1)),
        lambda s: add_form(
            s, form(), attribute_form(form(), click_segment(CLICK)), ("forms", 0, 1)
        ),
        lambda s: add_crm(s, crm("w", "won", "2026-11-03T10:00:00Z", 5_000_000), ("crm", 0, 2)),
        lambda s: add_crm(s, crm("c", "contacted", "2026-11-01T10:30:00Z"), ("crm", 0, 3)),
    ]
    state = new_lead_state()
    for i in order:
        steps[i](state)
    facts = sorted(
        (f["stage"], f["campaign_id"], f["counted"], f["revenue_micros"])
        for f in lead_facts("L1", state, FUNNEL)
    )
    assert facts == [
        ("contacted", "cmp-a", 1, 0),
        ("lead", "cmp-a", 1, 0),
        ("won", "cmp-a", 1, 5_000_000),
    ]


def test_duplicate_crm_event_changes_nothing() -> None:
    state = new_lead_state()
    add_crm(state, crm("c", "contacted", "2026-11-01T10:30:00Z"), ("crm", 0, 3))
    snapshot = repr(state)
    add_crm(state, crm("c", "contacted", "2026-11-01T10:30:00Z"), ("crm", 1, 9))
    assert repr(state) == snapshot


def test_status_outside_the_funnel_produces_no_fact() -> None:
    state = new_lead_state()
    state["crm"]["z"] = {"t": 0, "status": "archived", "value": 0, "src": ["crm", 0, 0]}
    assert lead_facts("L1", state, FUNNEL) == []


def test_crm_event_resends_only_its_own_fact_not_the_older_lead_fact() -> None:
    state = new_lead_state()
    add_form(state, form(), attribute_form(form(), click_segment(CLICK)), ("forms", 0, 1))
    before = lead_facts("L1", state, FUNNEL)
    add_crm(state, crm("c", "contacted", "2026-11-02T10:30:00Z"), ("crm", 0, 3))
    sent = facts_to_emit(before, lead_facts("L1", state, FUNNEL))
    assert [f["event_id"] for f in sent] == ["c"]


def test_late_form_resends_the_crm_facts_it_reattributes() -> None:
    state = new_lead_state()
    add_crm(state, crm("c", "contacted", "2026-11-02T10:30:00Z"), ("crm", 0, 3))
    before = lead_facts("L1", state, FUNNEL)
    add_form(state, form(), attribute_form(form(), click_segment(CLICK)), ("forms", 0, 1))
    sent = facts_to_emit(before, lead_facts("L1", state, FUNNEL))
    sent_ids = sorted((f["event_id"], f["campaign_id"]) for f in sent)
    assert sent_ids == [("c", "cmp-a"), ("f1", "cmp-a")]


def test_replayed_event_resends_every_fact_of_the_lead() -> None:
    state = new_lead_state()
    add_form(state, form(), attribute_form(form(), None), ("forms", 0, 1))
    add_crm(state, crm("c", "contacted", "2026-11-02T10:30:00Z"), ("crm", 0, 3))
    before = lead_facts("L1", state, FUNNEL)
    add_crm(state, crm("c", "contacted", "2026-11-02T10:30:00Z"), ("crm", 0, 3))
    assert len(facts_to_emit(before, lead_facts("L1", state, FUNNEL))) == 2
