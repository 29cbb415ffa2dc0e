"""The OpenAPI 3.1 description of every endpoint of the worker's web server.

Invariant: the ingest request bodies embed the same JSON Schemas the pipeline
validates with (generated from the Faust records), so the description cannot drift
from what the ingest accepts; tests/integration/web checks every path here answers.
"""

from __future__ import annotations

from typing import Any

from funnelwatch.schemas.contracts import json_schema
from funnelwatch.schemas.events import EVENT_TYPES

from .ingest import ENDPOINTS
from .kpis import SEGMENT_DIMS, WINDOWS

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
        "spend_micros": {"type": "integer"},
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
            "security": [{"bearer": []}],
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
                "401": _json(_ERR, "no or malformed bearer token"),
                "403": _json(_ERR, "wrong bearer token"),
                "413": _json(_ERR, "body larger than FUNNELWATCH_INGEST_MAX_BODY_BYTES"),
                "503": _json(_ERR, "ingest disabled (no token configured) or Kafka unavailable"),
            },
        }
    }


def _get(
    summary: str, op: str, response: dict[str, Any], params: list[Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "parameters": params,
            "responses": {
                "200": _json(response, "OK"),
                **{code: _json(_ERR, text) for code, text in errors.items()},
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The description served at ``/api/openapi.json``."""
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
                    "schema": {"type": "string", "enum": list(SEGMENT_DIMS), "default": "all"},
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
                "summary": "This description",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
            }
        },
        "/": {
            "get": {
                "summary": "The live board (HTML, polls this API)",
                "operationId": "board",
                "responses": {
                    "200": {"description": "HTML", "content": {"text/html": {"schema": {}}}}
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {}}}}
                },
            }
        },
    }
    for endpoint, (event_type, key) in ENDPOINTS.items():
        paths[f"/ingest/{endpoint}"] = _ingest(endpoint, event_type, key)
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
