"""The cohort SQL on both ClickHouse backends, on facts written by hand: each rule of
the definition (processors/cohorts) in a case of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.cohorts import DAY as DAY_PERIOD
from funnelwatch.processors.cohorts import WEEK, ContactDeadline, Period
from funnelwatch.processors.cohorts.sql import (
    CohortRange,
    CohortRow,
    read_cohorts,
    segment_clicks,
)
from funnelwatch.schemas.funnel import load_funnel
from tests.support.clickhouse import make_fact, write_facts

pytestmark = pytest.mark.integration

FUNNEL = load_funnel()
DAY = 86400
D0 = 1_795_910_400 // DAY * DAY  # a UTC midnight, a Sunday
NOW = D0 + 2 * DAY + 12 * 3600  # the watermark: noon of the third day
MIN = 60_000  # ms
MATURITY = {"contacted": 3600, "qualified": DAY, "won": 2 * DAY, "lost": 2 * DAY}


def lead(n: int, ms: int, campaign: str = "A", **kw: Any) -> Fact:
    """Lead ``L<n>``'s form ``f<n>`` at ``ms`` (epoch ms)."""
    return make_fact(ms // MIN * 60, "lead", kw.pop("event_id", f"f{n}"), campaign,
                     event_time_ms=ms, lead_id=f"L{n}", lead_partition=1, **kw)  # fmt: skip


def crm(n: int, stage: str, ms: int, tag: str = "", **kw: Any) -> Fact:
    """A CRM fact of lead ``L<n>`` (its campaign column says B: the lead's counts)."""
    return make_fact(ms // MIN * 60, stage, f"c{n}-{stage}{tag}", "B", event_time_ms=ms,
                     lead_id=f"L{n}", lead_partition=1, **kw)  # fmt: skip


def ms(day: int, minutes: float) -> int:
    return (D0 + day * DAY) * 1000 + int(minutes * MIN)


@pytest.fixture
def facts(client: ClickHouse) -> Iterator[ClickHouse]:
    rows = [
        # day 0: L1 contacted after 10 min, qualified, won (revenue); written twice
        lead(1, ms(0, 60)),
        lead(1, ms(0, 60), version=2),
        crm(1, "contacted", ms(0, 70)),
        crm(1, "qualified", ms(0, 300)),
        crm(1, "won", ms(1, 0), revenue_micros=9_000_000),
        # a later contact of L1 is not the counted one
        crm(1, "contacted", ms(0, 80), tag="b", counted=0),
        # L2 won without a contact or qualification in the CRM: reached every stage
        lead(2, ms(0, 120), channel="bing"),
        crm(2, "won", ms(0, 500), revenue_micros=1),
        # L3: its contact was counted, then an earlier one arrived (newest version: not)
        lead(3, ms(0, 200)),
        crm(3, "contacted", ms(0, 260)),
        crm(3, "contacted", ms(0, 260), version=2, counted=0),
        crm(3, "contacted", ms(0, 230), tag="e", version=2),
        # L4 moved from campaign A to C (re-attribution): not A's
        lead(4, ms(0, 300)),
        lead(4, ms(0, 300), campaign="C", version=2),
        # L5 moved from google to bing within A: A's, under bing
        lead(5, ms(0, 400)),
        lead(5, ms(0, 400), version=2, channel="bing"),
        crm(5, "lost", ms(0, 460)),
        # a second form of L1 is not a lead
        lead(1, ms(0, 900), event_id="f1-again", counted=0),
        # L6: contacted 20 min *before* its form (CRM clock behind): counted, delay -20
        lead(6, ms(1, 0)),
        crm(6, "contacted", ms(1, -20)),
        # L7: contacted more than a day before its form: not counted
        lead(7, ms(1, 60)),
        crm(7, "contacted", ms(1, 60 - 1441)),
        # L8 at the last millisecond of day 1; contacted after the watermark: not yet
        lead(8, ms(2, 0) - 1),
        crm(8, "contacted", (NOW + 60) * 1000),
        # L9 at the first millisecond of day 2, contacted 10 minutes later
        lead(9, ms(2, 0)),
        crm(9, "contacted", ms(2, 10)),
        # L10 after the watermark's minute: not a lead yet
        lead(10, (NOW + 60) * 1000),
        # L11 in the watermark's minute, younger than 15 minutes: not judged
        lead(11, NOW * 1000 + 5000),
    ]
    write_facts(client, rows)
    yield client


