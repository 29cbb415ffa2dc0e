"""Scheduled incidents: the outages a funnel monitor exists to catch.

Minutes are relative to the simulation start; an incident is active on the half-open
interval ``[from_minute, until_minute)`` (``until_minute`` None: until the end).

- ``form_broken``: the campaign's forms stop submitting. Its clicks keep coming (and
  cost money); no lead of that campaign (by click or by utm_campaign) has a form
  submission timed inside the window.
- ``sales_stop``: sales stop calling leads of one form type. A lead whose ``contacted``
  event would fall inside the window gets no CRM event at all (no contact, so no later
  stage either); leads contacted before the window carry on.

CLI spelling: ``form_broken:<campaign_id>:<from>[:<until>]`` and
``sales_stop:<form_type>:<from>[:<until>]``; a time is minutes (``90``) or carries a unit
(``90m``, ``2h``, ``1d``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INCIDENT_KINDS = ("form_broken", "sales_stop")
_UNITS = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


@dataclass(frozen=True)
class Incident:
    """One scheduled incident; ``target`` is a campaign id or a form type by ``kind``."""

    kind: str
    target: str
    from_minute: int
    until_minute: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; known: {INCIDENT_KINDS}")
        if self.from_minute < 0:
            raise ValueError("an incident cannot start before the simulation")
        if self.until_minute is not None and self.until_minute <= self.from_minute:
            raise ValueError("an incident must end after it starts")

    def active(self, minute: int) -> bool:
        return minute >= self.from_minute and (
            self.until_minute is None or minute < self.until_minute
        )

    def spec(self) -> str:
        """The CLI spelling of this incident (``parse_incident`` inverts it)."""
        until = "" if self.until_minute is None else f":{self.until_minute}"
        return f"{self.kind}:{self.target}:{self.from_minute}{until}"


def form_broken(campaign_id: str, from_minute: int, until_minute: int | None = None) -> Incident:
    return Incident("form_broken", campaign_id, from_minute, until_minute)


def sales_stop(form_type: str, from_minute: int, until_minute: int | None = None) -> Incident:
    return Incident("sales_stop", form_type, from_minute, until_minute)


def parse_minutes(text: str) -> int:
    """``"90"`` and ``"90m"`` -> 90, ``"2h"`` -> 120, ``"1d"`` -> 1440 (rounded down)."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration like 90, 90m, 2h or 1d")
    return int(float(found.group(1)) * _UNITS[found.group(2) or "m"])


def parse_incident(spec: str) -> Incident:
    """Parse ``kind:target:from[:until]``; raise ValueError with a readable message."""
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not parts[1]:
        raise ValueError(
            f"incident {spec!r} is not kind:target:from[:until], "
            "e.g. form_broken:cmp-search-brand:20 or sales_stop:demo_request:60:120"
        )
    kind, target = parts[0], parts[1]
    from_minute = parse_minutes(parts[2])
    until = parse_minutes(parts[3]) if len(parts) == 4 else None
    return Incident(kind, target, from_minute, until)


def blocked(incidents: tuple[Incident, ...], kind: str, target: str, minute: int) -> bool:
    """Whether an incident of ``kind`` on ``target`` is active at ``minute``."""
    return any(i.kind == kind and i.target == target and i.active(minute) for i in incidents)
