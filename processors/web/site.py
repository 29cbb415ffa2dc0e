"""The browser side of the worker: the landing-page snippet (``GET /t.js``) and the
endpoint it reports landings to (``POST /collect``, CORS).

Invariants of ``/collect``, checked in this order, each refusal producing nothing:
the body is at most :data:`.landing.MAX_BODY_BYTES` (413) and a JSON object naming a
site key (400); the key exists and the request's ``Origin`` is one of the key's origins
(403, no CORS headers: the page cannot even read the answer); the body holds only the
snippet's fields, as strings (400); the key and the client address are within their
rate limits (429 with Retry-After); the landing's ``ad_click`` passes the ingest
contracts (400 with problems). Then it is produced to the clicks topic keyed by
click_id, and the 202 comes only once Kafka acknowledged it (503 within
``ingest_ack_timeout_seconds`` otherwise). A preflight (OPTIONS) is answered 204 for
an origin of some site key and 403 for any other.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from .access import client_address
from .ingest import RecentIds, Rejection, read_bounded, to_produce
from .landing import MAX_BODY_BYTES, checked_event, decode_body, parse_landing, site_key_of
from .origins import OriginPolicy, cors_headers, preflight_headers
from .produce import produce_acked
from .ratelimit import HttpLimits
from .snippet import snippet_js

if TYPE_CHECKING:
    from funnelwatch.processors.app import Pipeline

#: browsers and CDNs may keep the snippet this long: a changed cookie lifetime or a new
#: snippet reaches every page within it
SNIPPET_MAX_AGE_SECONDS = 3600


def register_site(pipeline: Pipeline) -> None:
    """Attach ``/t.js`` and ``/collect`` to the pipeline's Faust app."""
    app, settings = pipeline.app, pipeline.settings
    policy = OriginPolicy(settings.site_keys)
    # buckets of their own: a flood of landings does not starve server-side ingest
    limits = HttpLimits.of(
        settings.rate_limit_per_second,
        settings.rate_limit_per_client_per_second,
        settings.rate_limit_burst,
    )
    recent = RecentIds(settings.ingest_dedup_size)
    clicks_topic = pipeline.catalogue.clicks.name
    script = snippet_js(settings.snippet_cookie_days)

    class SnippetView(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                script,
                # in the headers: aiohttp refuses a charset in its content_type argument
                headers={
                    "Content-Type": "text/javascript; charset=utf-8",
                    "Cache-Control": f"public, max-age={SNIPPET_MAX_AGE_SECONDS}",
                    # embeddable by pages that require Cross-Origin-Embedder-Policy
                    "Cross-Origin-Resource-Policy": "cross-origin",
                    "X-Content-Type-Options": "nosniff",
                },
            )

    class CollectView(View):
        async def options(self, request: Request) -> Response:
            origin = policy.preflight(request.headers.get("Origin"))
            if origin is None:
                return self.json({"error": "origin not allowed"}, status=403)
            return self.bytes(b"", status=204, headers=preflight_headers(origin))

        async def post(self, request: Request) -> Response:
            cors: dict[str, str] = {}
            try:
                if not policy.enabled:
                    raise Rejection(503, "/collect is off: set FUNNELWATCH_SITE_KEYS on the worker")
                data = decode_body(await read_bounded(request, MAX_BODY_BYTES))
                origin = policy.check(site_key_of(data), request.headers.get("Origin"))
                cors = cors_headers(origin)
                landing = parse_landing(data)
                wait = limits.admit(landing.site_key, client_address(request))
                if wait is not None:
                    seconds = str(math.ceil(wait))
                    return self.json(
                        {"error": f"rate limit exceeded: retry in {seconds} s"},
                        status=429,
                        headers={**cors, "Retry-After": seconds},
                    )
                event = checked_event(
                    landing, datetime.now(UTC), request.headers.get("User-Agent"), pipeline.limits
                )
                batch = to_produce([event], "clicks", recent)
                await produce_acked(
                    app.producer,
                    clicks_topic,
                    [(key, value) for _, key, value in batch],
                    settings.ingest_ack_timeout_seconds,
                )
            except Rejection as rejection:
                return self.json(rejection.body(), status=rejection.status, headers=cors)
            for event_id, _, _ in batch:
                recent.add(event_id)
            return self.json(
                {"click_id": event["click_id"], "produced": len(batch)}, status=202, headers=cors
            )

    app.page("/t.js")(SnippetView)
    app.page("/collect")(CollectView)
