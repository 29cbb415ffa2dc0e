"""The OpenAPI 3.1 description of every endpoint of the worker's web server.

Invariant: the ingest request bodies embed the same JSON Schemas the pipeline
validates with (generated from the Faust records), so the description cannot drift
from what the ingest accepts; tests/integration/web checks every path here answers.
Every operation names the credential it needs (``security``): the read token for
``/api/*``, the ingest token for ``/ingest/...``; only this description is public.
"""

from __future__ import annotations

from typing import Any

from funnelwatch.schemas.contracts import json_schema
from funnelwatch.schemas.events import EVENT_TYPES
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, SegmentSet

from ..cohorts import PERIODS
from .cohorts import DEFAULT_COUNT, MAX_COUNT, MAX_WITHIN_MINUTES
from .ingest import ENDPOINTS
from .kpis import WINDOWS
from .landing import BODY_FIELDS, CLICK_ID_CHANNELS, MAX_VALUE_CHARS, SNIPPET_CLICK_ID_TYPE

_NULLABLE_NUMBER = {"type": ["number", "null"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["index", "field", "message"],
            },
        },
    },
    "required": ["error"],
}
_ERR = {"$ref": "#/components/schemas/Error"}

_CAMPAIGN_ID = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
_WINDOW: dict[str, Any] = {
    "name": "window",
    "in": "query",
    "required": False,
    "description": "window ending at the pipeline's event-time watermark (default 1h)",
    "schema": {"type": "string", "enum": list(WINDOWS), "default": "1h"},
}

