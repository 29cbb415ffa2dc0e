"""The attribution rules: click, else utm, else unattributed; better never replaced by worse;
segment values from the configured attributes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from funnelwatch.processors.attribution.lead import LeadState, add_form, reattribute
from funnelwatch.processors.attribution.rules import (
    RANKS,
    UNATTRIBUTED,
    UNKNOWN,
    Segment,
    Segmenter,
)
from funnelwatch.schemas.segments import parse_segments
from tests.support.segments import SEGMENTER, attribution, by_click


@dataclass(frozen=True)
class Click:
    campaign_id: str = "cmp-a"
    channel: str = "google"
    ad_group_id: str = "ag1"
    device: str = "mobile"
    geo: str = "DE"
    keyword: str = "crm software"


@dataclass(frozen=True)
class Form:
    utm_campaign: str | None = "cmp-utm"
    utm_source: str | None = "newsletter"
    utm_content: str | None = "banner"
    utm_term: str | None = None
    device: str = "desktop"
    geo: str = "FR"
    form_type: str = "callback"
    landing_page: str | None = "/pricing"


def segment_of(click: Click, segmenter: Segmenter = SEGMENTER) -> Segment:
    key = segmenter.click_key(click)
    return Segment(key[0], key[1:])


CLICK = segment_of(Click())


def test_a_form_whose_click_is_known_takes_the_clicks_campaign_and_segment() -> None:
    attr = SEGMENTER.attribute_form(Form(), CLICK)
    assert attr == attribution("cmp-a", "google", "ag1", "mobile", "DE", "click", "callback",
                               "/pricing")  # fmt: skip
    assert attr == by_click(CLICK, "callback", "/pricing")


def test_a_form_without_a_known_click_falls_back_to_its_utm_campaign() -> None:
    attr = SEGMENTER.attribute_form(Form(), None)
    assert attr == attribution("cmp-utm", "newsletter", "banner", "desktop", "FR", "utm",
                               "callback", "/pricing")  # fmt: skip


def test_missing_utm_source_content_and_landing_page_count_as_unknown() -> None:
    attr = SEGMENTER.attribute_form(Form(utm_source=None, utm_content="", landing_page=None), None)
    assert (attr.values[0], attr.values[1], attr.values[5], attr.method) == (
        UNKNOWN, UNKNOWN, UNKNOWN, "utm")  # fmt: skip


@pytest.mark.parametrize("utm_campaign", [None, ""])
def test_a_form_without_click_or_utm_is_counted_unattributed_not_dropped(
    utm_campaign: str | None,
) -> None:
    attr = SEGMENTER.attribute_form(Form(utm_campaign=utm_campaign), None)
    assert attr.campaign_id == UNATTRIBUTED and attr.method == "none"


def test_a_click_without_device_or_geo_gives_unknown_ones() -> None:
    assert SEGMENTER.click_key(Click(device="", geo="")) == ("cmp-a", "google", "ag1", UNKNOWN,
                                                              UNKNOWN)  # fmt: skip


def test_a_configured_click_dimension_reaches_the_lead_and_a_form_one_only_the_lead() -> None:
    segmenter = Segmenter(parse_segments({"top_values": 5, "dimensions": [
        {"name": "keyword", "click": "keyword", "form": "utm_term"},
        {"name": "form", "form": "form_type"},
    ]}))  # fmt: skip
    assert segmenter.click_names == ("keyword",)
    click = segment_of(Click(), segmenter)
    assert click == Segment("cmp-a", ("crm software",))
    assert segmenter.attribute_form(Form(), click).values == ("crm software", "callback")
    # without its click, the lead's keyword is its form's fallback attribute
    assert segmenter.attribute_form(Form(utm_term="crm"), None).values == ("crm", "callback")


def test_values_stored_under_another_set_are_read_by_name() -> None:
    stored = SEGMENTER.aligned(("geo", "channel"), ("DE", "google"), ("channel", "device", "geo"))
    assert stored == ("google", UNKNOWN, "DE")


def test_methods_rank_click_above_utm_above_none() -> None:
    assert RANKS["click"] > RANKS["utm"] > RANKS["none"]
    assert by_click(CLICK).rank == RANKS["click"]
    assert SEGMENTER.no_lead.method == "none" and SEGMENTER.no_lead.campaign_id == UNATTRIBUTED


def test_a_worse_attribution_of_a_known_form_never_replaces_a_better_one() -> None:
    state = LeadState()
    utm = SEGMENTER.attribute_form(Form(), None)
    none = SEGMENTER.attribute_form(Form(utm_campaign=None), None)
    add_form(state, "f1", 1000, by_click(CLICK), "k1", ("forms", 0, 1))
    add_form(state, "f1", 1000, utm, "k1", ("forms", 0, 1))  # a replay without the click
    add_form(state, "f1", 1000, none, "k1", ("forms", 0, 1))
    assert not reattribute(state, "f2", utm)  # an unknown form is not created
    reattribute(state, "f1", none)
    assert state.forms["f1"].attr == by_click(CLICK)
    assert list(state.forms) == ["f1"]


def test_a_better_attribution_replaces_a_worse_one_and_keeps_the_forms_origin() -> None:
    state = LeadState()
    add_form(state, "f1", 1000, SEGMENTER.attribute_form(Form(utm_campaign=None), None), "k1",
             ("f", 0, 7))  # fmt: skip
    add_form(state, "f1", 1000, SEGMENTER.attribute_form(Form(), None), "k1", ("f", 0, 7))
    known = state.forms["f1"].attr
    assert known.method == "utm"
    assert reattribute(state, "f1", SEGMENTER.by_click(CLICK, known.values))
    item = state.forms["f1"]
    # the click gives the click dimensions; the form keeps its own lead-level ones
    assert (item.attr, item.t, item.click_id, item.src) == (
        by_click(CLICK, "callback", "/pricing"), 1000, "k1", ("f", 0, 7))  # fmt: skip