def _range(
    dim: str = "all",
    within: int | ContactDeadline = 15,
    days: int = 3,
    period: Period = DAY_PERIOD,
    first: int = D0,
) -> CohortRange:
    deadline = ContactDeadline(within) if isinstance(within, int) else within
    return CohortRange("A", dim, first, days, NOW, deadline, MATURITY, True, period)


def _by_key(rows: list[CohortRow]) -> dict[tuple[int, str], CohortRow]:
    return {(r.cohort_start, r.value): r for r in rows}


def test_counts_follow_the_newest_version_of_each_counted_fact(facts: ClickHouse) -> None:
    rows = _by_key(read_cohorts(facts, FUNNEL, _range()))
    assert sorted(rows) == [(D0, "all"), (D0 + DAY, "all"), (D0 + 2 * DAY, "all")]
    day0 = rows[(D0, "all")]
    # L1, L2, L3, L5 (L4 moved to C; L1's second form is not a lead)
    assert day0.leads == 4
    # reached through a deeper stage too: L2's won counts as contacted and qualified
    assert day0.reached == {"contacted": 3, "qualified": 2, "won": 2, "lost": 1}
    assert day0.revenue_micros == 9_000_001
    # delays of L1 (10 min) and L3 (its newest counted contact: 30 min)
    assert day0.contacted == 2
    assert day0.delay_ms == {50: 10 * MIN, 90: 30 * MIN}
    assert (day0.judged, day0.uncontacted) == (4, 3)  # only L1 within 15 min
    # every one is older than two days at the watermark
    assert day0.mature == {"contacted": 4, "qualified": 4, "won": 4, "lost": 4}


def test_early_late_and_unjudged_contacts(facts: ClickHouse) -> None:
    rows = _by_key(read_cohorts(facts, FUNNEL, _range()))
    day1, day2 = rows[(D0 + DAY, "all")], rows[(D0 + 2 * DAY, "all")]
    # L6 (contacted 20 min early: counted, negative delay), L7 (a day early: not), L8
    # (contacted after the watermark: not yet)
    assert (day1.leads, day1.reached["contacted"], day1.contacted) == (3, 1, 1)
    assert day1.delay_ms == {50: -20 * MIN, 90: -20 * MIN}
    assert (day1.judged, day1.uncontacted) == (3, 2)
    # L8 is not a day old yet; none is two days old
    assert day1.mature == {"contacted": 3, "qualified": 2, "won": 0, "lost": 0}
    # L9 and L11 (L10 is after the watermark); L11 is too young to judge or be mature
    assert day2.leads == 2 and day2.delay_ms == {50: 10 * MIN, 90: 10 * MIN}
    assert (day2.judged, day2.uncontacted) == (1, 0)
    assert day2.mature["contacted"] == 1


def test_a_segment_is_the_leads_newest_value(facts: ClickHouse) -> None:
    rows = _by_key(read_cohorts(facts, FUNNEL, _range("channel")))
    assert rows[(D0, "bing")].leads == 2  # L2, and L5 moved there
    assert rows[(D0, "bing")].reached["lost"] == 1
    assert rows[(D0, "google")].leads == 2


def test_nearest_rank_percentiles_are_actual_delays(client: ClickHouse) -> None:
    rows = []
    for i in range(1, 12):  # 11 leads contacted after 1..11 minutes, out of order
        rows += [lead(i, ms(0, 100 * i)), crm(i, "contacted", ms(0, 100 * i + (12 - i)))]
    write_facts(client, rows)
    (cohort,) = read_cohorts(client, FUNNEL, _range(days=1, within=5))
    # ranks ceil(0.5 * 11) = 6 and ceil(0.9 * 11) = 10 of 1..11 minutes
    assert cohort.delay_ms == {50: 6 * MIN, 90: 10 * MIN}
    assert (cohort.judged, cohort.uncontacted) == (11, 6)  # delays 6..11 > 5 minutes
    write_facts(client, [lead(12, ms(0, 1300)), crm(12, "contacted", ms(0, 1312))])
    (cohort,) = read_cohorts(client, FUNNEL, _range(days=1))
    # of 12: ranks 6 and ceil(10.8) = 11
    assert cohort.delay_ms == {50: 6 * MIN, 90: 11 * MIN}


