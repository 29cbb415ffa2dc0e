"""The segment set's loader: the built-in file, and a clear error for each wrong field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from funnelwatch.schemas.segments import (
    BUILT_IN_SEGMENTS,
    SegmentConfigError,
    load_segments,
    parse_segments,
)


def _one(**dimension: Any) -> dict[str, Any]:
    return {"dimensions": [{"name": "keyword", **dimension}]}


def test_the_built_in_set_has_click_and_lead_level_dimensions() -> None:
    s = BUILT_IN_SEGMENTS
    assert s.names == ("channel", "ad_group", "device", "geo", "form_type", "landing_page")
    assert s.click_names == ("channel", "ad_group", "device", "geo")
    assert s.dims == ("all", *s.names)
    assert s.by_clicks("all") and s.by_clicks("device") and not s.by_clicks("form_type")
    assert s.lead_dimension_of("form_type") == "form_type"
    assert s.lead_dimension_of("device") is None  # device is a click dimension too
    assert s.top("channel") == 25


def test_a_dimension_may_set_its_own_top_and_take_the_default_otherwise() -> None:
    s = parse_segments(
        {"top_values": 5, "dimensions": [{"name": "keyword", "click": "keyword", "top": 50},
                                         {"name": "page", "form": "landing_page"}]}
    )  # fmt: skip
    assert (s.top("keyword"), s.top("page")) == (50, 5)
    assert s.by_clicks("keyword") and not s.by_clicks("page")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "expected a mapping with a 'dimensions' list"),
        ({"dimensions": "channel"}, "expected a mapping with a 'dimensions' list"),
        ({"dimensions": [], "top_values": 0}, "top_values must be a whole number >= 1"),
        ({"dimensions": [], "colour": 1}, "unknown keys ['colour']"),
        ({"dimensions": [{"click": "keyword"}]}, "dimension 1: needs a name"),
        (_one(name="Key Word", click="keyword"), "name 'Key Word' must be lowercase"),
        (_one(name="all", click="keyword"), "(not 'all')"),
        (_one(click="keyword", colour="red"), "dimension 1 (keyword): unknown keys ['colour']"),
        (_one(), "dimension 1 (keyword): needs a click or a form attribute"),
        (_one(click="keywords"), "'keywords' is not an ad_click attribute; one of"),
        (_one(form="form_kind"), "'form_kind' is not a form_submission attribute; one of"),
        (_one(click="keyword", top=2.5), "dimension 1 (keyword): top must be a whole number"),
        (
            {"dimensions": [{"name": "k", "click": "keyword"}, {"name": "k", "form": "utm_term"}]},
            "dimension names must be unique: ['k', 'k']",
        ),
    ],
)
def test_a_wrong_field_is_refused_with_a_message_naming_it(raw: object, message: str) -> None:
    with pytest.raises(SegmentConfigError) as caught:
        parse_segments(raw, "my-segments.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("my-segments.yaml")


def test_a_missing_or_unparsable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SegmentConfigError, match=r"cannot read segments file .*nope\.yaml"):
        load_segments(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dimensions: [unclosed\n")
    with pytest.raises(SegmentConfigError, match=r"cannot read segments file .*bad\.yaml"):
        load_segments(bad)
