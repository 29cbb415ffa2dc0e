"""``funnelwatch grafana push``: the folder, boards, alert rules, contact point and
notification policy into a running Grafana, through its HTTP API (grafana-client).

Invariants:
- idempotent: every object is read first and written only when it differs from what
  the code builds (compared as "ours is contained in theirs", since Grafana adds
  fields of its own such as ids and versions), so a second push makes no write;
- nothing is deleted: objects of other owners in the same Grafana are left alone
  (the notification policy root is the exception: it is the policy this folder's
  alerts route through, replaced as a whole when it differs);
- failures are reported as :class:`PushError` with what to do: Grafana unreachable,
  token rejected (401) or lacking permission (403), ClickHouse plugin not installed;
- the token is handed to the client and never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .alerting import (
    CONTACT_POINT_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    INTERVAL_S,
    RULE_GROUP,
    RULES,
    contact_point,
    notification_policy,
)
from .boards import BOARDS
from .build import plain
from .datasources import CLICKHOUSE_PLUGIN, CLICKHOUSE_UID, PROMETHEUS_UID


class PushError(RuntimeError):
    """A push that cannot go on; the message says why and what to check."""


@dataclass
class PushResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated)


def contains(ours: Any, theirs: Any) -> bool:
    """True when every field we set has the same value in Grafana's copy."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(
            k in theirs and contains(v, theirs[k]) for k, v in ours.items()
        )
    if isinstance(ours, list):
        return (
            isinstance(theirs, list)
            and len(ours) == len(theirs)
            and all(contains(a, b) for a, b in zip(ours, theirs, strict=True))
        )
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return float(ours) == float(theirs)
    return bool(ours == theirs)


