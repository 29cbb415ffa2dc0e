"""The attribution rules: click, else utm, else unattributed; better never replaced by worse."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from funnelwatch.processors.attribution.lead import LeadState, add_form, reattribute
from funnelwatch.processors.attribution.rules import (
    NO_LEAD,
    RANKS,
    UNATTRIBUTED,
    UNKNOWN,
    Attribution,
    Segment,
    attribute_form,
    by_click,
    click_segment,
)


@dataclass(frozen=True)
class Click:
    campaign_id: str = "cmp-a"
    channel: str = "google"
    ad_group_id: str = "ag1"
    device: str = "mobile"
    geo: str = "DE"


@dataclass(frozen=True)
class Form:
    utm_campaign: str | None = "cmp-utm"
    utm_source: str | None = "newsletter"
    utm_content: str | None = "banner"
    device: str = "desktop"
    geo: str = "FR"


CLICK = Segment(*click_segment(Click()))


def test_a_form_whose_click_is_known_takes_the_clicks_campaign_and_segment() -> None:
    attr = attribute_form(Form(), CLICK)
    assert attr == Attribution("cmp-a", "google", "ag1", "mobile", "DE", "click")
    assert attr == by_click(CLICK)


def test_a_form_without_a_known_click_falls_back_to_its_utm_campaign() -> None:
    attr = attribute_form(Form(), None)
    assert attr == Attribution("cmp-utm", "newsletter", "banner", "desktop", "FR", "utm")


def test_missing_utm_source_and_content_count_as_unknown() -> None:
    attr = attribute_form(Form(utm_source=None, utm_content=""), None)
    assert (attr.channel, attr.ad_group_id, attr.method) == (UNKNOWN, UNKNOWN, "utm")


@pytest.mark.parametrize("utm_campaign", [None, ""])
def test_a_form_without_click_or_utm_is_counted_unattributed_not_dropped(
    utm_campaign: str | None,
) -> None:
    attr = attribute_form(Form(utm_campaign=utm_campaign), None)
    assert attr == Attribution(UNATTRIBUTED, UNKNOWN, UNKNOWN, "desktop", "FR", "none")


def test_a_click_without_device_or_geo_gives_unknown_ones() -> None:
    assert click_segment(Click(device="", geo="")) == ("cmp-a", "google", "ag1", UNKNOWN, UNKNOWN)


def test_methods_rank_click_above_utm_above_none() -> None:
    assert RANKS["click"] > RANKS["utm"] > RANKS["none"]
    assert by_click(CLICK).rank == RANKS["click"]
    assert NO_LEAD.method == "none" and NO_LEAD.campaign_id == UNATTRIBUTED


def test_a_worse_attribution_of_a_known_form_never_replaces_a_better_one() -> None:
    state = LeadState()
    utm, none = attribute_form(Form(), None), attribute_form(Form(utm_campaign=None), None)
    add_form(state, "f1", 1000, by_click(CLICK), "k1", ("forms", 0, 1))
    add_form(state, "f1", 1000, utm, "k1", ("forms", 0, 1))  # a replay without the click
    add_form(state, "f1", 1000, none, "k1", ("forms", 0, 1))
    assert not reattribute(state, "f2", utm)  # an unknown form is not created
    reattribute(state, "f1", none)
    assert state.forms["f1"].attr == by_click(CLICK)
    assert list(state.forms) == ["f1"]


def test_a_better_attribution_replaces_a_worse_one_and_keeps_the_forms_origin() -> None:
    state = LeadState()
    add_form(state, "f1", 1000, attribute_form(Form(utm_campaign=None), None), "k1", ("f", 0, 7))
    add_form(state, "f1", 1000, attribute_form(Form(), None), "k1", ("f", 0, 7))
    assert state.forms["f1"].attr.method == "utm"
    assert reattribute(state, "f1", by_click(CLICK))
    item = state.forms["f1"]
    assert (item.attr, item.t, item.click_id, item.src) == (by_click(CLICK), 1000, "k1",
                                                            ("f", 0, 7))  # fmt: skip
