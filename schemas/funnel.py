"""The funnel definition: which events reach which stage, loaded from YAML.

Invariant: stage names are unique, the first stage is reached by ``ad_click``
and the second by ``form_submission`` (attribution relies on that order); CRM
stages and outcomes are matched by status, and one status maps to one stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .events import CRM_STATUSES, EVENT_TYPES

DEFAULT_FUNNEL_FILE = Path(__file__).with_name("funnel.yaml")


class FunnelConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Stage:
    name: str
    event_type: str
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Funnel:
    stages: tuple[Stage, ...]
    outcomes: tuple[Stage, ...] = ()
    _by_status: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def all_names(self) -> tuple[str, ...]:
        return self.stage_names + tuple(o.name for o in self.outcomes)

    @property
    def transitions(self) -> tuple[tuple[str, str], ...]:
        names = self.stage_names
        return tuple(itertools.pairwise(names))

    def stage_for_status(self, status: str) -> str | None:
        """The stage or outcome a CRM status reaches; None if the funnel ignores it."""
        return self._by_status.get(status)


def load_funnel(path: Path | None = None) -> Funnel:
    path = path or DEFAULT_FUNNEL_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FunnelConfigError(f"cannot read funnel file {path}: {exc}") from exc

    def parse(items: object, what: str) -> tuple[Stage, ...]:
        if not isinstance(items, list):
            raise FunnelConfigError(f"{path}: '{what}' must be a list")
        out = []
        for item in items:
            if not isinstance(item, dict) or "name" not in item or "event_type" not in item:
                raise FunnelConfigError(f"{path}: each {what} entry needs name and event_type")
            if item["event_type"] not in EVENT_TYPES:
                raise FunnelConfigError(f"{path}: unknown event_type {item['event_type']!r}")
            statuses = tuple(item.get("statuses", ()))
            unknown = set(statuses) - set(CRM_STATUSES)
            if unknown:
                raise FunnelConfigError(f"{path}: unknown CRM statuses {sorted(unknown)}")
            out.append(Stage(str(item["name"]), item["event_type"], statuses))
        return tuple(out)

    if not isinstance(raw, dict):
        raise FunnelConfigError(f"{path}: expected a mapping with 'stages'")
    stages = parse(raw.get("stages"), "stages")
    outcomes = parse(raw.get("outcomes", []), "outcomes")
    if (
        len(stages) < 2
        or stages[0].event_type != "ad_click"
        or stages[1].event_type != "form_submission"
    ):
        raise FunnelConfigError(
            f"{path}: the first two stages must be ad_click then form_submission"
        )
    names = [s.name for s in stages + outcomes]
    if len(set(names)) != len(names):
        raise FunnelConfigError(f"{path}: stage names must be unique: {names}")
    by_status: dict[str, str] = {}
    for s in stages[2:] + outcomes:
        if s.event_type != "crm_event" or not s.statuses:
            raise FunnelConfigError(f"{path}: stage {s.name!r} must be a crm_event with statuses")
        for st in s.statuses:
            if st in by_status:
                raise FunnelConfigError(f"{path}: status {st!r} maps to two stages")
            by_status[st] = s.name
    return Funnel(stages, outcomes, by_status)
