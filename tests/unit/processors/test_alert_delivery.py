"""Webhook/Kafka delivery logic: retries with backoff, no duplicate sends."""

from __future__ import annotations

import asyncio

from funnelwatch.processors.alerting.delivery import Dispatcher, Target, slack_text
from funnelwatch.processors.detectors import Alert

ALERT = Alert("a1", "stall", "firing", "cmp", "conversion", "click", "lead", ("all=all",),
              60, 120, 0, 0.05, 0.0, 3.0, "cmp: click→lead 0.0% vs 5.0%")  # fmt: skip


def test_failed_sends_are_retried_and_a_delivered_state_is_never_sent_again() -> None:
    sent: list[str] = []
    recorded: list[tuple[str, str, str]] = []
    failures = [RuntimeError("HTTP 503"), RuntimeError("timeout")]

    async def send(alert: Alert) -> None:
        sent.append(alert.status)
        if failures:
            raise failures.pop(0)

    async def record(alert: Alert, target: str) -> None:
        recorded.append((alert.alert_id, alert.status, target))

    async def scenario() -> None:
        d = Dispatcher([Target("webhook", send)], record, max_attempts=5, base_delay=0.01)
        assert await d.deliver(d.targets[0], ALERT)
        assert await d.deliver(d.targets[0], ALERT)  # a second submit: nothing sent
        # a restarted dispatcher that read the record sends nothing either
        d2 = Dispatcher([Target("webhook", send)], record, max_attempts=5)
        d2.delivered = set(recorded)
        d2.submit(ALERT)
        assert d2.queue("webhook").empty()

    asyncio.run(scenario())
    assert sent == ["firing", "firing", "firing"]  # two failures, one success
    assert recorded == [("a1", "firing", "webhook")]


def test_a_target_that_never_accepts_is_given_up_after_the_attempts() -> None:
    failed: list[str] = []

    async def send(alert: Alert) -> None:
        raise RuntimeError("connection refused")

    async def record(alert: Alert, target: str) -> None:
        raise AssertionError("nothing was delivered")

    async def scenario() -> bool:
        d = Dispatcher([Target("slack", send)], record, 3, failed.append, base_delay=0.01)
        return await d.deliver(d.targets[0], ALERT)

    assert asyncio.run(scenario()) is False
    assert failed == ["slack"]


def test_slack_message_is_text_with_the_summary() -> None:
    assert slack_text(ALERT)["text"].endswith("[stall] cmp: click→lead 0.0% vs 5.0%")
