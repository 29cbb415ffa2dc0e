"""The KPI API, the ingest endpoints and the board, as views of the worker's web server.

Invariants: a handler never answers 5xx for anything a client sends — bad parameters
are 400, unknown campaigns 404, and only an unavailable ClickHouse or Kafka gives 503;
every ``/api/*`` view but the public OpenAPI description answers only a read token, on
loopback too, the board only whom ``web_pages_access`` lets in, and ingest only an ingest
token within its rate limits (:mod:`.access`: 401 no or unknown credential, 403 one of
another role, 429 with Retry-After beyond the limits);
every ClickHouse read runs off the event loop (:class:`Reader`); the KPI numbers are
exactly the sums of ``kpi_minute`` rows at their newest version (see ``queries``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from funnelwatch.clickhouse import ClickHouse, ClickHouseError
from funnelwatch.connectors.contacts import ContactHashing
from funnelwatch.processors.bid_advisor import BidAdvisor

from . import queries
from .access import Denied, Role, client_address, require_pages
from .board import board_html
from .cohorts import register_cohorts
from .crm import register_crm
from .ingest import (
    ENDPOINTS,
    RecentIds,
    Rejection,
    check_token,
    parse_events,
    read_bounded,
    to_produce,
)
from .kpis import WINDOWS, segment_document, spend_document, with_spend
from .openapi import openapi_document
from .produce import produce_acked
from .ratelimit import HttpLimits
from .site import register_site

if TYPE_CHECKING:
    from funnelwatch.processors.app import Pipeline

log = logging.getLogger(__name__)

#: an API view: (web, request, path parameters) -> response
Handler = Callable[..., Awaitable[Response]]


class BadRequest(Exception):
    pass


def _choice(request: Any, name: str, allowed: Any, default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _int(request: Any, name: str, lo: int, hi: int, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer; got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}; got {value}")
    return value


def register_web(pipeline: Pipeline) -> None:
    """Attach the API, ingest and board views to the pipeline's Faust app."""
    app, settings = pipeline.app, pipeline.settings
    reader = pipeline.reader
    advisor = BidAdvisor(settings, pipeline.funnel)
    pipeline.bid_advisor = advisor
    funnel = pipeline.funnel
    click_stage = funnel.stage_names[0]
    segments = pipeline.segments
    recent = RecentIds(settings.ingest_dedup_size)
    access = pipeline.access
    contact_hashing = ContactHashing.from_settings(settings)  # None: forms' email/phone -> 400
    limits = HttpLimits.of(
        settings.rate_limit_per_second,
        settings.rate_limit_per_client_per_second,
        settings.rate_limit_burst,
    )
    topics = {
        "clicks": pipeline.catalogue.clicks.name,
        "forms": pipeline.catalogue.forms.name,
        "crm": pipeline.catalogue.crm.name,
        "spend": pipeline.catalogue.spend.name,
    }

    def bid_of(campaign_id: str) -> dict[str, Any] | None:
        rec = advisor.latest.get(campaign_id)
        return rec.to_json() if rec is not None else None

    async def guarded(web: View, work: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await work()
        except BadRequest as exc:
            return web.error(400, str(exc))
        except ClickHouseError as exc:
            log.warning("API read failed: %s", exc)
            return web.error(503, "ClickHouse is unavailable; try again")

    def denied(web: View, refusal: Denied) -> Response:
        return web.json(refusal.body(), status=refusal.status, headers=dict(refusal.headers))

    def api_page(path: str) -> Callable[[Handler], Any]:
        """``app.page(path)`` for a view that answers only a read token."""

        def decorate(handler: Handler) -> Any:
            async def view(web: View, request: Request, **params: str) -> Response:
                try:
                    access.require(request.headers.get("Authorization"), Role.READ)
                except Denied as refusal:
                    return denied(web, refusal)
                return await handler(web, request, **params)

            view.__name__ = handler.__name__
            view.__doc__ = handler.__doc__
            return app.page(path)(view)

        return decorate

    @api_page("/api/campaigns")
    async def campaigns_view(web: View, request: Request) -> Response:
        async def work() -> Response:
            def q(client: ClickHouse) -> Any:
                return (
                    queries.watermark(client),
                    queries.campaigns(client),
                    queries.open_alerts(client),
                )

            end, rows, alerts = await reader.run(q)
            open_count: dict[str, int] = {}
            for alert in alerts:
                open_count[alert["campaign_id"]] = open_count.get(alert["campaign_id"], 0) + 1
            return web.json(
                {
                    "watermark": end,
                    "campaigns": [
                        {
                            "campaign_id": c,
                            "last_minute": m,
                            "open_alerts": open_count.get(c, 0),
                            "bid": bid_of(c),
                        }
                        for c, m in rows
                    ],
                }
            )

        return await guarded(web, work)

    @api_page("/api/campaigns/{campaign_id}/kpis")
    async def kpis_view(web: View, request: Request, campaign_id: str) -> Response:
        async def work() -> Response:
            window = _choice(request, "window", WINDOWS, "1h")
            by = _choice(request, "by", segments.dims, "all")
            minutes = WINDOWS[window]

            def q(client: ClickHouse) -> Any:
                if not queries.campaign_exists(client, campaign_id):
                    return None
                end = queries.watermark(client)
                segs = queries.window_counts(client, campaign_id, by, end, minutes)
                spend = queries.window_spend(client, campaign_id, end, minutes, click_stage)
                return end, segs, spend, queries.open_alerts(client, campaign_id)

            found = await reader.run(q)
            if found is None:
                return web.error(404, f"unknown campaign {campaign_id!r}")
            end, segs, spend, alerts = found
            if by == "all" and not segs:
                segs = [queries.SegmentCounts("all", "all")]
            split = segments.by_clicks(by)
            segs = [with_spend(s, click_stage, spend, settings.currency, split) for s in segs]
            return web.json(
                {
                    "campaign_id": campaign_id,
                    "window": window,
                    "window_minutes": minutes,
                    "window_start": end - minutes * 60,
                    "window_end": end,
                    "by": by,
                    "spend": spend_document(spend, settings.currency),
                    "segments": [segment_document(funnel, s) for s in segs],
                    "alerts": alerts,
                    "bid": bid_of(campaign_id),
                }
            )

        return await guarded(web, work)

    @api_page("/api/campaigns/{campaign_id}/conversions")
    async def conversions_view(web: View, request: Request, campaign_id: str) -> Response:
        async def work() -> Response:
            window = _choice(request, "window", WINDOWS, "15m")
            hours = _int(request, "hours", 1, 48, 3)
            # about 36 points per chart, on whole minutes
            step = max(60, hours * 3600 // 36 // 60 * 60)

            def q(client: ClickHouse) -> Any:
                if not queries.campaign_exists(client, campaign_id):
                    return None
                end = queries.watermark(client)
                return queries.conversion_history(
                    client, campaign_id, WINDOWS[window], end, hours, step
                )

            rows = await reader.run(q)
            if rows is None:
                return web.error(404, f"unknown campaign {campaign_id!r}")
            series: dict[tuple[str, str], list[list[Any]]] = {}
            for f, t, m, a, b in rows:
                series.setdefault((f, t), []).append([m, a, b, b / a if a else None])
            order = {pair: i for i, pair in enumerate(funnel.transitions)}
            return web.json(
                {
                    "campaign_id": campaign_id,
                    "window_minutes": WINDOWS[window],
                    "step_seconds": step,
                    "series": [
                        {"from_stage": f, "to_stage": t, "points": pts}
                        for (f, t), pts in sorted(
                            series.items(), key=lambda kv: order.get(kv[0], 99)
                        )
                    ],
                }
            )

        return await guarded(web, work)

    @api_page("/api/campaigns/{campaign_id}/bid")
    async def bid_view(web: View, request: Request, campaign_id: str) -> Response:
        rec = bid_of(campaign_id)
        if rec is None:
            return web.error(
                404,
                f"no bid recommendation for {campaign_id!r}: no target configured "
                "(FUNNELWATCH_BID_TARGETS) or not evaluated yet",
            )
        return web.json(rec)

    @api_page("/api/alerts")
    async def alerts_view(web: View, request: Request) -> Response:
        async def work() -> Response:
            return web.json({"alerts": await reader.run(queries.open_alerts)})

        return await guarded(web, work)

    document = openapi_document(segments)

    # public on purpose: the description of the API is no secret (it ships with the code)
    @app.page("/api/openapi.json")  # type: ignore[untyped-decorator]
    async def openapi_view(web: View, request: Request) -> Response:
        return web.json(document)

    @app.page("/")  # type: ignore[untyped-decorator]
    async def board_view(web: View, request: Request) -> Response:
        try:
            require_pages(settings.web_pages_access, access, request)
        except Denied as refusal:
            return denied(web, refusal)
        return web.html(board_html())

    limit = settings.ingest_max_body_bytes

    class IngestView(View):
        async def post(self, request: Request, endpoint: str) -> Response:
            try:
                principal = check_token(access, request.headers.get("Authorization"))
                wait = limits.admit(principal, client_address(request))
                if wait is not None:
                    return self.json(
                        {"error": f"rate limit exceeded: retry in {math.ceil(wait)} s"},
                        status=429,
                        headers={"Retry-After": str(math.ceil(wait))},
                    )
                body = await read_bounded(request, limit)
                events = parse_events(
                    body, endpoint, pipeline.limits, max_events=settings.ingest_max_events,
                    contacts=contact_hashing,
                )  # fmt: skip
                batch = to_produce(events, endpoint, recent)
                await produce_acked(
                    app.producer,
                    topics[endpoint],
                    [(key, value) for _, key, value in batch],
                    settings.ingest_ack_timeout_seconds,
                )
            except Rejection as rejection:
                return self.json(rejection.body(), status=rejection.status)
            for event_id, _, _ in batch:
                recent.add(event_id)
            return self.json(
                {
                    "accepted": len(events),
                    "produced": len(batch),
                    "duplicates": len(events) - len(batch),
                },
                status=202,
            )

    app.page("/ingest/{endpoint:" + "|".join(ENDPOINTS) + "}")(IngestView)

    @app.timer(settings.bid_interval_seconds)  # type: ignore[untyped-decorator]
    async def advise_bids() -> None:
        # every worker judges (its API answers with the latest figure); one publishes
        if not advisor.targets:
            return
        try:
            recs = await reader.run(advisor.evaluate)
        except ClickHouseError as exc:
            log.warning("bid advisor: ClickHouse read failed: %s", exc)
            return
        if not pipeline.roller.is_leader:
            return
        topic = pipeline.catalogue.bid_recommendations.name
        for rec in recs:
            await app.producer.send(
                topic,
                rec.campaign_id.encode(),
                json.dumps(rec.to_json()).encode(),
                None,
                time.time(),
                None,
            )

    register_cohorts(pipeline, api_page, guarded)  # GET /api/campaigns/{id}/cohorts
    register_crm(pipeline)  # POST /ingest/crm/<provider> (processors/web/crm.py)
    register_site(pipeline)  # GET /t.js, POST /collect (processors/web/site.py)
