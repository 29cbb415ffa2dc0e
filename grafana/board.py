"""A board: its panels, variables and annotations, each an SDK builder kept together
with the ClickHouse queries it carries.

``Board.dashboard()`` is the SDK model that becomes the provisioned JSON;
``Board.clickhouse_queries()`` lists every ClickHouse query of the board with where
it sits, so the tests run each one (a new panel cannot escape them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as dm

from .chquery import ClickHouseQuery

TAGS = ["funnelwatch"]


@dataclass(frozen=True)
class Part:
    """A panel (or variable, or annotation) builder and its ClickHouse queries."""

    builder: Builder[Any]
    queries: tuple[ClickHouseQuery, ...] = ()


@dataclass(frozen=True)
class LocatedQuery:
    """A ClickHouse query and where it sits: ``panel``, ``variable`` or ``annotation``."""

    board_uid: str
    place: str
    title: str
    query: ClickHouseQuery
    panel_type: str = ""

    @property
    def id(self) -> str:
        return f"{self.board_uid}/{self.place}/{self.title}/{self.query.ref_id}"


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    panels: Sequence[Part]
    variables: Sequence[Part] = ()
    annotations: Sequence[Part] = ()
    refresh: str = "30s"
    time_from: str = "now-6h"

    def dashboard(self) -> dm.Dashboard:
        builder = (
            db.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags(TAGS)
            .refresh(self.refresh)
            .time(self.time_from, "now")
            .timezone("browser")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        )
        for variable in self.variables:
            builder = builder.with_variable(variable.builder)
        for annotation in self.annotations:
            builder = builder.annotation(annotation.builder)
        for panel in self.panels:
            builder = builder.with_panel(panel.builder)
        return builder.build()

    def clickhouse_queries(self) -> Iterator[LocatedQuery]:
        for place, parts in (
            ("panel", self.panels),
            ("variable", self.variables),
            ("annotation", self.annotations),
        ):
            for part in parts:
                built: Any = part.builder.build()
                title = str(getattr(built, "title", None) or getattr(built, "name", ""))
                kind = str(getattr(built, "type_val", "") or "")
                for query in part.queries:
                    yield LocatedQuery(self.uid, place, title, query, kind)
