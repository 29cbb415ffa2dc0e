"""Taking over a lead partition on both backends: the owner row, and a lead store rebuilt
from the lead facts in ClickHouse exactly, with leads a crash left half written found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.attribution.lead import LeadState, add_crm, add_form, lead_facts
from funnelwatch.processors.attribution.rules import UNKNOWN
from funnelwatch.processors.rollup import versions
from funnelwatch.processors.state import restore
from funnelwatch.processors.state.leads import LeadStore
from funnelwatch.processors.state.restore import last_owner, rebuild, take_ownership
from tests.support.clickhouse import write_facts
from tests.support.segments import DIMS, SEGMENTER, attribution, by_click, click_seg

pytestmark = pytest.mark.integration

LEAD_STAGE = "lead"
T0 = 1_795_910_400_000
DAY = 86_400_000
CLICK = by_click(click_seg("cmp-a", "google", "ag1", "mobile", "DE"), "callback", "/pricing")
UTM = attribution("cmp-utm", "newsletter", UNKNOWN, "desktop", "FR", "utm", "download")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LeadStore]:
    s = LeadStore(tmp_path / "state", cache_size=1000)
    try:
        yield s
    finally:
        s.close()


def lead_state(i: int, part: int) -> LeadState:
    """Lead ``i``: one or two forms, some CRM events, various attributions and origins."""
    state = LeadState()
    add_form(state, f"f{i}", T0 + i * 60_000, CLICK if i % 2 else UTM, f"k{i}" if i % 2 else "",
             ("forms", part, 100 + i))  # fmt: skip
    if i % 3 == 0:
        add_form(state, f"g{i}", T0 + i * 60_000 + 5000, UTM, "", ("by-lead", part, 7 + i))
    if i % 4 != 3:
        add_crm(state, f"c{i}", T0 + DAY + i, "contacted", 0, ("crm", part, 200 + i))
    if i % 5 == 0:
        add_crm(state, f"w{i}", T0 + 2 * DAY + i, "won", 1_000_000 * i, ("crm", part, 300 + i))
    return state


def facts_of(states: dict[str, LeadState], part: int, version: int = 1) -> list[Fact]:
    return [f for lead_id, s in states.items() for f in lead_facts(lead_id, part, s, LEAD_STAGE,
                                                                   version, DIMS)]  # fmt: skip


def test_the_last_owner_of_a_partition_is_the_last_store_that_took_it(
    client: ClickHouse,
) -> None:
    assert last_owner(client, 1) is None
    take_ownership(client, 1, "store-a")
    take_ownership(client, 2, "store-c")
    take_ownership(client, 1, "store-b")
    assert (last_owner(client, 1), last_owner(client, 2), last_owner(client, 3)) == (
        "store-b",
        "store-c",
        None,
    )


def test_reading_the_owner_row_moves_this_process_versions_above_it(
    client: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions, "_last_version", versions._last_version)  # restored after
    future = versions.new_version() + 10**12  # another machine's clock, 11 days ahead
    client.insert("lead_partition_owners", ("lead_partition", "owner", "version"),
                  [(4, "store-x", future)])  # fmt: skip
    assert last_owner(client, 4) == "store-x"
    assert versions.new_version() > future
    take_ownership(client, 4, "store-y")  # so a later owner row wins over the older one
    assert last_owner(client, 4) == "store-y"


def test_rebuild_restores_exactly_the_state_the_lead_facts_came_from(
    client: ClickHouse, store: LeadStore
) -> None:
    mine = {f"L{i}": lead_state(i, 1) for i in range(40)}
    others = {f"M{i}": lead_state(i, 2) for i in range(10)}
    write_facts(client, facts_of(mine, 1) + facts_of(others, 2))
    store.save(1, {"stale": lead_state(99, 1)})  # what the store held before: replaced

    rebuilt = rebuild(client, store, 1, LEAD_STAGE, since_ms=0, segmenter=SEGMENTER)

    assert rebuilt.leads == 40 and rebuilt.repair == {}
    assert store.count(1) == 40 and store.count(2) == 0
    store.discard_unsaved()
    assert store.load(1, [*mine, "stale"]) == mine


def test_rebuild_in_chunks_restores_the_same_state(
    client: ClickHouse, store: LeadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = {f"L{i}": lead_state(i, 0) for i in range(30)}
    write_facts(client, facts_of(mine, 0))
    monkeypatch.setattr(restore, "RESTORE_CHUNK_ROWS", 7)
    assert rebuild(client, store, 0, LEAD_STAGE, since_ms=0, segmenter=SEGMENTER).leads == 30
    store.discard_unsaved()
    assert store.load(0, mine) == mine


def test_rebuild_takes_the_newest_version_of_each_fact(
    client: ClickHouse, store: LeadStore
) -> None:
    first = LeadState()
    add_form(first, "f1", T0, UTM, "k1", ("forms", 0, 1))
    write_facts(client, facts_of({"L1": first}, 0, version=1))
    later = LeadState()
    add_form(later, "f1", T0, CLICK, "k1", ("forms", 0, 1))  # its click arrived
    write_facts(client, facts_of({"L1": later}, 0, version=2))
    rebuild(client, store, 0, LEAD_STAGE, since_ms=0, segmenter=SEGMENTER)
    store.discard_unsaved()
    assert store.load(0, ["L1"]) == {"L1": later}


def test_rebuild_leaves_out_events_older_than_the_horizon(
    client: ClickHouse, store: LeadStore
) -> None:
    state = LeadState()
    add_form(state, "old", T0, UTM, "", ("forms", 0, 1))
    add_crm(state, "new", T0 + 10 * DAY, "contacted", 0, ("crm", 0, 2))
    write_facts(client, facts_of({"L1": state}, 0))
    rebuild(client, store, 0, LEAD_STAGE, since_ms=T0 + DAY, segmenter=SEGMENTER)
    store.discard_unsaved()
    (kept,) = store.load(0, ["L1"]).values()
    assert (list(kept.forms), list(kept.crm)) == ([], ["new"])


def test_rebuild_reports_leads_whose_stored_facts_disagree_with_their_state(
    client: ClickHouse, store: LeadStore
) -> None:
    # L1: its later form was written alone first (counted), then a crash wrote the
    # earlier form's fact but not the later form's new one (no longer counted)
    alone = LeadState()
    add_form(alone, "late", T0 + 60_000, UTM, "", ("forms", 0, 2))
    write_facts(client, facts_of({"L1": alone}, 0, version=1))
    both = LeadState()
    add_form(both, "late", T0 + 60_000, UTM, "", ("forms", 0, 2))
    add_form(both, "early", T0, CLICK, "k1", ("forms", 0, 1))
    (early,) = [f for f in facts_of({"L1": both}, 0, version=2) if f.event_id == "early"]
    # L2: consistent
    write_facts(client, [early, *facts_of({"L2": lead_state(3, 0)}, 0)])

    rebuilt = rebuild(client, store, 0, LEAD_STAGE, since_ms=0, segmenter=SEGMENTER)

    assert rebuilt.leads == 2
    assert rebuilt.repair == {"L1": both}  # its facts must all be written again
    store.discard_unsaved()
    assert store.load(0, ["L1"]) == {"L1": both}
