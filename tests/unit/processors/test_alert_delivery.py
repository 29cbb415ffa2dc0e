"""Webhook/Kafka delivery logic: retries with backoff, no duplicate sends."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from pydantic import SecretStr

from funnelwatch.processors.alerting.delivery import (
    Dispatcher,
    Target,
    slack_text,
    webhook_targets,
)
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


def test_a_failing_webhook_is_logged_without_its_secret_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "T0001/B0001/XyZsecretPart"
    # a closed local port (connection refused) and a URL aiohttp refuses to parse: both
    # failures would name the URL in aiohttp's own messages
    urls = [f"http://127.0.0.1:9/services/{secret}", f"http://[::1/services/{secret}"]

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            for url in urls:
                targets = webhook_targets(session, SecretStr(url), SecretStr(url))
                assert [t.name for t in targets] == ["webhook", "slack"]
                d = Dispatcher(targets, _no_record, max_attempts=1)
                for target in targets:
                    assert not await d.deliver(target, ALERT)

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    text = caplog.text
    assert "failed (attempt 1)" in text
    assert secret not in text and "/services/" not in text


def test_unset_or_empty_webhook_urls_configure_no_target() -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            assert webhook_targets(session, None, SecretStr("")) == []

    asyncio.run(scenario())


async def _no_record(alert: Alert, target: str) -> None:
    raise AssertionError("nothing is delivered")