_CONVERSION = {
    "type": "object",
    "properties": {
        "from_stage": {"type": "string"},
        "to_stage": {"type": "string"},
        "from_events": {"type": "integer"},
        "to_events": {"type": "integer"},
        "rate": _NULLABLE_NUMBER,
        "baseline_from_events": {"type": "integer"},
        "baseline_to_events": {"type": "integer"},
        "baseline_rate": {
            **_NULLABLE_NUMBER,
            "description": "the same conversion over the 7 days before the window",
        },
    },
}
_SEGMENT = {
    "type": "object",
    "properties": {
        "dim": {"type": "string"},
        "value": {"type": "string"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "spend_micros": {
            "type": ["integer", "null"],
            "description": "the spend that counts (see the document's spend), for a "
            "segment its part by clicks; null when the campaign's reports are in several "
            "currencies",
        },
        "revenue_micros": {"type": "integer"},
        "kpis": {
            "type": "object",
            "properties": {
                k: _NULLABLE_NUMBER
                for k in (
                    "cpc_micros",
                    "cpl_micros",
                    "cost_per_qualified_micros",
                    "cac_micros",
                    "romi",
                )
            },
        },
        "conversions": {"type": "array", "items": _CONVERSION},
    },
}
_SPEND = {
    "type": "object",
    "description": "Which cost counts: the platforms' reports where they exist, priced "
    "clicks after the last reported period (provisional), else the clicks' own cost.",
    "properties": {
        "currency": {"type": ["string", "null"]},
        "revenue_currency": {"type": "string"},
        "spend_micros": {"type": ["integer", "null"]},
        "basis": {
            "type": "string",
            "enum": ["clicks", "reported", "provisional", "reported+provisional"],
        },
        "provisional": {"type": "boolean"},
        "reported_micros": {"type": "integer"},
        "provisional_micros": {"type": "integer"},
        "click_cost_micros": {"type": "integer"},
        "reported_through": {"type": ["integer", "null"], "description": "epoch seconds"},
        "error": {"type": ["string", "null"]},
    },
    "required": ["currency", "spend_micros", "basis", "provisional"],
}
_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_COHORT = {
    "type": "object",
    "description": "The leads of one campaign (and segment value) first seen in one UTC "
    "day or week (from Monday), followed up to the watermark.",
    "properties": {
        "cohort_start": {
            "type": "integer",
            "description": "epoch s, a UTC midnight (a Monday's for a week)",
        },
        "cohort_end": {"type": "integer", "description": "exclusive, epoch s"},
        "open": {"type": "boolean", "description": "the period is not over at the watermark"},
        "dim": {"type": "string"},
        "value": {"type": "string"},
        "counts": {
            "type": "object",
            "description": "the cohort's leads, and of them those that reached each later "
            "stage (through it or a deeper one) or outcome",
            "additionalProperties": {"type": "integer"},
        },
        "conversions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "from_stage": {"type": "string"},
                    "to_stage": {"type": "string"},
                    "from_leads": {"type": "integer"},
                    "to_leads": {"type": "integer"},
                    "rate": _SHARE,
                },
            },
        },
        "maturity": {
            "type": "object",
            "description": "per stage, the share of the cohort's leads old enough for it "
            "(FUNNELWATCH_COHORT_MATURITY_HOURS after their lead time)",
            "additionalProperties": _SHARE,
        },
        "revenue_micros": {"type": "integer"},
        "spend": {**_SPEND, "description": "the campaign's spend of the cohort's period"},
        "spend_micros": {
            "type": ["integer", "null"],
            "description": "the cohort's cost: the period's spend, for a segment its part by "
            "clicks; null when the campaign's reports are in several currencies",
        },
        "kpis": {
            "type": "object",
            "properties": {
                k: _NULLABLE_NUMBER
                for k in ("cpl_micros", "cost_per_qualified_micros", "cac_micros", "romi")
            },
        },
        "speed_to_lead": {
            "type": "object",
            "description": "minutes from the lead time to the first contact; median and "
            "p90 are nearest-rank (actual delays of leads)",
            "properties": {
                "median_minutes": _NULLABLE_NUMBER,
                "p90_minutes": _NULLABLE_NUMBER,
                "contacted": {"type": "integer"},
                "within_minutes": {
                    "type": ["integer", "null"],
                    "description": "the deadline of the cohort's leads; null when their "
                    "form types have different ones",
                },
                "judged_leads": {
                    "type": "integer",
                    "description": "leads older than their deadline at the watermark",
                },
                "uncontacted_after_within": {"type": "integer"},
                "uncontacted_after_within_share": _SHARE,
            },
        },
    },
}
_ALERT = {
    "type": "object",
    "properties": {
        "alert_id": {"type": "string"},
        "campaign_id": {"type": "string"},
        "kind": {"type": "string", "description": "conversion_drop | stall | cost_anomaly"},
        "status": {"type": "string"},
        "metric": {"type": "string"},
        "from_stage": {"type": "string"},
        "to_stage": {"type": "string"},
        "segments": {"type": "array", "items": {}},
        "started_at": {"type": "integer", "description": "epoch seconds"},
        "fired_at": {"type": "integer", "description": "epoch seconds"},
        "baseline": {"type": "number"},
        "current": {"type": "number"},
        "leads_lost": {"type": "number"},
        "summary": {"type": "string"},
    },
}
_BID = {
    "type": ["object", "null"],
    "properties": {
        "campaign_id": {"type": "string"},
        "multiplier": {"type": "number"},
        "action": {"type": "string", "enum": ["lower", "raise", "hold", "pause"]},
        "reason": {"type": "string"},
        "metric": {"type": "string", "enum": ["cpl", "cost_per_qualified"]},
        "target_micros": {"type": "integer"},
        "cost_per_result_micros": _NULLABLE_NUMBER,
        "clicks": {"type": "integer"},
        "results": {"type": "integer"},
        "spend_micros": {"type": "integer"},
        "at": {"type": "number"},
        "changed_at": {"type": "number"},
        "resume_multiplier": {"type": "number"},
    },
}


