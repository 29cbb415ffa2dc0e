"""Alert lifecycle: monitor signals grouped into incidents, firing → resolved.

Invariants:
- one incident per (campaign, metric, stage transition): the segments of one
  campaign that alarm together join the open alert instead of raising new ones, so
  a broken form that shows in every device and geo is one alert, not fifteen; a CPL
  rise while the campaign's click→lead conversion alert is open joins nothing and
  raises nothing (CPL = CPC / conversion: it is the same incident);
- an incident resolves when its last segment resolved, or as soon as the campaign
  as a whole (``all=all``) recovered;
- an alert is emitted twice at most: once ``firing`` (when its first monitor fires)
  and once ``resolved`` (when its last monitor resolved); its id is derived from the
  incident and the minute it fired, so a replay of the same minutes gives the same id;
- the tracker holds no clock: times are the minutes of the observations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from .bank import Event

IncidentKey = tuple[str, str, str, str]  # campaign, metric, from_stage, to_stage
ALL_SEGMENT = "all=all"


@dataclass(frozen=True)
class Alert:
    """One state of one alert: a row of the ``alerts`` table and a message."""

    alert_id: str
    kind: str
    status: str
    campaign_id: str
    metric: str
    from_stage: str
    to_stage: str
    segments: tuple[str, ...]
    started_at: int
    fired_at: int
    resolved_at: int
    baseline: float
    current: float
    leads_lost: float
    summary: str

    @property
    def key(self) -> IncidentKey:
        return (self.campaign_id, self.metric, self.from_stage, self.to_stage)

    def as_message(self) -> dict[str, object]:
        body = {k: v for k, v in self.__dict__.items()}
        body["segments"] = list(self.segments)
        for name in ("started_at", "fired_at", "resolved_at"):
            body[name] = _iso(getattr(self, name)) if getattr(self, name) else None
        return body

    def segments_json(self) -> str:
        return json.dumps(list(self.segments))


def alert_id(key: IncidentKey, fired_at: int) -> str:
    return hashlib.sha256("|".join((*key, str(fired_at))).encode()).hexdigest()[:20]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Incident:
    alert: Alert
    members: dict[str, float] = field(default_factory=dict)  # open segment -> leads lost
    closed: dict[str, float] = field(default_factory=dict)  # resolved segment -> leads lost


def summary(a: Alert) -> str:
    where = ", ".join(a.segments[:4]) or "all"
    if len(a.segments) > 4:
        where += f" and {len(a.segments) - 4} more segments"
    since = _iso(a.started_at)
    if a.metric == "conversion":
        text = (
            f"{a.campaign_id}: {a.from_stage}→{a.to_stage} {a.current:.1%} vs baseline "
            f"{a.baseline:.1%} since {since} ({where}); ~{a.leads_lost:.0f} "
            f"{a.to_stage}s lost"
        )
    else:
        text = (
            f"{a.campaign_id}: {a.metric.upper()} {a.current / 1e6:.2f} vs usual "
            f"{a.baseline / 1e6:.2f} since {since}"
        )
    return text if a.status == "firing" else f"resolved: {text}"


def _segment(event: Event) -> str:
    return f"{event.dim}={event.dim_value}"


def _lost(members: dict[str, float]) -> float:
    # Segments of one dimension partition the campaign, those of different dimensions
    # overlap: the loss is the largest per-dimension sum.
    per_dim: dict[str, float] = {}
    for segment, lost in members.items():
        dim = segment.split("=", 1)[0]
        per_dim[dim] = per_dim.get(dim, 0.0) + lost
    return max(per_dim.values(), default=0.0)


class AlertTracker:
    def __init__(self) -> None:
        self.open: dict[IncidentKey, _Incident] = {}

    def restore(self, alerts: list[Alert]) -> None:
        """Open alerts as ClickHouse holds them (members come with :meth:`reconcile`)."""
        for alert in alerts:
            self.open[alert.key] = _Incident(alert)

    def handle(self, events: list[Event]) -> list[Alert]:
        out: list[Alert] = []
        for event in events:
            out += self._fire(event) if event.signal.action == "fire" else self._resolve(event)
        return out

    def reconcile(self, firing: list[Event]) -> list[Alert]:
        """After a warm-up replay: attach the monitors in alarm to the restored alerts,
        fire the incidents no stored alert covers, resolve stored alerts whose monitors
        all recovered during the replay."""
        out = self.handle(firing)
        for key, incident in list(self.open.items()):
            if not incident.members:
                del self.open[key]
                out.append(self._closed(incident, incident.alert.fired_at))
        return out

    def _fire(self, event: Event) -> list[Alert]:
        key = (event.campaign_id, event.metric, event.from_stage, event.to_stage)
        if event.metric == "cpl" and any(
            k[0] == event.campaign_id and k[1] == "conversion" and k[2:] == (
                event.from_stage, event.to_stage) for k in self.open
        ):  # fmt: skip
            # CPL = CPC / conversion: a CPL rise during an open drop of that conversion is
            # the same incident, not a second alert
            return []
        s, segment = event.signal, _segment(event)
        incident = self.open.get(key)
        if incident is not None:
            incident.members[segment] = s.leads_lost
            a = incident.alert
            segments = tuple(sorted({*a.segments, segment}))
            incident.alert = replace(a, segments=segments, started_at=min(a.started_at, s.onset))
            return []
        a = Alert(
            alert_id=alert_id(key, s.minute),
            kind=s.kind,
            status="firing",
            campaign_id=event.campaign_id,
            metric=event.metric,
            from_stage=event.from_stage,
            to_stage=event.to_stage,
            segments=(segment,),
            started_at=s.onset,
            fired_at=s.minute,
            resolved_at=0,
            baseline=s.baseline,
            current=s.current,
            leads_lost=s.leads_lost,
            summary="",
        )
        a = replace(a, summary=summary(a))
        self.open[key] = _Incident(a, {segment: s.leads_lost})
        return [a]

    def _resolve(self, event: Event) -> list[Alert]:
        key = (event.campaign_id, event.metric, event.from_stage, event.to_stage)
        incident = self.open.get(key)
        segment = _segment(event)
        if incident is None or segment not in incident.members:
            return []
        del incident.members[segment]
        incident.closed[segment] = event.signal.leads_lost
        if segment == ALL_SEGMENT:
            incident.members.clear()  # the campaign recovered (the bank restarts the rest)
        if segment == ALL_SEGMENT or ALL_SEGMENT not in incident.members:
            incident.alert = replace(incident.alert, current=event.signal.current)
        if incident.members:
            return []
        del self.open[key]
        return [self._closed(incident, event.signal.minute)]

    def _closed(self, incident: _Incident, minute: int) -> Alert:
        a = incident.alert
        lost = _lost(incident.closed) if incident.closed else a.leads_lost
        done = replace(a, status="resolved", resolved_at=minute, leads_lost=lost)
        return replace(done, summary=summary(done))

    def update_losses(self, losses: dict[tuple[IncidentKey, str], float]) -> None:
        """Refresh the leads lost of open members (for alerts shown while firing)."""
        for (key, segment), lost in losses.items():
            incident = self.open.get(key)
            if incident is not None and segment in incident.members:
                incident.members[segment] = lost
