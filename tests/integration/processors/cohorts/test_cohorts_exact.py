"""The cohorts API on a real pipeline equals the oracle exactly.

A small simulated input over four simulated days (spend reports late and restated,
duplicates, forms sent after their leads' first CRM events, a few malformed records) is
replayed into a worker on chDB; after it drained, every cohort (UTC days, and weeks) of
every campaign as a whole with the per-form-type speed-to-lead deadlines and with one
asked for, and of the simulator's campaigns per segment dimension — counts per stage
reached, conversions, maturity, revenue, spend and its basis, cost KPIs and ROMI, speed
to lead — equals :mod:`tests.support.oracle_cohorts`
computed from the ground truth. Maturities are hours here (not the default days), so
young and mature leads meet.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS
from tests.support.oracle import expected, valid_events
from tests.support.oracle_cohorts import CohortAsk, cohorts, leads_of
from tests.support.oracle_spend import counted_reports
from tests.support.pipeline import PipelineEnv, stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MATURITY_HOURS = {"contacted": 2.0, "qualified": 24.0, "won": 60.0, "lost": 48.0}
#: speed to lead: the simulator's form types' own deadlines, the others' default
DEADLINES = {"demo_request": 10, "contact": 45, "whitepaper": 1440}
DEFAULT_DEADLINE = 20
WEEKS = 2
DIMS = BUILT_IN_SEGMENTS.dims
DAYS = 5  # four simulated days touch five UTC days


def _get(env: PipelineEnv, token: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{env.web_port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_every_cohort_figure_equals_the_oracle(
    kafka_bootstrap: str, tmp_path: Path, measured: Callable[[str], None]
) -> None:
    token = secrets.token_urlsafe(24)
    env = PipelineEnv(
        kafka_bootstrap,
        f"chdb://{tmp_path / 'chdb'}",
        tmp_path,
        f"cohorts-{uuid.uuid4().hex[:8]}",
        partitions=2,
        extra_env={
            "FUNNELWATCH_READ_TOKEN": token,
            "FUNNELWATCH_COHORT_MATURITY_HOURS": json.dumps(MATURITY_HOURS),
            "FUNNELWATCH_UNCONTACTED_AFTER_MINUTES": str(DEFAULT_DEADLINE),
            "FUNNELWATCH_UNCONTACTED_AFTER_MINUTES_BY_FORM_TYPE": json.dumps(DEADLINES),
            "FUNNELWATCH_BATCH_MAX_SECONDS": "0.3",
            "FUNNELWATCH_ROLLING_INTERVAL_SECONDS": "0.5",
        },
    )
    truth = tmp_path / "ground-truth.jsonl"
    env.run(
        "simulate", "--mode", "batch", "--duration", "4d", "--events", "30000",
        "--clicks-per-minute", "4", "--campaigns", "4", "--flat", "--seed", "13",
        "--duplicates", "0.01", "--out-of-order", "0.05", "--malformed", "0.002",
        "--spend-reports", "--ground-truth", str(truth), "--dry-run",
    )  # fmt: skip
    funnel = load_funnel()
    events = valid_events(truth)
    want = expected(events, funnel, (15,))
    leads = leads_of(events, want, funnel)
    reports = counted_reports(events)
    campaigns = sorted({k[1] for k in want.kpi})
    clicked = sorted({k[1] for k in want.kpi if k[4] == funnel.stage_names[0]})
    # every campaign (the simulator's and those of utm tags alone) as a whole by day with
    # the configured deadlines and an asked one, and by week; the simulator's per segment
    # (a request costs a spend statement a period)
    asks: list[tuple[str, str, int | None, str]] = [
        (c, "all", w, "day") for c in campaigns for w in (None, 90)
    ]
    asks += [(c, "all", None, "week") for c in campaigns]
    asks += [(c, dim, None, "day") for c in clicked for dim in DIMS[1:]]
    asks += [(c, "form_type", 30, "week") for c in clicked[:2]]
    # the watermark after the drain: the newest minute of any fact
    last_minute = max(_minute(e["event_time"]) for e in events if e["event_type"] != "ad_spend")
    env.run("topics", "create")
    replay = env.replay(truth)
    out, _ = replay.communicate(timeout=300)
    assert replay.returncode == 0, out
    worker = env.start_worker()
    try:
        drained = env.wait_drained(worker, timeout=300)
        started = time.monotonic()
        compared = 0
        seen: dict[str, int] = {}
        for campaign, dim, within, period in asks:
            count = DAYS if period == "day" else WEEKS
            path = f"/api/campaigns/{campaign}/cohorts?period={period}&{period}s={count}&by={dim}"
            status, doc = _get(env, token, path + (f"&within={within}" if within else ""))
            assert status == 200, doc
            assert doc["view"] == "cohort" and doc["watermark"] == last_minute
            assert doc["maturity_hours"] == MATURITY_HOURS
            assert doc["uncontacted_after"]["by_form_type"] == ({} if within else DEADLINES)
            now = doc["watermark"]
            length = 86400 if period == "day" else 7 * 86400
            ask = CohortAsk(
                campaign,
                dim,
                0,
                count,
                now,
                within or DEFAULT_DEADLINE,
                {s: round(h * 3600) for s, h in MATURITY_HOURS.items()},
                {} if within else DEADLINES,
                length,
            )
            ask = replace(ask, first_day=ask.start_of(now) - (count - 1) * length)
            oracle = cohorts(ask, leads, reports, want, funnel)
            got = doc["cohorts"]
            assert [(c["cohort_start"], c["value"]) for c in got] == [
                (c["cohort_start"], c["value"]) for c in oracle
            ], (campaign, dim, period)
            for g, w in zip(got, oracle, strict=True):
                assert g == w, (campaign, dim, within, period, g["cohort_start"], g["value"])
                _count_cases(g, seen)
            compared += len(got)
        asked = time.monotonic() - started
        # unknown campaign and bad parameters are answered like the other /api views
        assert _get(env, token, "/api/campaigns/nope/cohorts")[0] == 404
        assert _get(env, token, f"/api/campaigns/{campaigns[0]}/cohorts?by=form")[0] == 400
        assert _get(env, token, f"/api/campaigns/{campaigns[0]}/cohorts?days=0")[0] == 400
        assert _get(env, "x" * 24, f"/api/campaigns/{campaigns[0]}/cohorts")[0] == 401
    finally:
        stop(worker)
    measured(
        f"{len(events)} events drained in {drained:.1f}s; {compared} cohorts of "
        f"{len(asks)} requests compared in {asked:.1f}s"
    )
    # the cases the comparison is about do occur
    cases = ("won", "partly mature", "speed", "late", "reported", "provisional", "romi",
             "per form type", "mixed deadlines", "week")  # fmt: skip
    for case in cases:
        assert seen.get(case, 0) > 0, (case, seen)


def _minute(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000) // 60_000 * 60


def _count_cases(c: dict[str, Any], seen: dict[str, int]) -> None:
    def note(case: str, happened: bool) -> None:
        seen[case] = seen.get(case, 0) + int(happened)

    for conversion in c["conversions"]:
        assert conversion["rate"] is None or 0 <= conversion["rate"] <= 1
    note("won", c["counts"]["won"] > 0 and c["revenue_micros"] > 0)
    note("partly mature", any(m is not None and 0 < m < 1 for m in c["maturity"].values()))
    note("speed", c["speed_to_lead"]["median_minutes"] is not None)
    note("late", (c["speed_to_lead"]["uncontacted_after_within_share"] or 0) > 0)
    note("reported", c["spend"]["reported_micros"] > 0)
    note("provisional", c["spend"]["provisional"])
    note("romi", c["kpis"]["romi"] is not None)
    within = c["speed_to_lead"]["within_minutes"]
    note("per form type", c["dim"] == "form_type" and within in DEADLINES.values())
    note("mixed deadlines", within is None and c["speed_to_lead"]["judged_leads"] > 0)
    note("week", c["cohort_end"] - c["cohort_start"] == 7 * 86400 and c["counts"]["lead"] > 0)