def _event_schema(event_type: str) -> dict[str, Any]:
    schema = json_schema(EVENT_TYPES[event_type])
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def _ingest(endpoint: str, event_type: str, key: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{event_type}"}
    return {
        "post": {
            "summary": f"Produce {event_type} events to Kafka (keyed by {key})",
            "description": (
                "One event or a JSON array of events. All or nothing: any invalid event "
                "rejects the request (400, every problem listed) and nothing is produced. "
                "202 once Kafka acknowledged every event. Event ids acknowledged recently "
                "are not produced again."
            ),
            "operationId": f"ingest_{endpoint}",
            "security": [{"ingestToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [ref, {"type": "array", "minItems": 1, "items": ref}]}
                    }
                },
            },
            "responses": {
                "202": _json(
                    {
                        "type": "object",
                        "properties": {
                            "accepted": {"type": "integer"},
                            "produced": {"type": "integer"},
                            "duplicates": {"type": "integer"},
                        },
                    },
                    "every event acknowledged by Kafka",
                ),
                "400": _json(_ERR, "invalid JSON or events (problems: index, field, message)"),
                **_AUTH_ERRORS,
                "413": _json(
                    _ERR,
                    "body larger than FUNNELWATCH_INGEST_MAX_BODY_BYTES, or more events than "
                    "FUNNELWATCH_INGEST_MAX_EVENTS (nothing produced)",
                ),
                "429": {
                    **_json(_ERR, "rate limit of the token or client address exceeded"),
                    "headers": {
                        "Retry-After": {
                            "description": "seconds to wait",
                            "schema": {"type": "integer"},
                        }
                    },
                },
                "503": _json(
                    _ERR,
                    "ingest disabled (no token configured), or Kafka did not acknowledge within "
                    "FUNNELWATCH_INGEST_ACK_TIMEOUT_SECONDS (retry: event ids make it safe)",
                ),
            },
        }
    }


#: the refusals of a request without the right credential (processors/web/access.py)
_AUTH_ERRORS = {
    "401": _json(_ERR, "no bearer token, a malformed header, or an unknown token"),
    "403": _json(_ERR, "a known credential of another role (e.g. an ingest token on /api)"),
}

#: /metrics and the board: open on loopback by default (FUNNELWATCH_WEB_PAGES_ACCESS)
_PAGES_SECURITY: list[dict[str, list[str]]] = [{}, {"readToken": []}]


def _snippet_paths() -> dict[str, Any]:
    """``GET /t.js`` and ``POST /collect``: the landing-page snippet and its endpoint."""
    landing = {
        "type": "object",
        "description": "What the snippet reports of a landing; no other field is taken.",
        "properties": {
            **{name: {"type": "string", "maxLength": MAX_VALUE_CHARS} for name in BODY_FIELDS},
            "click_id_type": {
                "type": "string",
                "enum": [*CLICK_ID_CHANNELS, SNIPPET_CLICK_ID_TYPE],
                "description": "the URL parameter the click id came from (fw: the "
                "snippet's own id of a landing with utm tags only)",
            },
        },
        "required": ["site_key", "click_id", "click_id_type"],
        "additionalProperties": False,
    }
    body = {"schema": landing}
    return {
        "/t.js": {
            "get": {
                "summary": "The landing-page snippet (public; embed with data-site-key)",
                "operationId": "snippet",
                "security": [],
                "responses": {
                    "200": {
                        "description": "JavaScript",
                        "content": {"text/javascript": {"schema": {}}},
                    }
                },
            }
        },
        "/collect": {
            "post": {
                "summary": "Report a landing from a browser as a cost-free ad_click (CORS)",
                "description": (
                    "For the snippet. The body names a publishable site key (no bearer "
                    "token) and the request's Origin must be one of the key's origins "
                    "(FUNNELWATCH_SITE_KEYS); a preflight (OPTIONS) is answered for those "
                    "origins only. The ad_click gets the worker's receive time, cost 0 and "
                    "an event id derived from the click id (a reload is the same event)."
                ),
                "operationId": "collect_landing",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": body, "application/json": body},
                },
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "properties": {
                                "click_id": {"type": "string"},
                                "produced": {"type": "integer"},
                            },
                        },
                        "the landing's ad_click acknowledged by Kafka (produced 0: seen lately)",
                    ),
                    "400": _json(_ERR, "invalid JSON, a field the snippet does not send"),
                    "403": _json(_ERR, "unknown site key, or an Origin the key does not allow"),
                    "413": _json(_ERR, "body over 4096 bytes"),
                    "429": _json(_ERR, "rate limit of the site key or client address exceeded"),
                    "503": _json(_ERR, "no site keys configured, or Kafka unavailable"),
                },
            }
        },
    }


