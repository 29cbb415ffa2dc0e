"""A stateful stand-in for Grafana's HTTP API, for testing ``funnelwatch grafana push``.

It serves the endpoints push uses, as Grafana documents them (paths, methods, status
codes, required body fields), keeps what is written, and records every request and
every way a request strays from the documented API (``violations``). Requests need
``Authorization: Bearer <token>``; the ClickHouse plugin can be made absent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DURATION = re.compile(r"^\d+[smhd]$")
NO_DATA_STATES = {"Alerting", "NoData", "OK"}
EXEC_ERR_STATES = {"OK", "Alerting", "Error"}


@dataclass
class GrafanaState:
    token: str
    plugin_installed: bool = True
    datasources: set[str] = field(default_factory=set)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[tuple[str, str], int] = field(default_factory=dict)
    contact_points: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "uid": "default-email",
                "name": "grafana-default-email",
                "type": "email",
                "settings": {"addresses": "<example@email.com>"},
                "disableResolveMessage": False,
            }
        ]
    )
    policy: dict[str, Any] = field(
        default_factory=lambda: {
            "receiver": "grafana-default-email",
            "group_by": ["grafana_folder", "alertname"],
        }
    )
    requests: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


Reply = tuple[int, Any]


def _require(state: GrafanaState, where: str, body: Any, **fields: type | tuple[type, ...]) -> bool:
    if not isinstance(body, dict):
        state.violations.append(f"{where}: body is not a JSON object")
        return False
    ok = True
    for name, kind in fields.items():
        if name not in body or not isinstance(body[name], kind):
            state.violations.append(f"{where}: field {name!r} missing or not {kind}")
            ok = False
    return ok


def _check_rule(state: GrafanaState, where: str, rule: Any) -> bool:
    if not _require(
        state,
        where,
        rule,
        title=str,
        folderUID=str,
        ruleGroup=str,
        condition=str,
        data=list,
        noDataState=str,
        execErrState=str,
        orgID=int,
    ):
        return False
    ok = True
    rule_for = rule.get("for", "0s")
    if not isinstance(rule_for, str) or not DURATION.match(rule_for):
        state.violations.append(f"{where}: 'for' is not a duration: {rule_for!r}")
        ok = False
    if rule["noDataState"] not in NO_DATA_STATES or rule["execErrState"] not in EXEC_ERR_STATES:
        state.violations.append(f"{where}: bad noDataState/execErrState")
        ok = False
    refs = []
    for query in rule["data"]:
        if not _require(state, where + " data", query, refId=str, datasourceUid=str, model=dict):
            return False
        refs.append(query["refId"])
        if query["datasourceUid"] != "__expr__" and "relativeTimeRange" not in query:
            state.violations.append(f"{where}: query {query['refId']} has no relativeTimeRange")
            ok = False
    if rule["condition"] not in refs:
        state.violations.append(f"{where}: condition {rule['condition']} names no query")
        ok = False
    return ok


def route(state: GrafanaState, method: str, path: str, body: Any) -> Reply:
    """Grafana's answer to one request (the documented endpoints push uses)."""
    not_found: Reply = (404, {"message": "Not found"})
    if (m := re.fullmatch(r"/api/plugins/([^/]+)/settings", path)) and method == "GET":
        if m.group(1) == "grafana-clickhouse-datasource" and state.plugin_installed:
            return 200, {"id": m.group(1), "enabled": True}
        return 404, {"message": "Plugin not found, no installed plugin with that id"}
    if (m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path)) and method == "GET":
        return (200, {"uid": m.group(1)}) if m.group(1) in state.datasources else not_found
    if path == "/api/folders" and method == "POST":
        if not _require(state, "POST /api/folders", body, title=str, uid=str):
            return 400, {"message": "bad request"}
        if body["uid"] in state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
        return 200, state.folders[body["uid"]]
    if m := re.fullmatch(r"/api/folders/([^/]+)", path):
        folder = state.folders.get(m.group(1))
        if method == "GET":
            return (200, folder) if folder else not_found
        if method == "PUT":
            if folder is None:
                return not_found
            if _require(state, "PUT /api/folders/:uid", body, title=str):
                folder.update(title=body["title"], version=folder["version"] + 1)
                return 200, folder
            return 400, {"message": "bad request"}
    if path == "/api/dashboards/db" and method == "POST":
        if not _require(
            state, "POST /api/dashboards/db", body, dashboard=dict, folderUid=str, overwrite=bool
        ):
            return 400, {"message": "bad request"}
        dash = body["dashboard"]
        if not _require(state, "dashboard", dash, uid=str, title=str, panels=list):
            return 400, {"message": "bad request"}
        if body["folderUid"] not in state.folders:
            return 400, {"message": "folder not found"}
        old = state.dashboards.get(dash["uid"])
        if old is not None and not body["overwrite"]:
            return 412, {"status": "version-mismatch"}
        version = 1 if old is None else old["dashboard"]["version"] + 1
        stored = {**dash, "id": 7, "version": version}
        state.dashboards[dash["uid"]] = {
            "dashboard": stored,
            "meta": {"folderUid": body["folderUid"], "version": version},
        }
        return 200, {"status": "success", "uid": dash["uid"], "version": version}
    if (m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)) and method == "GET":
        found_dash = state.dashboards.get(m.group(1))
        return (200, found_dash) if found_dash else not_found
    if path == "/api/v1/provisioning/alert-rules" and method == "POST":
        if not _check_rule(state, "POST alert-rules", body):
            return 400, {"message": "invalid rule"}
        if body["folderUID"] not in state.folders:
            return 400, {"message": "folder does not exist"}
        uid = body.get("uid") or f"generated-{len(state.rules)}"
        state.rules[uid] = {**body, "uid": uid, "id": len(state.rules) + 1, "provenance": "api"}
        state.groups.setdefault((body["folderUID"], body["ruleGroup"]), 60)
        return 201, state.rules[uid]
    if m := re.fullmatch(r"/api/v1/provisioning/alert-rules/([^/]+)", path):
        rule = state.rules.get(m.group(1))
        if method == "GET":
            return (200, rule) if rule else not_found
        if method == "PUT":
            if rule is None:
                return not_found
            if not _check_rule(state, "PUT alert-rules/:uid", body):
                return 400, {"message": "invalid rule"}
            state.rules[m.group(1)] = {
                **body,
                "uid": m.group(1),
                "id": rule["id"],
                "provenance": "api",
            }
            return 200, state.rules[m.group(1)]
    if m := re.fullmatch(r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", path):
        key = (m.group(1), m.group(2))
        if key not in state.groups:
            return not_found
        if method == "GET":
            rules = [r for r in state.rules.values() if (r["folderUID"], r["ruleGroup"]) == key]
            return 200, {
                "title": key[1],
                "folderUid": key[0],
                "interval": state.groups[key],
                "rules": rules,
            }
        if method == "PUT":
            if _require(state, "PUT rule-groups", body, interval=int):
                state.groups[key] = body["interval"]
                return 200, body
            return 400, {"message": "bad request"}
    if path == "/api/v1/provisioning/contact-points":
        if method == "GET":
            return 200, state.contact_points
        if method == "POST":
            if not _require(state, "POST contact-points", body, name=str, type=str, settings=dict):
                return 400, {"message": "bad request"}
            state.contact_points.append(dict(body))
            return 202, body
    if (m := re.fullmatch(r"/api/v1/provisioning/contact-points/([^/]+)", path)) and (
        method == "PUT"
    ):
        if not _require(state, "PUT contact-points/:uid", body, name=str, type=str, settings=dict):
            return 400, {"message": "bad request"}
        for n, point in enumerate(state.contact_points):
            if point.get("uid") == m.group(1):
                state.contact_points[n] = dict(body)
                return 202, {"message": "contactpoint updated"}
        return not_found
    if path == "/api/v1/provisioning/policies":
        if method == "GET":
            return 200, state.policy
        if method == "PUT":
            if not _require(state, "PUT policies", body, receiver=str):
                return 400, {"message": "bad request"}
            if body["receiver"] not in {p["name"] for p in state.contact_points}:
                return 400, {"message": "receiver does not exist"}
            state.policy = dict(body)
            return 202, {"message": "policies updated"}
    state.violations.append(f"undocumented or unexpected request: {method} {path}")
    return not_found


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            state.requests.append((self.command, path))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                status, reply = 401, {"message": "Unauthorized"}
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    state.violations.append(f"{self.command} {path}: body is not JSON")
                    body = None
                if (
                    self.command in ("POST", "PUT")
                    and raw
                    and (self.headers.get("Content-Type", "").split(";")[0] != "application/json")
                ):
                    state.violations.append(f"{self.command} {path}: not application/json")
                status, reply = route(state, self.command, path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def fake_grafana(state: GrafanaState) -> Iterator[str]:
    """Serve ``state`` on a free local port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


Edit = Callable[[GrafanaState], None]
