"""Delivery of alert states to the alerts topic and to webhooks, at most once each.

Invariants:
- every target (the Kafka topic, the generic webhook, the Slack webhook) has its
  own queue and loop, so a dead receiver delays nobody else;
- a message is (alert_id, status); its idempotency key ``alert_id:status`` travels
  in the ``Idempotency-Key`` header (and the Kafka key is the campaign id);
- a delivery is recorded in ClickHouse ``alert_deliveries`` once the receiver
  acknowledged it (2xx; for Kafka, the broker's ack), and nothing recorded is sent
  again — not after a retry, not after a restart (the record is read on start).
  A crash between the acknowledgement and the record can repeat one message, which
  the key lets the receiver drop;
- failures are retried with exponential backoff (0.5 s doubling, at most 60 s) up to
  ``alert_webhook_max_attempts`` times; a message that still fails is logged and
  counted, and the loop moves on;
- a webhook URL is a secret: no log line or error names it (targets are "webhook" and
  "slack").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from ..detectors import Alert

log = logging.getLogger(__name__)

Send = Callable[[Alert], Awaitable[None]]
Record = Callable[[Alert, str], Awaitable[None]]

MAX_BACKOFF = 60.0


@dataclass
class Target:
    name: str
    send: Send


def slack_text(alert: Alert) -> dict[str, Any]:
    icon = ":rotating_light:" if alert.status == "firing" else ":white_check_mark:"
    return {"text": f"{icon} [{alert.kind}] {alert.summary}"}


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], key: str
) -> None:
    async with session.post(
        url, json=body, headers={"Idempotency-Key": key}, timeout=aiohttp.ClientTimeout(total=10)
    ) as response:
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")


class Dispatcher:
    """Queues per target; a loop per target delivers with retries and records success."""

    def __init__(
        self,
        targets: list[Target],
        record: Record,
        max_attempts: int,
        on_failure: Callable[[str], None] = lambda _: None,
        base_delay: float = 0.5,
    ) -> None:
        self.targets = targets
        self.record = record
        self.max_attempts = max_attempts
        self.on_failure = on_failure
        self.base_delay = base_delay
        self.delivered: set[tuple[str, str, str]] = set()
        self.queues: dict[str, asyncio.Queue[Alert]] = {}

    def queue(self, name: str) -> asyncio.Queue[Alert]:
        if name not in self.queues:
            self.queues[name] = asyncio.Queue()
        return self.queues[name]

    def submit(self, alert: Alert) -> None:
        for target in self.targets:
            if (alert.alert_id, alert.status, target.name) not in self.delivered:
                self.queue(target.name).put_nowait(alert)

    async def run(self, target: Target) -> None:
        q = self.queue(target.name)
        while True:
            alert = await q.get()
            await self.deliver(target, alert)

    async def deliver(self, target: Target, alert: Alert) -> bool:
        key = (alert.alert_id, alert.status, target.name)
        if key in self.delivered:
            return True
        delay = self.base_delay
        for attempt in range(1, self.max_attempts + 1):
            try:
                await target.send(alert)
            except Exception as exc:  # any failure of a receiver is retried alike
                log.warning(
                    "alert %s:%s to %s failed (attempt %d): %s",
                    alert.alert_id,
                    alert.status,
                    target.name,
                    attempt,
                    exc,
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_BACKOFF)
                continue
            self.delivered.add(key)
            await self.record(alert, target.name)
            return True
        self.on_failure(target.name)
        log.error(
            "alert %s:%s not delivered to %s after %d attempts",
            alert.alert_id,
            alert.status,
            target.name,
            self.max_attempts,
        )
        return False


def webhook_targets(
    session: aiohttp.ClientSession, generic: SecretStr | None, slack: SecretStr | None
) -> list[Target]:
    """The webhook targets configured (an unset or empty URL: none). The URLs are
    credentials (a Slack webhook URL lets anyone post to the channel): they leave their
    SecretStr only to be posted to, and a failure names the target, never the URL."""
    targets = []
    generic_url = generic.get_secret_value() if generic else ""
    slack_url = slack.get_secret_value() if slack else ""
    if generic_url:

        async def generic_send(alert: Alert) -> None:
            key = f"{alert.alert_id}:{alert.status}"
            body = {"idempotency_key": key, **alert.as_message()}
            await _post_secret(session, generic_url, body, key)

        targets.append(Target("webhook", generic_send))
    if slack_url:

        async def slack_send(alert: Alert) -> None:
            key = f"{alert.alert_id}:{alert.status}"
            await _post_secret(session, slack_url, slack_text(alert), key)

        targets.append(Target("slack", slack_send))
    return targets


async def _post_secret(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], key: str
) -> None:
    """post_json to a secret URL; its errors (aiohttp names the URL in some) are
    replaced by one naming only the kind of failure, which the dispatcher logs."""
    try:
        await post_json(session, url, body, key)
    except Exception as exc:
        text = str(exc).replace(url, "<secret URL>")
        parts = urlsplit(url)
        for piece in (parts.path, parts.query):
            if piece and piece != "/":
                text = text.replace(piece, "<secret>")
        raise DeliveryFailed(f"{type(exc).__name__}: {text}") from None


class DeliveryFailed(RuntimeError):
    """A webhook post failed (the message carries no part of the URL's secret)."""


def now() -> int:
    return int(time.time())
