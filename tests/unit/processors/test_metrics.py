"""Counter series the worker declares before its first record."""

from __future__ import annotations

from prometheus_client import REGISTRY

from funnelwatch.processors import metrics
from funnelwatch.schemas.contracts import REJECT_REASONS
from funnelwatch.schemas.events import EVENT_TYPES


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_dead_letter_and_event_series_exist_before_the_first_record() -> None:
    # Prometheus sees no increase in a series born after a burst, so each must exist first.
    topic = "declare-test.ad-clicks"
    assert _value("funnelwatch_dead_letters_total", reason="schema", topic=topic) is None

    metrics.declare_series([topic])

    for reason in REJECT_REASONS:
        assert _value("funnelwatch_dead_letters_total", reason=reason, topic=topic) == 0
    for event_type in EVENT_TYPES:
        assert _value("funnelwatch_events_total", event_type=event_type) is not None
    for method in ("click", "utm", "none"):
        assert _value("funnelwatch_attributions_total", method=method) is not None