class Pusher:
    """One push against one Grafana; ``api`` is a ``grafana_client.GrafanaApi``."""

    def __init__(self, api: Any, log: Callable[[str], None] = print) -> None:
        self.api = api
        self.client = api.client
        self.log = log
        self.result = PushResult()

    # -- plumbing ---------------------------------------------------------------
    def _get(self, path: str) -> Any | None:
        """GET an object; None when Grafana answers 404."""
        from grafana_client.client import GrafanaClientError

        try:
            return self.client.GET(path)
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise

    def _note(self, what: str, created: bool | None) -> None:
        bucket = {True: self.result.created, False: self.result.updated, None: None}[created]
        if bucket is None:
            self.result.unchanged.append(what)
            return
        bucket.append(what)
        self.log(f"{'created' if created else 'updated'} {what}")

    # -- steps --------------------------------------------------------------------
    def check_plugin(self) -> None:
        if self._get(f"/plugins/{CLICKHOUSE_PLUGIN}/settings") is None:
            raise PushError(
                f"the Grafana plugin {CLICKHOUSE_PLUGIN} is not installed: install it "
                f"(grafana cli plugins install {CLICKHOUSE_PLUGIN}, or GF_INSTALL_PLUGINS) "
                "and restart Grafana"
            )
        for uid in (CLICKHOUSE_UID, PROMETHEUS_UID):
            if self._get(f"/datasources/uid/{uid}") is None:
                self.result.warnings.append(
                    f"no data source with uid {uid!r}: the boards need it; provision "
                    "grafana/provisioning/datasources/funnelwatch.yaml or create one with that uid"
                )

    def folder(self) -> None:
        found = self._get(f"/folders/{FOLDER_UID}")
        if found is None:
            self.client.POST("/folders", json={"uid": FOLDER_UID, "title": FOLDER_TITLE})
            self._note(f"folder {FOLDER_UID}", True)
        elif found.get("title") != FOLDER_TITLE:
            self.client.PUT(
                f"/folders/{FOLDER_UID}", json={"title": FOLDER_TITLE, "overwrite": True}
            )
            self._note(f"folder {FOLDER_UID}", False)
        else:
            self._note(f"folder {FOLDER_UID}", None)

    def dashboards(self) -> None:
        for board in BOARDS:
            ours = plain(board.dashboard())
            found = self._get(f"/dashboards/uid/{board.uid}")
            same = (
                found is not None
                and contains(ours, found.get("dashboard"))
                and found.get("meta", {}).get("folderUid") == FOLDER_UID
            )
            if same:
                self._note(f"dashboard {board.uid}", None)
                continue
            self.client.POST(
                "/dashboards/db",
                json={
                    "dashboard": {**ours, "id": None},
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": "funnelwatch grafana push",
                },
            )
            self._note(f"dashboard {board.uid}", found is None)

    def alert_rules(self) -> None:
        for rule in RULES:
            ours = rule.to_json()
            found = self._get(f"/v1/provisioning/alert-rules/{rule.uid}")
            if found is None:
                self.client.POST("/v1/provisioning/alert-rules", json=ours)
                self._note(f"alert rule {rule.uid}", True)
            elif not contains(ours, found):
                self.client.PUT(f"/v1/provisioning/alert-rules/{rule.uid}", json=ours)
                self._note(f"alert rule {rule.uid}", False)
            else:
                self._note(f"alert rule {rule.uid}", None)
        path = f"/v1/provisioning/folder/{FOLDER_UID}/rule-groups/{RULE_GROUP}"
        group = self._get(path)
        if group is not None and group.get("interval") != INTERVAL_S:
            self.client.PUT(path, json={**group, "interval": INTERVAL_S})
            self._note(f"rule group {RULE_GROUP}", False)

    def contact_point(self) -> None:
        ours = contact_point()
        points = self.client.GET("/v1/provisioning/contact-points") or []
        found = next((p for p in points if p.get("uid") == CONTACT_POINT_UID), None)
        if found is None:
            self.client.POST("/v1/provisioning/contact-points", json=ours)
            self._note(f"contact point {CONTACT_POINT_UID}", True)
        elif not contains(ours, found):
            self.client.PUT(f"/v1/provisioning/contact-points/{CONTACT_POINT_UID}", json=ours)
            self._note(f"contact point {CONTACT_POINT_UID}", False)
        else:
            self._note(f"contact point {CONTACT_POINT_UID}", None)

    def policy(self) -> None:
        ours = notification_policy()
        found = self.client.GET("/v1/provisioning/policies")
        if contains(ours, found):
            self._note("notification policy", None)
            return
        self.client.PUT("/v1/provisioning/policies", json=ours)
        self._note("notification policy", False)

    def run(self) -> PushResult:
        self.check_plugin()
        self.folder()
        self.dashboards()
        self.alert_rules()
        self.contact_point()
        self.policy()
        return self.result


def push(
    url: str, token: str, log: Callable[[str], None] = print, timeout: float = 10.0
) -> PushResult:
    """Push everything to the Grafana at ``url``; raise PushError with a clear reason."""
    import niquests
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException

    if not token:
        raise PushError("no Grafana token: pass --token or set FUNNELWATCH_GRAFANA_TOKEN")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    try:
        return Pusher(api, log).run()
    except niquests.exceptions.ConnectionError as exc:
        raise PushError(
            f"cannot reach Grafana at {url}: connection refused or no such host (check --url)"
        ) from exc
    except GrafanaClientError as exc:
        if exc.status_code == 401:
            raise PushError(
                f"Grafana at {url} rejected the token (401 Unauthorized): "
                "check --token / FUNNELWATCH_GRAFANA_TOKEN"
            ) from exc
        if exc.status_code == 403:
            raise PushError(
                "the token may not change this Grafana (403 Forbidden): use a "
                "service account token with the Editor or Admin role"
            ) from exc
        raise PushError(f"Grafana at {url} refused a request: {exc.message}") from exc
    except GrafanaException as exc:
        raise PushError(f"cannot talk to Grafana at {url}: {exc.message}") from exc
