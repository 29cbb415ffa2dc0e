"""The /collect and /t.js views on the worker's real aiohttp application, without Kafka:
what they answer before anything is produced (rate limits, CORS, the script)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from funnelwatch.processors.app import create_pipeline
from funnelwatch.settings import Settings, SiteKey

ORIGIN = "https://shop.example"
LANDING = {"site_key": "pk_shop", "click_id": "gclid-1", "click_id_type": "gclid"}


def _answers(tmp_path: Path, requests: list[tuple[str, str, Any, dict[str, str]]]) -> list[Any]:
    settings = Settings(
        data_dir=tmp_path,
        clickhouse_url=f"chdb://{tmp_path}",
        site_keys={"pk_shop": SiteKey(origins=(ORIGIN,))},
        snippet_cookie_days=30,
        rate_limit_burst=2,
        rate_limit_per_second=0.001,
        rate_limit_per_client_per_second=0.001,
        # no Kafka here: an admitted landing is a quick 503
        ingest_ack_timeout_seconds=0.2,
    )
    pipeline = create_pipeline(settings)
    web = pipeline.app.web
    web.init_server()

    async def run() -> list[Any]:
        out = []
        async with TestClient(TestServer(web.web_app)) as client:
            for method, path, body, headers in requests:
                data = json.dumps(body) if body is not None else None
                response = await client.request(method, path, data=data, headers=headers)
                out.append((response.status, dict(response.headers), await response.read()))
        return out

    return asyncio.run(run())


def test_collect_beyond_the_burst_is_429_with_retry_after_and_cors(tmp_path: Path) -> None:
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain"}
    answers = _answers(tmp_path, [("POST", "/collect", LANDING, headers)] * 4)
    assert [status for status, _, _ in answers] == [503, 503, 429, 429]
    _, refused, body = answers[2]
    assert int(refused["Retry-After"]) >= 1
    assert refused["Access-Control-Allow-Origin"] == ORIGIN
    assert "rate limit" in json.loads(body)["error"]
    assert "Kafka" in json.loads(answers[0][2])["error"]


def test_a_refused_origin_spends_no_budget_and_gets_no_cors_headers(tmp_path: Path) -> None:
    foreign = {"Origin": "https://evil.example"}
    allowed = {"Origin": ORIGIN}
    answers = _answers(
        tmp_path,
        [("POST", "/collect", LANDING, foreign)] * 3
        + [("OPTIONS", "/collect", None, {**foreign, "Access-Control-Request-Method": "POST"})]
        + [("OPTIONS", "/collect", None, {**allowed, "Access-Control-Request-Method": "POST"})]
        + [("POST", "/collect", {**LANDING, "cost_micros": 1}, allowed)],
    )
    assert [status for status, _, _ in answers] == [403, 403, 403, 403, 204, 400]
    assert all("Access-Control-Allow-Origin" not in h for _, h, _ in answers[:4])
    assert answers[4][1]["Access-Control-Allow-Origin"] == ORIGIN
    assert answers[5][1]["Access-Control-Allow-Origin"] == ORIGIN


def test_the_snippet_is_served_as_javascript_with_the_configured_cookie_days(
    tmp_path: Path,
) -> None:
    ((status, headers, body),) = _answers(tmp_path, [("GET", "/t.js", None, {})])
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"].startswith("public, max-age=")
    assert b"const DAYS = 30;" in body
