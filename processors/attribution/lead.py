"""The state kept per lead, and the facts it yields.

A lead's state is the set of its forms and CRM events keyed by event_id, each with its
event time, its source record and (forms) its best attribution so far. Invariants:

- order independence: the facts depend only on the set of events and the best
  attribution each form received, never on the order they arrived in; replays and
  duplicates change nothing;
- monotone knowledge: along any growing set of events, each fact's change key only
  moves one way (``counted`` goes 1 -> 0, a form's attribution only ranks up, a CRM
  fact follows an ever earlier earliest form, whose attribution only ranks up), so a
  fact that ends where it started never took a different value in between: writing
  only the facts whose key changed is enough even after a crash wrote part of a batch;
- the state is a msgspec Struct, stored compactly (msgpack) by the lead store and
  rebuilt from the lead's facts in ClickHouse when a store is restored.
"""

from __future__ import annotations

import msgspec

from .facts import Fact, Source, minute_of
from .rules import RANKS, UNATTRIBUTED, UNKNOWN, Attribution


class FormItem(msgspec.Struct, array_like=True, gc=False):
    t: int
    attr: Attribution
    click_id: str
    src: Source


class CrmItem(msgspec.Struct, array_like=True, gc=False):
    t: int
    stage: str
    value: int
    src: Source


class LeadState(msgspec.Struct, array_like=True):
    forms: dict[str, FormItem] = {}
    crm: dict[str, CrmItem] = {}

    @property
    def first_ms(self) -> int:
        """Event time of the lead's earliest known event (what the horizon ages)."""
        first = min([f.t for f in self.forms.values()], default=0)
        for c in self.crm.values():
            if not first or c.t < first:
                first = c.t
        return first


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LeadState)


def encode_state(state: LeadState) -> bytes:
    return _encoder.encode(state)


def decode_state(blob: bytes) -> LeadState:
    return _decoder.decode(blob)


def add_form(
    state: LeadState, event_id: str, t: int, attr: Attribution, click_id: str, src: Source
) -> bool:
    """Record a form; a better-ranked attribution replaces a worse one, never the reverse.
    False: the state held it already (a duplicate, or a replay after a crash)."""
    known = state.forms.get(event_id)
    if known is not None and RANKS[known.attr.method] >= RANKS[attr.method]:
        return False
    state.forms[event_id] = FormItem(t, attr, click_id, src)
    return True


def reattribute(state: LeadState, event_id: str, attr: Attribution) -> bool | None:
    """Give a known form a better attribution (its click arrived): True if it changed,
    False if the form held one as good already (a replay), None if the form is unknown."""
    known = state.forms.get(event_id)
    if known is None:
        return None
    if RANKS[known.attr.method] < RANKS[attr.method]:
        state.forms[event_id] = FormItem(known.t, attr, known.click_id, known.src)
        return True
    return False


def add_crm(state: LeadState, event_id: str, t: int, stage: str, value: int, src: Source) -> bool:
    """Record a CRM event; False: the state held it already."""
    if event_id in state.crm:
        return False
    state.crm[event_id] = CrmItem(t, stage, value, src)
    return True


def _earliest(items: dict[str, FormItem] | dict[str, CrmItem]) -> str | None:
    return min(items, key=lambda eid: (items[eid].t, eid)) if items else None


def lead_attribution(state: LeadState, dims: tuple[str, ...]) -> Attribution:
    winner = _earliest(state.forms)
    if winner is None:
        return Attribution(UNATTRIBUTED, (UNKNOWN,) * len(dims), "none")
    return state.forms[winner].attr


#: (stage, event_id) -> (the fact, its change key)
LeadView = dict[tuple[str, str], tuple[Fact, tuple[object, ...]]]


def lead_view(
    lead_id: str,
    partition: int,
    state: LeadState,
    lead_stage: str,
    version: int,
    dims: tuple[str, ...],
) -> LeadView:
    """Every fact of one lead as its state now says, at ``version``, with change keys;
    ``dims`` names the dimensions of the attributions' values."""
    view: LeadView = {}

    def add(eid: str, t: int, stage: str, attr: Attribution, counted: bool, click_id: str,
            revenue: int, src: Source, key: tuple[object, ...]) -> None:  # fmt: skip
        fact = Fact(
            minute_of(t), stage, eid, t, attr.campaign_id, dims, attr.values, attr.method,
            lead_id, click_id, 0, revenue, int(counted), version, src[0], src[1], src[2],
            partition,
        )  # fmt: skip
        view[(stage, eid)] = (fact, (counted, *key))

    first_form = _earliest(state.forms)
    for eid, f in state.forms.items():
        add(eid, f.t, lead_stage, f.attr, eid == first_form, f.click_id, 0, f.src, f.attr)
    attr = lead_attribution(state, dims)
    source = (first_form, *attr)
    by_stage: dict[str, dict[str, CrmItem]] = {}
    for eid, item in state.crm.items():
        by_stage.setdefault(item.stage, {})[eid] = item
    for stage, items in by_stage.items():
        first = _earliest(items)
        for eid, c in items.items():
            add(eid, c.t, stage, attr, eid == first, "", c.value, c.src, source)
    return view


def lead_facts(
    lead_id: str,
    partition: int,
    state: LeadState,
    lead_stage: str,
    version: int,
    dims: tuple[str, ...],
) -> list[Fact]:
    view = lead_view(lead_id, partition, state, lead_stage, version, dims)
    return [fact for fact, _ in view.values()]


def facts_to_emit(before: LeadView, after: LeadView) -> list[Fact]:
    """The facts of a lead worth writing after its events of one batch: those new or
    whose change key moved. A CRM event does not rewrite the lead's older minutes, and a
    duplicate rewrites nothing.

    Nothing else needs writing, even after a crash: a state reaches the lead store only
    after ClickHouse acknowledged the facts it implies (see the hot path's checkpoint),
    and a state rebuilt from ClickHouse is checked against the facts it came from. What
    a replay must still do is announce the lead's minutes again (the batch's
    ``replayed_minutes``): the crash may have come before the rollup notice.
    """
    return [fact for k, (fact, key) in after.items() if k not in before or before[k][1] != key]
