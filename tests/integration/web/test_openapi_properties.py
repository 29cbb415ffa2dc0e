"""Property-based test of every operation of the OpenAPI description (schemathesis
strategies driven by hypothesis): generated requests, with and without the ingest
token (the API's with the read token), never get a 5xx from the running worker."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import Stack

pytestmark = pytest.mark.integration


def test_no_generated_request_gets_a_server_error(
    stack: Stack, measured: Callable[[str], None]
) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.base}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = sorted(op.label for op in operations)
    # every path of the description but the description itself, which schemathesis skips
    assert len(labels) == 14, ", ".join(labels)
    calls: dict[str, list[int]] = {}
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            headers = {}
            # half of the requests carry the token of their endpoint, so validation and
            # the queries are exercised too, the other half none (401)
            if len(repr(case.body)) % 2 == 0 or case.path.startswith("/api/"):
                token = stack.token if case.path.startswith("/ingest/") else stack.read_token
                headers["Authorization"] = f"Bearer {token}"
            status, text = _send(case.as_transport_kwargs(base_url=stack.base, headers=headers))
            calls.setdefault(f"{case.method} {case.path}", []).append(status)
            assert status < 500, (case.method, case.formatted_path, text)

        check()
    for op, codes in calls.items():
        measured(f"{op}: {sorted(set(codes))} x{len(codes)}")
    assert len(calls) == 14


#: keyword arguments of requests.Request (the transport's other options do not apply here)
_REQUEST_FIELDS = ("method", "url", "headers", "files", "data", "params", "cookies", "json")


def _send(kwargs: dict[str, Any]) -> tuple[int, str]:
    """Send a generated request with the standard library, one connection per request.

    Not ``case.call``: grafana-client's niquests pulls in urllib3-future, which replaces
    urllib3 in the environment, and schemathesis's requests transport then fails on its
    connection pools before sending anything."""
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_FIELDS})
    request = prepared.prepare()
    body = request.body.encode() if isinstance(request.body, str) else request.body
    message = urllib.request.Request(
        str(request.url), data=body, headers=dict(request.headers), method=request.method
    )
    try:
        with urllib.request.urlopen(message, timeout=30) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")
