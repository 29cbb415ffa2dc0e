"""When a worker may keep its local copy of a lead partition (``restore.trusted``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from funnelwatch.processors.state.leads import LeadStore
from funnelwatch.processors.state.restore import trusted

TPS = [("forms", 1), ("crm", 1), ("by-lead", 1)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LeadStore]:
    s = LeadStore(tmp_path / "state", cache_size=10)
    try:
        yield s
    finally:
        s.close()


def test_a_store_that_last_owned_the_partition_at_the_committed_offsets_is_trusted(
    store: LeadStore,
) -> None:
    committed = {("forms", 1): 100, ("crm", 1): 40, ("by-lead", 1): 3}
    store.set_applied(committed, max_version=1)
    assert trusted(store, store.store_id, TPS, committed)


def test_a_store_another_store_owned_the_partition_after_is_not_trusted(
    store: LeadStore,
) -> None:
    committed = {("forms", 1): 100}
    store.set_applied(committed, max_version=1)
    assert not trusted(store, "another-store", TPS, committed)
    assert not trusted(store, None, TPS, committed)  # no owner recorded: a store of nobody


@pytest.mark.parametrize(
    "committed",
    [
        {("forms", 1): 101, ("crm", 1): 40},  # the group committed more than the store has
        {("forms", 1): 99, ("crm", 1): 40},  # the store is ahead (died before the commit)
        {("forms", 1): 100, ("crm", 1): 40, ("by-lead", 1): 1},  # a topic it never saw
        {("forms", 1): 100},  # a topic committed offsets are missing for
    ],
)
def test_a_store_whose_offsets_differ_from_the_committed_ones_is_not_trusted(
    store: LeadStore, committed: dict[tuple[str, int], int]
) -> None:
    store.set_applied({("forms", 1): 100, ("crm", 1): 40}, max_version=1)
    assert not trusted(store, store.store_id, TPS, committed)


def test_a_partition_neither_store_nor_group_ever_read_is_trusted_empty(
    store: LeadStore,
) -> None:
    assert trusted(store, store.store_id, TPS, {})
    assert store.count(1) == 0
