"""Incident specs: parsing, validation and activity windows."""

from __future__ import annotations

import pytest

from funnelwatch.streams.simulator.incidents import (
    Incident,
    blocked,
    form_broken,
    parse_incident,
    parse_minutes,
    sales_stop,
)


def test_parses_cli_specs_with_and_without_end() -> None:
    assert parse_incident("form_broken:cmp-search-brand:20") == form_broken("cmp-search-brand", 20)
    assert parse_incident("sales_stop:demo_request:60:120") == sales_stop("demo_request", 60, 120)


def test_times_accept_units() -> None:
    assert parse_incident("sales_stop:contact:2h:1d") == sales_stop("contact", 120, 1440)
    assert [parse_minutes(t) for t in ("90", "90m", "2h", "1d", "120s")] == [90, 90, 120, 1440, 2]


def test_spec_round_trips() -> None:
    for incident in (form_broken("cmp-x", 5), sales_stop("pricing", 10, 30)):
        assert parse_incident(incident.spec()) == incident


@pytest.mark.parametrize(
    "spec",
    [
        "form_broken",
        "form_broken:cmp-a",
        "form_broken::20",
        "tag_removed:cmp-a:20",
        "form_broken:cmp-a:soon",
        "form_broken:cmp-a:30:20",
        "form_broken:cmp-a:1:2:3",
        "sales_stop:demo_request:-5",
    ],
)
def test_rejects_bad_specs_with_a_readable_message(spec: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_incident(spec)


def test_incident_is_active_on_a_half_open_window() -> None:
    incident = form_broken("cmp-a", 20, 40)
    assert [incident.active(m) for m in (19, 20, 39, 40)] == [False, True, True, False]
    assert form_broken("cmp-a", 20).active(10**6)


def test_blocked_matches_kind_and_target() -> None:
    incidents: tuple[Incident, ...] = (form_broken("cmp-a", 0), sales_stop("contact", 0))
    assert blocked(incidents, "form_broken", "cmp-a", 5)
    assert not blocked(incidents, "form_broken", "cmp-b", 5)
    assert not blocked(incidents, "sales_stop", "cmp-a", 5)
    assert blocked(incidents, "sales_stop", "contact", 5)