def _get(
    summary: str, op: str, response: dict[str, Any], params: list[Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "security": [{"readToken": []}],
            "parameters": params,
            "responses": {
                "200": _json(response, "OK"),
                **{code: _json(_ERR, text) for code, text in errors.items()},
                **_AUTH_ERRORS,
            },
        }
    }


def openapi_document(segments: SegmentSet = BUILT_IN_SEGMENTS) -> dict[str, Any]:
    """The description served at ``/api/openapi.json`` (the ``by`` parameters list the
    configured segment dimensions)."""
    not_found = {"400": "bad query parameter", "404": "unknown campaign"}
    paths: dict[str, Any] = {
        "/api/campaigns": _get(
            "Campaigns the pipeline has seen, with open alerts and bid recommendation",
            "list_campaigns",
            {
                "type": "object",
                "properties": {
                    "watermark": {"type": "integer"},
                    "campaigns": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "campaign_id": {"type": "string"},
                                "last_minute": {"type": "integer"},
                                "open_alerts": {"type": "integer"},
                                "bid": _BID,
                            },
                        },
                    },
                },
            },
            [],
            {},
        ),
        "/api/campaigns/{campaign_id}/kpis": _get(
            "Counts per stage, stage conversions with baselines, cost KPIs, open alerts",
            "campaign_kpis",
            {
                "type": "object",
                "properties": {
                    "campaign_id": {"type": "string"},
                    "window": {"type": "string"},
                    "window_minutes": {"type": "integer"},
                    "window_start": {"type": "integer", "description": "exclusive, epoch s"},
                    "window_end": {"type": "integer", "description": "inclusive minute"},
                    "by": {"type": "string"},
                    "spend": _SPEND,
                    "segments": {"type": "array", "items": _SEGMENT},
                    "alerts": {"type": "array", "items": _ALERT},
                    "bid": _BID,
                },
            },
            [
                _CAMPAIGN_ID,
                _WINDOW,
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "description": "segment dimension (default all: the campaign as a whole)",
                    "schema": {"type": "string", "enum": list(segments.dims), "default": "all"},
                },
            ],
            not_found,
        ),
        "/api/campaigns/{campaign_id}/conversions": _get(
            "Rolling stage conversions of the last hours (from conversion_rolling)",
            "campaign_conversions",
            {
                "type": "object",
                "properties": {
                    "campaign_id": {"type": "string"},
                    "window_minutes": {"type": "integer"},
                    "step_seconds": {"type": "integer"},
                    "series": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "from_stage": {"type": "string"},
                                "to_stage": {"type": "string"},
                                "points": {
                                    "type": "array",
                                    "items": {
                                        "type": "array",
                                        "description": "[minute, from_events, to_events, rate]",
                                    },
                                },
                            },
                        },
                    },
                },
            },
            [
                _CAMPAIGN_ID,
                {**_WINDOW, "schema": {**_WINDOW["schema"], "default": "15m"}},
                {
                    "name": "hours",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 48, "default": 3},
                },
            ],
            not_found,
        ),
        "/api/campaigns/{campaign_id}/cohorts": _get(
            "Cohorts: leads by the day or week they were first seen, the stages they reached "
            "since, their cost, revenue and speed to lead",
            "campaign_cohorts",
            {
                "type": "object",
                "properties": {
                    "view": {"type": "string", "const": "cohort"},
                    "description": {"type": "string"},
                    "campaign_id": {"type": "string"},
                    "period": {"type": "string"},
                    "days": {"type": "integer", "description": "period=day"},
                    "weeks": {"type": "integer", "description": "period=week"},
                    "by": {"type": "string"},
                    "within_minutes": {
                        "type": "integer",
                        "description": "the default deadline (or the request's within)",
                    },
                    "uncontacted_after": {
                        "type": "object",
                        "description": "the deadlines leads were judged by",
                        "properties": {
                            "default_minutes": {"type": "integer"},
                            "by_form_type": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                            "form_type_dimension": {"type": ["string", "null"]},
                        },
                    },
                    "watermark": {"type": "integer"},
                    "maturity_hours": {
                        "type": "object",
                        "additionalProperties": {"type": "number"},
                    },
                    "cohorts": {"type": "array", "items": _COHORT},
                },
            },
            [
                _CAMPAIGN_ID,
                {
                    "name": "period",
                    "in": "query",
                    "required": False,
                    "description": "cohort period: a UTC day, or a week from Monday",
                    "schema": {"type": "string", "enum": list(PERIODS), "default": "day"},
                },
                *(
                    {
                        "name": f"{p}s",
                        "in": "query",
                        "required": False,
                        "description": f"period={p}: cohorts of this many {p}s, ending with "
                        "the watermark's",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_COUNT[p],
                            "default": DEFAULT_COUNT[p],
                        },
                    }
                    for p in PERIODS
                ),
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "description": "segment dimension of the leads (default all)",
                    "schema": {"type": "string", "enum": list(segments.dims), "default": "all"},
                },
                {
                    "name": "within",
                    "in": "query",
                    "required": False,
                    "description": "speed-to-lead deadline, minutes, for every lead (default: "
                    "per form type, FUNNELWATCH_UNCONTACTED_AFTER_MINUTES[_BY_FORM_TYPE])",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_WITHIN_MINUTES},
                },
            ],
            not_found,
        ),
        "/api/campaigns/{campaign_id}/bid": _get(
            "The campaign's latest bid recommendation",
            "campaign_bid",
            _BID,
            [_CAMPAIGN_ID],
            {"404": "no target configured for this campaign, or not evaluated yet"},
        ),
        "/api/alerts": _get(
            "Open alerts of every campaign",
            "open_alerts",
            {"type": "object", "properties": {"alerts": {"type": "array", "items": _ALERT}}},
            [],
            {},
        ),
        "/api/openapi.json": {
            "get": {
                "summary": "This description (public: it ships with the code)",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
            }
        },
        "/": {
            "get": {
                "summary": "The live board (HTML, polls this API with the read token it "
                "takes from #token=... in the URL)",
                "description": "Open to loopback clients, else the read token "
                "(FUNNELWATCH_WEB_PAGES_ACCESS: loopback, token or open).",
                "operationId": "board",
                "security": _PAGES_SECURITY,
                "responses": {
                    "200": {"description": "HTML", "content": {"text/html": {"schema": {}}}}
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "description": "Open to loopback clients, else the read token "
                "(FUNNELWATCH_WEB_PAGES_ACCESS: loopback, token or open).",
                "operationId": "metrics",
                "security": _PAGES_SECURITY,
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {}}}}
                },
            }
        },
    }
    for endpoint, (event_type, key) in ENDPOINTS.items():
        paths[f"/ingest/{endpoint}"] = _ingest(endpoint, event_type, key)
    paths.update(_snippet_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "funnelwatch worker API",
            "version": "1",
            "description": (
                "Live funnel KPIs, bid recommendations and event ingest. Money is integer "
                "micros; times are epoch seconds; windows end at the pipeline's event-time "
                "watermark."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR, **{t: _event_schema(t) for t in EVENT_TYPES}},
            "securitySchemes": {
                "readToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A read token (FUNNELWATCH_READ_TOKEN): reads /api/*, "
                    "/metrics and the board.",
                },
                "ingestToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An ingest token (FUNNELWATCH_INGEST_TOKEN): posts "
                    "/ingest/{clicks,forms,crm,spend} from servers.",
                },
            },
        },
    }
