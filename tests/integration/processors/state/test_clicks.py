"""Clicks by id in ClickHouse (both backends): ``click_index``, filled by its materialized
view from the click facts, is what ``lookup_clicks`` finds."""

from __future__ import annotations

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.rules import UNKNOWN, Segment
from funnelwatch.processors.state import clicks as clicks_module
from funnelwatch.processors.state.clicks import lookup_clicks
from tests.support.clickhouse import fact, write_facts
from tests.support.segments import SEGMENTER, click_seg

pytestmark = pytest.mark.integration


def test_clicks_written_as_facts_are_found_by_id_with_their_segment(client: ClickHouse) -> None:
    write_facts(client, [
        fact(1, "click", 0, campaign="A", click_id="k1", device="mobile", geo="DE"),
        fact(2, "click", 5, campaign="B", click_id="k2", channel="bing", ad_group_id="ag7",
             device="tablet", geo="US"),
    ])  # fmt: skip
    assert lookup_clicks(client, ["k1", "k2", "k-unknown"], SEGMENTER) == {
        "k1": click_seg("A", "google", "ag1", "mobile", "DE"),
        "k2": click_seg("B", "bing", "ag7", "tablet", "US"),
    }


def test_lead_facts_naming_a_click_do_not_make_it_known(client: ClickHouse) -> None:
    write_facts(client, [fact(1, "lead", 0, lead_id="L1", click_id="k-late", lead_partition=2)])
    assert lookup_clicks(client, ["k-late"], SEGMENTER) == {}


def test_a_click_written_twice_is_found_once(client: ClickHouse) -> None:
    write_facts(client, [fact(1, "click", 0, click_id="k1")])
    write_facts(client, [fact(1, "click", 0, click_id="k1")])  # a replayed batch
    found = lookup_clicks(client, ["k1", "k1"], SEGMENTER)
    assert found == {"k1": click_seg("A", "google", "ag1", "mobile", "DE")}


def test_lookups_of_many_ids_are_split_into_chunks(
    client: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clicks_module, "LOOKUP_CHUNK", 100)
    write_facts(client, [fact(i, "click", i % 30, click_id=f"k{i}", campaign=f"C{i % 7}")
                         for i in range(450)])  # fmt: skip
    wanted = [f"k{i}" for i in range(0, 900, 2)]  # half of them exist
    found = lookup_clicks(client, wanted, SEGMENTER)
    assert sorted(found) == sorted(f"k{i}" for i in range(0, 450, 2))
    assert found["k14"].campaign_id == "C0"


def test_a_click_written_under_another_segment_set_reads_as_this_one(
    client: ClickHouse,
) -> None:
    write_facts(client, [fact(1, "click", 0, click_id="k1",
                              segments={"geo": "FR", "keyword": "crm"})])  # fmt: skip
    found = lookup_clicks(client, ["k1"], SEGMENTER)
    assert found == {"k1": Segment("A", (UNKNOWN, UNKNOWN, UNKNOWN, "FR"))}


def test_no_ids_need_no_query(client: ClickHouse) -> None:
    assert lookup_clicks(client, [], SEGMENTER) == {}
