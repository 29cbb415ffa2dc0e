"""Property-based test of every operation of the OpenAPI description (schemathesis
strategies driven by hypothesis): generated requests, with and without the ingest
token, never get a 5xx from the running worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
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
    assert len(labels) == 10, ", ".join(labels)
    calls: dict[str, list[int]] = {}
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            headers = {}
            # half of the ingest requests carry the token, so validation is exercised too
            if case.path.startswith("/ingest/") and len(repr(case.body)) % 2 == 0:
                headers["Authorization"] = f"Bearer {stack.token}"
            response = case.call(base_url=stack.base, headers=headers)
            calls.setdefault(f"{case.method} {case.path}", []).append(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        check()
    for op, codes in calls.items():
        measured(f"{op}: {sorted(set(codes))} x{len(codes)}")
    assert len(calls) == 10
