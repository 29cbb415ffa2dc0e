"""The segment set's loader: the built-in file, and a clear error for each wrong field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from funnelwatch.schemas.segments import (
    BUILT_IN_SEGMENTS,
    DEFAULT_SEGMENTS_FILE,
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
        (None, "expected a mapping with a 'dimensions' list"),  # an empty file
        ({"top_values": 5}, "expected a mapping with a 'dimensions' list"),
        ({"dimensions": "channel"}, "expected a mapping with a 'dimensions' list"),
        ({"dimensions": [], "top_values": 0}, "top_values must be a whole number >= 1, got 0"),
        ({"dimensions": [], "top_values": "25"}, "top_values must be a whole number >= 1"),
        ({"dimensions": [], "colour": 1}, "unknown keys ['colour']"),
        ({"dimensions": ["channel"]}, "dimension 1: expected a mapping with a name, got 'channel'"),
        ({"dimensions": [{"click": "keyword"}]}, "dimension 1: needs a name"),
        (_one(name="Key Word", click="keyword"), "name 'Key Word' must be lowercase"),
        (_one(name=7, click="keyword"), "dimension 1: name 7 must be lowercase"),
        (_one(name="all", click="keyword"), "(not 'all')"),
        (_one(click="keyword", colour="red"), "dimension 1 (keyword): unknown keys ['colour']"),
        (_one(), "dimension 1 (keyword): needs a click or a form attribute"),
        (_one(click=None, form=None), "dimension 1 (keyword): needs a click or a form attribute"),
        (_one(click="keywords"), "(keyword): click 'keywords' is not an ad_click attribute; one"),
        (_one(click="event_id"), "(keyword): click 'event_id' is not an ad_click attribute"),
        (_one(click=["keyword"]), "(keyword): click ['keyword'] is not an ad_click attribute"),
        (_one(form="form_kind"), "(keyword): form 'form_kind' is not a form_submission attribute"),
        (_one(form={"a": 1}), "(keyword): form {'a': 1} is not a form_submission attribute"),
        (_one(click="keyword", form="bid"), "(keyword): form 'bid' is not a form_submission"),
        (_one(click="keyword", top=2.5), "dimension 1 (keyword): top must be a whole number"),
        (_one(click="keyword", top=0), "(keyword): top must be a whole number >= 1, got 0"),
        (_one(click="keyword", top=True), "(keyword): top must be a whole number >= 1, got True"),
        (
            {"dimensions": [{"name": "k", "click": "keyword"}, {"name": "k", "form": "utm_term"}]},
            "dimension 2 (k): name 'k' is taken by dimension 1; dimension names must be unique",
        ),
    ],
)  # fmt: skip
def test_a_wrong_field_is_refused_with_a_message_naming_it(raw: object, message: str) -> None:
    with pytest.raises(SegmentConfigError) as caught:
        parse_segments(raw, "my-segments.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("my-segments.yaml")


def test_an_unknown_attribute_is_refused_with_the_attributes_that_exist() -> None:
    with pytest.raises(SegmentConfigError) as caught:
        parse_segments(_one(click="keywords"))
    assert "keyword, placement" in str(caught.value)
    assert "event_id" not in str(caught.value)  # ids are not segment values


def test_a_missing_or_unparsable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SegmentConfigError, match=r"cannot read segments file .*nope\.yaml"):
        load_segments(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dimensions: [unclosed\n")
    with pytest.raises(SegmentConfigError, match=r"cannot read segments file .*bad\.yaml"):
        load_segments(bad)


@pytest.mark.parametrize("text", ["", "- name: channel\n  click: channel\n", "dimensions: 3\n"])
def test_a_file_that_is_not_a_mapping_of_dimensions_names_the_file(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    with pytest.raises(SegmentConfigError) as caught:
        load_segments(path)
    assert str(caught.value) == f"{path}: expected a mapping with a 'dimensions' list"


def test_a_wrong_field_in_a_file_names_the_file_the_dimension_and_the_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text("dimensions:\n  - name: channel\n    click: channel\n"
                    "  - name: page\n    form: landing_pages\n")  # fmt: skip
    with pytest.raises(SegmentConfigError) as caught:
        load_segments(path)
    assert str(caught.value).startswith(
        f"{path}: dimension 2 (page): form 'landing_pages' is not a form_submission attribute"
    )


def test_a_file_of_its_own_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text("top_values: 3\ndimensions:\n  - name: keyword\n    click: keyword\n"
                    "    form: utm_term\n  - name: page\n    form: landing_page\n")  # fmt: skip
    s = load_segments(path)
    assert s.names == ("keyword", "page") and s.click_names == ("keyword",)
    assert (s.top("keyword"), s.default_top) == (3, 3)
    assert s.lead_dimension_of("landing_page") == "page"
    assert s.lead_dimension_of("utm_term") is None  # keyword is a click dimension


def test_the_default_file_is_the_built_in_set() -> None:
    assert load_segments() == BUILT_IN_SEGMENTS
    assert load_segments(DEFAULT_SEGMENTS_FILE) == BUILT_IN_SEGMENTS
