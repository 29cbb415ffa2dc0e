"""The lead store on local disk (SQLite): what is saved is loaded, partitions are replaced
and forgotten whole, unsaved changes are discarded, old events expire, and a store
reopened after a close or a kill keeps its id and data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from funnelwatch.processors.attribution.lead import LeadState, add_crm, add_form
from funnelwatch.processors.attribution.rules import UNKNOWN, Attribution
from funnelwatch.processors.state.leads import LeadStore

UTM = Attribution("cmp-utm", ("newsletter", UNKNOWN, "desktop", "FR"), "utm")
T0 = 1_795_910_400_000


def lead(t: int = T0, crm_t: int | None = None, eid: str = "f1") -> LeadState:
    state = LeadState()
    add_form(state, eid, t, UTM, "", ("forms", 0, 1))
    if crm_t is not None:
        add_crm(state, "c1", crm_t, "contacted", 0, ("crm", 0, 2))
    return state


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LeadStore]:
    s = LeadStore(tmp_path / "state", cache_size=100)
    try:
        yield s
    finally:
        s.close()


def test_saved_states_are_loaded_by_partition(store: LeadStore) -> None:
    store.save(1, {"L1": lead(), "L2": lead(T0 + 5)})
    store.save(2, {"L3": lead()})
    store.discard_unsaved()  # read from disk, not from the memory cache
    assert store.load(1, ["L1", "L2", "L3", "L9"]) == {"L1": lead(), "L2": lead(T0 + 5)}
    assert store.load(2, ["L3"]) == {"L3": lead()}
    assert (store.count(), store.count(1), store.count(2)) == (3, 2, 1)


def test_states_are_read_from_disk_once_the_memory_cache_is_full(tmp_path: Path) -> None:
    small = LeadStore(tmp_path / "state", cache_size=2)
    try:
        small.save(0, {f"L{i}": lead(T0 + i) for i in range(10)})
        assert small.load(0, [f"L{i}" for i in range(10)]) == {
            f"L{i}": lead(T0 + i) for i in range(10)
        }
    finally:
        small.close()


def test_a_saved_state_replaces_the_previous_one(store: LeadStore) -> None:
    store.save(0, {"L1": lead()})
    store.save(0, {"L1": lead(crm_t=T0 + 60_000)})
    store.discard_unsaved()
    assert store.load(0, ["L1"]) == {"L1": lead(crm_t=T0 + 60_000)}
    assert store.count() == 1


def test_discard_unsaved_forgets_changes_that_were_never_saved(store: LeadStore) -> None:
    store.save(0, {"L1": lead()})
    loaded = store.load(0, ["L1"])["L1"]
    add_crm(loaded, "c9", T0 + 1, "won", 5, ("crm", 0, 3))  # an abandoned batch's change
    assert store.load(0, ["L1"])["L1"] == loaded  # the cache hands out the changed state
    store.discard_unsaved()
    assert store.load(0, ["L1"]) == {"L1": lead()}


def test_forget_partition_drops_only_that_partitions_states_from_memory(
    store: LeadStore,
) -> None:
    store.save(1, {"L1": lead()})
    store.save(2, {"L2": lead()})
    one, two = store.load(1, ["L1"])["L1"], store.load(2, ["L2"])["L2"]
    add_crm(one, "c9", T0, "won", 5, ("crm", 1, 3))
    add_crm(two, "c9", T0, "won", 5, ("crm", 2, 3))
    store.forget_partition(1)
    assert store.load(1, ["L1"]) == {"L1": lead()}  # read again from disk
    assert store.load(2, ["L2"])["L2"] is two  # still the one in memory
    assert store.count(1) == 1  # forgetting is not deleting


def test_replace_partition_holds_exactly_the_given_states(store: LeadStore) -> None:
    store.save(1, {"L1": lead(), "L2": lead()})
    store.save(2, {"L3": lead()})
    store.set_applied({("forms", 1): 10, ("crm", 1): 4, ("forms", 2): 7}, max_version=5)
    replaced = store.replace_partition(1, iter([("L2", lead(T0 + 9)), ("L4", lead())]))
    assert replaced == 2
    assert store.load(1, ["L1", "L2", "L4"]) == {"L2": lead(T0 + 9), "L4": lead()}
    assert store.load(2, ["L3"]) == {"L3": lead()}
    # the replaced partition's offsets are unknown until set again; others stay
    tps = [("forms", 1), ("crm", 1), ("forms", 2)]
    assert store.applied(tps) == {("forms", 2): 7}


def test_replace_partition_takes_more_states_than_one_insert(store: LeadStore) -> None:
    states = ((f"L{i}", lead(T0 + i)) for i in range(25_001))
    assert store.replace_partition(0, states) == 25_001
    assert store.count(0) == 25_001
    assert store.load(0, ["L25000"]) == {"L25000": lead(T0 + 25_000)}


def test_applied_offsets_and_the_newest_version_are_recorded(store: LeadStore) -> None:
    assert store.applied([("forms", 0)]) == {} and store.max_version == 0
    store.set_applied({("forms", 0): 100, ("by-lead", 0): 3}, max_version=50)
    store.set_applied({("forms", 0): 120}, max_version=20)  # an older version: kept at 50
    assert store.applied([("forms", 0), ("by-lead", 0), ("crm", 0)]) == {
        ("forms", 0): 120,
        ("by-lead", 0): 3,
    }
    assert store.max_version == 50


def test_expire_forgets_old_events_and_leads_with_nothing_left(store: LeadStore) -> None:
    cutoff = T0 + 86_400_000
    store.save(0, {
        "old": lead(T0),  # only old events: gone
        "mixed": lead(T0, crm_t=cutoff + 1),  # its old form goes, its CRM event stays
        "new": lead(cutoff),  # nothing older than the cutoff
    })  # fmt: skip
    assert store.expire(cutoff) == 2
    kept = store.load(0, ["old", "mixed", "new"])
    assert set(kept) == {"mixed", "new"}
    assert list(kept["mixed"].forms) == [] and list(kept["mixed"].crm) == ["c1"]
    assert kept["new"] == lead(cutoff)
    assert store.expire(cutoff) == 0


def test_two_stores_on_one_directory_hold_different_slots(tmp_path: Path) -> None:
    first = LeadStore(tmp_path / "state", cache_size=10)
    second = LeadStore(tmp_path / "state", cache_size=10)
    try:
        assert first.path != second.path
        assert first.store_id != second.store_id
        first.save(0, {"L1": lead()})
        assert second.load(0, ["L1"]) == {}
    finally:
        first.close()
        second.close()


def test_a_store_reopened_after_close_keeps_its_id_and_data(tmp_path: Path) -> None:
    first = LeadStore(tmp_path / "state", cache_size=10)
    store_id, path = first.store_id, first.path
    first.save(3, {"L1": lead(crm_t=T0 + 1)})
    first.set_applied({("forms", 3): 42}, max_version=7)
    first.close()
    again = LeadStore(tmp_path / "state", cache_size=10)
    try:
        assert (again.store_id, again.path) == (store_id, path)
        assert again.load(3, ["L1"]) == {"L1": lead(crm_t=T0 + 1)}
        assert again.applied([("forms", 3)]) == {("forms", 3): 42}
        assert again.max_version == 7
    finally:
        again.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from funnelwatch.processors.attribution.lead import LeadState, add_form
    from funnelwatch.processors.attribution.rules import UNKNOWN, Attribution
    from funnelwatch.processors.state.leads import LeadStore

    store = LeadStore(Path(sys.argv[1]), cache_size=10)
    state = LeadState()
    attr = Attribution("cmp-utm", ("newsletter", UNKNOWN, "desktop", "FR"), "utm")
    add_form(state, "f1", 1_795_910_400_000, attr, "", ("forms", 0, 1))
    store.save(2, {"L1": state})
    store.set_applied({("forms", 2): 11}, max_version=99)
    print(store.store_id, store.path, flush=True)
    time.sleep(600)
    """
)


def test_a_store_reopened_after_its_process_was_killed_keeps_its_id_and_data(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        store_id, path = holder.stdout.readline().split()
        # while the holder lives, its slot is taken: another store gets another one
        other = LeadStore(state_dir, cache_size=10)
        assert str(other.path) != path and other.store_id != store_id
        other.close()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    again = LeadStore(state_dir, cache_size=10)
    try:
        assert (again.store_id, str(again.path)) == (store_id, path)
        assert again.load(2, ["L1"]) == {"L1": lead()}
        assert again.applied([("forms", 2)]) == {("forms", 2): 11}
        assert again.max_version == 99
    finally:
        again.close()
