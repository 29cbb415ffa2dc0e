"""Forms waiting for their click (both backends): found for the clicks a batch wrote,
by the topic and offsets they were read at."""

from __future__ import annotations

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.state.waiting import Waiting, record_waiting, waiting_for
from tests.support.clickhouse import BASE, fact, write_facts

pytestmark = pytest.mark.integration


def test_waiting_forms_are_found_for_the_clicks_read_at_the_given_offsets(
    client: ClickHouse,
) -> None:
    record_waiting(client, [
        Waiting("k1", "f1", "L1", 3, BASE),
        Waiting("k2", "f2", "L2", 1, BASE),
        Waiting("k3", "f3", "L3", 0, BASE),
        Waiting("k1", "f9", "L9", 2, BASE + 60),  # a second form naming k1
    ])  # fmt: skip
    write_facts(client, [  # fact i is read at offset i
        fact(10, "click", 0, click_id="k1", source_topic="clicks", source_partition=0),
        fact(11, "click", 0, click_id="k2", source_topic="clicks", source_partition=1),
        fact(30, "click", 0, click_id="k3", source_topic="clicks", source_partition=0),
    ])  # fmt: skip
    # k2 is in another partition, k3 beyond the offsets asked for
    found = waiting_for(client, "clicks", [BASE], {0: (5, 20)})
    assert sorted(found) == [Waiting("k1", "f1", "L1", 3, BASE), Waiting("k1", "f9", "L9", 2,
                                                                          BASE + 60)]  # fmt: skip
    both = waiting_for(client, "clicks", [BASE], {0: (5, 30), 1: (11, 11)})
    assert sorted(w.click_id for w in both) == ["k1", "k1", "k2", "k3"]
    assert waiting_for(client, "other-topic", [BASE], {0: (0, 100)}) == []
    assert waiting_for(client, "clicks", [BASE + 3600], {0: (0, 100)}) == []  # other minutes


def test_nothing_is_asked_for_a_batch_without_clicks(client: ClickHouse) -> None:
    record_waiting(client, [])
    assert waiting_for(client, "clicks", [], {}) == []
