"""The per-lead state: its facts depend on the set of events only, the earliest form
counts and carries the lead's CRM events, only changed facts are written, and change
keys move one way along growing event sets."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelwatch.processors.attribution.facts import Fact, Source
from funnelwatch.processors.attribution.lead import (
    LeadState,
    LeadView,
    add_crm,
    add_form,
    decode_state,
    encode_state,
    facts_to_emit,
    lead_facts,
    lead_view,
    reattribute,
)
from funnelwatch.processors.attribution.rules import UNATTRIBUTED, UNKNOWN, Attribution
from tests.support.segments import DIMS, attribution, by_click, click_seg

LEAD_STAGE = "lead"
PARTITION = 3
CLICK_A = by_click(click_seg("cmp-a", "google", "ag1", "mobile", "DE"))
CLICK_B = by_click(click_seg("cmp-b", "bing", "ag9", "tablet", "US"))
UTM = attribution("cmp-utm", "newsletter", UNKNOWN, "desktop", "FR", "utm")
NONE = attribution(UNATTRIBUTED, UNKNOWN, UNKNOWN, "desktop", "FR", "none")
T0 = 1_795_910_400_000  # epoch ms of a whole minute


def src(offset: int, topic: str = "forms") -> Source:
    return (topic, PARTITION, offset)


def facts(state: LeadState, version: int = 1) -> list[Fact]:
    out: list[Fact] = lead_facts("L1", PARTITION, state, LEAD_STAGE, version, DIMS)
    return out


def content(state: LeadState) -> list[Fact]:
    """The facts without their version, in a stable order."""
    out: list[Fact] = sorted(without_version(f) for f in facts(state))
    return out


def without_version(fact: Fact) -> Fact:
    return fact._replace(version=0)


def view(state: LeadState, version: int = 1) -> LeadView:
    return lead_view("L1", PARTITION, state, LEAD_STAGE, version, DIMS)


def test_facts_carry_the_lead_its_partition_version_and_source() -> None:
    state = LeadState()
    add_form(state, "f1", T0 + 61_000, CLICK_A, "k1", src(5))
    add_crm(state, "c1", T0 + 120_000, "won", 7_000_000, src(9, "crm"))
    form, won = sorted(facts(state, version=42), key=lambda f: f.stage)
    assert form == Fact(
        T0 // 1000 + 60, "lead", "f1", T0 + 61_000, "cmp-a", DIMS, CLICK_A.values,
        "click", "L1", "k1", 0, 0, 1, 42, "forms", PARTITION, 5, PARTITION,
    )  # fmt: skip
    assert (won.stage, won.campaign_id, won.attribution, won.revenue_micros, won.click_id) == (
        "won",
        "cmp-a",
        "click",
        7_000_000,
        "",
    )
    assert (won.source_topic, won.source_offset, won.lead_partition) == ("crm", 9, PARTITION)


def test_only_the_earliest_form_of_a_lead_is_counted() -> None:
    state = LeadState()
    add_form(state, "late", T0 + 5000, UTM, "", src(1))
    add_form(state, "early", T0 + 1000, CLICK_A, "k1", src(2))
    counted = {f.event_id: f.counted for f in facts(state)}
    assert counted == {"early": 1, "late": 0}


def test_forms_of_one_instant_count_the_smaller_event_id() -> None:
    state = LeadState()
    add_form(state, "f2", T0, UTM, "", src(1))
    add_form(state, "f1", T0, UTM, "", src(2))
    assert {f.event_id: f.counted for f in facts(state)} == {"f1": 1, "f2": 0}


def test_crm_events_go_where_the_earliest_form_went() -> None:
    state = LeadState()
    add_crm(state, "c1", T0 + 9000, "contacted", 0, src(1, "crm"))
    ((before,),) = [[f for f in facts(state) if f.stage == "contacted"]]
    assert (before.campaign_id, before.attribution) == (UNATTRIBUTED, "none")
    add_form(state, "f-late", T0 + 5000, CLICK_B, "k2", src(2))
    assert {f.stage: f.campaign_id for f in facts(state)} == {"lead": "cmp-b", "contacted": "cmp-b"}
    add_form(state, "f-early", T0 + 1000, UTM, "", src(3))  # an earlier form: the lead's origin
    contacted = [f for f in facts(state) if f.stage == "contacted"]
    assert [(f.campaign_id, f.dim_values[0], f.attribution) for f in contacted] == [
        ("cmp-utm", "newsletter", "utm")
    ]
    assert contacted[0].dim_names == DIMS


def test_only_the_earliest_crm_event_of_each_stage_is_counted() -> None:
    state = LeadState()
    add_form(state, "f1", T0, UTM, "", src(1))
    add_crm(state, "m", T0 + 86_400_000, "qualified", 0, src(2, "crm"))
    add_crm(state, "p", T0 + 3_600_000, "qualified", 0, src(3, "crm"))
    add_crm(state, "w", T0 + 7_200_000, "won", 1, src(4, "crm"))
    counted = {(f.stage, f.event_id): f.counted for f in facts(state)}
    assert counted == {("lead", "f1"): 1, ("qualified", "m"): 0, ("qualified", "p"): 1,
                       ("won", "w"): 1}  # fmt: skip


def test_a_duplicate_crm_event_changes_nothing() -> None:
    state = LeadState()
    add_crm(state, "c", T0, "contacted", 0, src(3, "crm"))
    blob = encode_state(state)
    add_crm(state, "c", T0 + 1, "won", 5, src(9, "crm"))  # same event_id, resent elsewhere
    assert encode_state(state) == blob


Step = Callable[[LeadState], object]
STEPS: list[Step] = [
    lambda s: add_form(s, "f1", T0 + 60_000, UTM, "k1", src(1)),
    lambda s: add_form(s, "f1", T0 + 60_000, CLICK_A, "k1", src(1)),  # its click, late
    lambda s: add_form(s, "f0", T0 + 30_000, NONE, "", src(2)),  # the lead's first form
    lambda s: add_crm(s, "w", T0 + 86_400_000, "won", 5_000_000, src(3, "crm")),
    lambda s: add_crm(s, "c", T0 + 600_000, "contacted", 0, src(4, "crm")),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(STEPS)))))
def test_lead_facts_do_not_depend_on_arrival_order(order: tuple[int, ...]) -> None:
    state = LeadState()
    for i in order:
        STEPS[i](state)
    got = sorted((f.stage, f.event_id, f.campaign_id, f.attribution, f.counted, f.revenue_micros)
                 for f in facts(state))  # fmt: skip
    assert got == [
        ("contacted", "c", UNATTRIBUTED, "none", 1, 0),
        ("lead", "f0", UNATTRIBUTED, "none", 1, 0),
        ("lead", "f1", "cmp-a", "click", 0, 0),
        ("won", "w", UNATTRIBUTED, "none", 1, 5_000_000),
    ]


def test_a_crm_event_writes_only_its_own_fact_not_the_older_lead_fact() -> None:
    state = LeadState()
    add_form(state, "f1", T0, CLICK_A, "k1", src(1))
    before = view(state)
    add_crm(state, "c", T0 + 86_400_000, "contacted", 0, src(3, "crm"))
    assert [f.event_id for f in facts_to_emit(before, view(state, 2))] == ["c"]


def test_a_late_form_writes_itself_and_the_crm_facts_it_reattributes() -> None:
    state = LeadState()
    add_crm(state, "c", T0 + 86_400_000, "contacted", 0, src(3, "crm"))
    before = view(state)
    add_form(state, "f1", T0, CLICK_A, "k1", src(1))
    sent = facts_to_emit(before, view(state, 2))
    assert sorted((f.event_id, f.campaign_id, f.version) for f in sent) == [
        ("c", "cmp-a", 2),
        ("f1", "cmp-a", 2),
    ]


def test_a_late_click_writes_the_form_and_the_crm_facts_that_follow_it() -> None:
    state = LeadState()
    add_form(state, "f1", T0, UTM, "k1", src(1))
    add_crm(state, "c", T0 + 60_000, "contacted", 0, src(2, "crm"))
    add_form(state, "f2", T0 + 120_000, UTM, "", src(3))  # not the lead's first: untouched
    before = view(state)
    assert reattribute(state, "f1", CLICK_A)
    sent = facts_to_emit(before, view(state, 2))
    assert sorted((f.event_id, f.attribution) for f in sent) == [("c", "click"), ("f1", "click")]


def test_duplicates_and_replays_write_nothing() -> None:
    state = LeadState()
    for step in STEPS:
        step(state)
    before = view(state, version=1)
    for step in STEPS:  # the whole lead read again (a replay), at a newer version
        step(state)
    reattribute(state, "f1", UTM)  # a worse attribution: ignored
    assert facts_to_emit(before, view(state, version=99)) == []


def test_state_survives_its_encoding_unchanged() -> None:
    state = LeadState()
    for step in STEPS:
        step(state)
    decoded = decode_state(encode_state(state))
    assert decoded == state
    assert decoded.forms["f1"].attr == CLICK_A
    assert isinstance(decoded.forms["f1"].attr, Attribution)
    assert content(decoded) == content(state)
    assert decoded.first_ms == state.first_ms == T0 + 30_000
    assert decode_state(encode_state(LeadState())) == LeadState()


def test_first_ms_is_the_earliest_event_of_forms_and_crm() -> None:
    state = LeadState()
    assert state.first_ms == 0
    add_form(state, "f", T0 + 5000, UTM, "", src(1))
    add_crm(state, "c", T0 + 1000, "contacted", 0, src(2, "crm"))
    assert state.first_ms == T0 + 1000


# ---- property: change keys along growing event sets ------------------------------------

FORM_IDS, CRM_IDS = ("f0", "f1", "f2", "f3"), ("c0", "c1", "c2", "c3", "c4")
STAGES = ("contacted", "qualified", "won")
METHOD_ATTRS = {
    "click": (CLICK_A, CLICK_B),
    "utm": (UTM, UTM._replace(campaign_id="cmp-utm2")),
    "none": (NONE, attribution(UNATTRIBUTED, UNKNOWN, UNKNOWN, "desktop", "IT", "none")),
}


@st.composite
def event_sets(draw: st.DrawFn) -> list[Step]:
    """A random history of one lead: forms (each resent with random methods, each
    method always bringing that form's same attribution) and CRM events, in random
    order, with repeats."""
    times = {eid: draw(st.integers(0, 5)) * 60_000 + T0 for eid in FORM_IDS + CRM_IDS}
    attrs = {(eid, m): draw(st.sampled_from(a)) for eid in FORM_IDS for m, a in
             METHOD_ATTRS.items()}  # fmt: skip
    stages = {eid: draw(st.sampled_from(STAGES)) for eid in CRM_IDS}
    steps: list[Step] = []
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.booleans()):
            eid, method = draw(st.sampled_from(FORM_IDS)), draw(st.sampled_from(list(METHOD_ATTRS)))
            attr = attrs[(eid, method)]
            if draw(st.integers(0, 3)) == 0:  # a click's news
                steps.append(partial(reattribute, event_id=eid, attr=attr))
            else:
                steps.append(partial(add_form, event_id=eid, t=times[eid], attr=attr,
                                     click_id="k", src=src(1)))  # fmt: skip
        else:
            eid = draw(st.sampled_from(CRM_IDS))
            steps.append(partial(add_crm, event_id=eid, t=times[eid], stage=stages[eid], value=1,
                                 src=src(2, "crm")))  # fmt: skip
    return steps


@settings(max_examples=400, database=None, deadline=None)
@given(event_sets())
def test_a_facts_change_key_never_returns_to_an_earlier_value(steps: list[Step]) -> None:
    state = LeadState()
    history: dict[tuple[str, str], list[tuple[object, ...]]] = {}
    for step in steps:
        step(state)
        for key, (_, change_key) in view(state).items():
            seen = history.setdefault(key, [])
            if not seen or seen[-1] != change_key:
                assert change_key not in seen, (key, seen, change_key)
                seen.append(change_key)


@settings(max_examples=400, database=None, deadline=None)
@given(event_sets())
def test_writing_only_changed_facts_leaves_the_facts_of_the_final_state(
    steps: list[Step],
) -> None:
    """A table keyed by (stage, event_id), newest version winning, fed batch by batch
    with facts_to_emit, ends holding exactly the final state's facts."""
    state = LeadState()
    table: dict[tuple[str, str], Fact] = {}
    before: LeadView = {}
    for version, step in enumerate(steps, start=1):
        step(state)
        after = view(state, version)
        for fact in facts_to_emit(before, after):
            table[(fact.stage, fact.event_id)] = fact
        before = after
    written = sorted(without_version(f) for f in table.values())
    assert written == content(state)