def test_a_day_without_leads_has_no_row(client: ClickHouse) -> None:
    assert read_cohorts(client, FUNNEL, _range()) == []


def test_segment_clicks_are_per_day_and_value(client: ClickHouse) -> None:
    client.insert_columns(
        "kpi_minute",
        {
            "minute": [D0 + 60, D0 + 60, D0 + 120, D0 + DAY],
            "campaign_id": ["A"] * 4,
            "dim": ["device"] * 4,
            "dim_value": ["mobile", "mobile", "desktop", "mobile"],
            "stage": ["click"] * 4,
            "events": [3, 5, 2, 7],
            "cost_micros": [30, 50, 20, 70],
            "revenue_micros": [0] * 4,
            "version": [1, 2, 1, 1],  # the first minute rewritten: its newest version counts
        },
    )
    got = segment_clicks(client, FUNNEL, _range("device"))
    assert got == {(D0, "desktop"): (2, 20), (D0, "mobile"): (5, 50), (D0 + DAY, "mobile"): (7, 70)}


def test_a_week_cohort_holds_its_days_leads_from_monday(facts: ClickHouse) -> None:
    days = _by_key(read_cohorts(facts, FUNNEL, _range()))
    monday = D0 + DAY  # D0 is a Sunday: the week before holds it alone
    weeks = _by_key(read_cohorts(facts, FUNNEL, _range(days=2, period=WEEK, first=D0 - 6 * DAY)))
    assert sorted(weeks) == [(D0 - 6 * DAY, "all"), (monday, "all")]
    assert weeks[(D0 - 6 * DAY, "all")] == CohortRow(
        **{**days[(D0, "all")].__dict__, "cohort_start": D0 - 6 * DAY}
    )
    week = weeks[(monday, "all")]
    monday_on = [days[(monday, "all")], days[(monday + DAY, "all")]]
    assert week.leads == sum(d.leads for d in monday_on) == 5
    assert week.reached == {s: sum(d.reached[s] for d in monday_on) for s in week.reached}
    assert (week.judged, week.uncontacted) == (4, 2)
    # nearest rank over the week's delays: -20 and 10 minutes
    assert week.delay_ms == {50: -20 * MIN, 90: 10 * MIN}


def test_each_form_type_has_its_own_contact_deadline(client: ClickHouse) -> None:
    def typed(n: int, minutes: float, form_type: str | None, delay: float) -> list[Fact]:
        segments = {"channel": "google"} | ({"form_type": form_type} if form_type else {})
        return [lead(n, ms(0, minutes), segments=segments),
                crm(n, "contacted", ms(0, minutes + delay))]  # fmt: skip

    write_facts(
        client,
        [
            *typed(1, 60, "callback", 10),  # late for a 5-minute callback
            *typed(2, 70, "callback", 3),
            *typed(3, 80, "download", 600),  # within a day
            *typed(4, 90, "webinar", 20),  # not named: the default 15 minutes
            *typed(5, 100, None, 10),  # no form type (a fact of an older segment set)
            lead(6, ms(1, 1400), segments={"form_type": "download"}),  # not old enough
            lead(7, ms(1, 20), segments={"form_type": "callback"}),  # never contacted
        ],
    )
    deadline = ContactDeadline(15, {"callback": 5, "download": 1440}, "form_type")
    (day0, day1) = read_cohorts(client, FUNNEL, _range(within=deadline, days=2))
    assert (day0.judged, day0.uncontacted) == (5, 2)  # L1 and L4
    assert (day1.leads, day1.judged, day1.uncontacted) == (2, 1, 1)  # L7 judged, L6 not
    by_type = _by_key(read_cohorts(client, FUNNEL, _range("form_type", deadline, days=1)))
    assert {v: (r.judged, r.uncontacted) for (_, v), r in by_type.items()} == {
        "callback": (2, 1),
        "download": (1, 0),
        "webinar": (1, 1),
        "(unknown)": (1, 0),
    }
    # one deadline for all (a request's within=): the map is not read
    (day0,) = read_cohorts(client, FUNNEL, _range(within=deadline.only(15), days=1))
    assert (day0.judged, day0.uncontacted) == (5, 2)  # L4 (20 min) and L3 (600 min)
