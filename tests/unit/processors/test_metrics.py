"""Counter series the worker declares before its first record, all at 0."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from funnelwatch.processors.attribution.rules import RANKS
from funnelwatch.schemas.contracts import REJECT_REASONS
from funnelwatch.schemas.events import EVENT_TYPES

TOPICS = ("declare-test.ad-clicks", "declare-test.form-submissions")

# A fresh process: this one's counters may have counted other tests' records.
DECLARE = textwrap.dedent(
    f"""
    from prometheus_client import generate_latest
    from funnelwatch.processors import metrics
    metrics.declare_series({list(TOPICS)!r})
    print(generate_latest().decode())
    """
)


def declared() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out = subprocess.run(
        [sys.executable, "-c", DECLARE], capture_output=True, text=True, check=True
    ).stdout
    series: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(out):
        for s in family.samples:
            if s.name.startswith("funnelwatch_") and s.name.endswith("_total"):
                series.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return series


def test_every_counter_series_with_known_labels_exists_at_zero_before_the_first_record() -> None:
    series = declared()
    expected = {
        "funnelwatch_events_total": {(("event_type", t),) for t in EVENT_TYPES},
        "funnelwatch_dead_letters_total": {
            (("reason", r), ("topic", t)) for r in REJECT_REASONS for t in TOPICS
        },
        "funnelwatch_attributions_total": {(("method", m),) for m in RANKS},
        "funnelwatch_reattributed_total": {(("parent", p),) for p in ("click", "lead")},
        "funnelwatch_sink_errors_total": {(("kind", k),) for k in ("retry", "fatal")},
    }
    for name, labels in expected.items():
        assert set(series[name]) == labels, name
        assert set(series[name].values()) == {0.0}, name
    # unlabelled counters exist from the start anyway
    for name in ("funnelwatch_facts_written_total", "funnelwatch_crm_without_lead_total",
                 "funnelwatch_leads_rebuilt_total"):  # fmt: skip
        assert series[name] == {(): 0.0}
