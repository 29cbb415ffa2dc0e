"""Simulator traffic written to ClickHouse without Kafka: generator → attribution → rollup.

The records come from the simulator's generator (what ``funnelwatch simulate --dry-run``
writes), decoded by the hot path's own decoder, the facts from the processors' pure
attribution functions (``attribution.rules`` and ``attribution.lead``), and the tables
from ``rollup.offline.load_facts`` (the statements the hot path and the roller run), so
every table the boards read holds what the pipeline would write after draining. Valid
events only, deduplicated by event_id (as the worker does); the final state of each lead
is emitted once, which is what the worker's re-emissions converge to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact, minute_of
from funnelwatch.processors.attribution.lead import LeadState, add_crm, add_form, lead_facts
from funnelwatch.processors.attribution.rules import Segment, Segmenter
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.processors.source.placement import owner_partition
from funnelwatch.schemas.decode import EventDecoder, EventStruct, event_ms
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS
from funnelwatch.streams.simulator.generator import generate
from funnelwatch.streams.simulator.incidents import Incident
from funnelwatch.streams.simulator.model import SimulationConfig, default_campaigns

#: partitions the lead facts' ``lead_partition`` is computed for (the settings' default)
PARTITIONS = 4


@dataclass(frozen=True)
class Simulation:
    start: int  # epoch seconds, a whole minute
    minutes: int
    campaigns: int = 8
    clicks_per_minute: float = 60.0
    incidents: tuple[Incident, ...] = ()
    seed: int = 7

    @property
    def end(self) -> int:
        return self.start + self.minutes * 60

    def config(self) -> SimulationConfig:
        start = datetime.fromtimestamp(self.start, UTC)
        return SimulationConfig(
            seed=self.seed,
            start=start,
            end=start + timedelta(minutes=self.minutes),
            campaigns=default_campaigns(self.campaigns),
            clicks_per_minute=self.clicks_per_minute,
            diurnal=False,
            weekly=False,
            incidents=self.incidents,
        )


def simulated_events(sim: Simulation) -> dict[str, list[EventStruct]]:
    """The simulation's valid events per topic key, first seen of each event_id."""
    decoder = EventDecoder()
    now = sim.end + 60  # the decoder's age and skew limits, as a worker right after the run
    seen: set[str] = set()
    events: dict[str, list[EventStruct]] = {"clicks": [], "forms": [], "crm": []}
    for record in generate(sim.config()):
        if record.valid:
            event = decoder.decode(record.value, now)
            if event.event_id not in seen:
                seen.add(event.event_id)
                events[record.topic_key].append(event)
    return events


def simulated_facts(sim: Simulation) -> list[Fact]:
    funnel = load_funnel()
    click_stage, lead_stage = funnel.stage_names[:2]
    events = simulated_events(sim)
    offset = iter(range(10**9))
    facts: list[Fact] = []
    clicks: dict[str, Segment] = {}
    seg = Segmenter(BUILT_IN_SEGMENTS)
    for click in events["clicks"]:
        t = event_ms(click)
        key = seg.click_key(click)
        segment = clicks[click.click_id] = Segment(key[0], key[1:])
        facts.append(
            Fact(minute_of(t), click_stage, click.event_id, t, segment.campaign_id,
                 seg.click_names, segment.values, "click", "", click.click_id,
                 click.cost_micros, 0, 1, 1, "clicks", 0, next(offset), 0)
        )  # fmt: skip
    leads: dict[str, LeadState] = {}
    for form in events["forms"]:
        state = leads.setdefault(form.lead_id, LeadState())
        attr = seg.attribute_form(form, clicks.get(form.click_id or ""))
        add_form(state, form.event_id, event_ms(form), attr, form.click_id or "",
                 ("forms", 0, next(offset)))  # fmt: skip
    for crm in events["crm"]:
        stage = funnel.stage_for_status(crm.status)
        if stage is None:
            continue
        add_crm(leads.setdefault(crm.lead_id, LeadState()), crm.event_id, event_ms(crm), stage,
                crm.deal_value_micros or 0, ("crm", 0, next(offset)))  # fmt: skip
    for lead_id, state in leads.items():
        partition = owner_partition(lead_id, PARTITIONS)
        facts.extend(lead_facts(lead_id, partition, state, lead_stage, 1, seg.names))
    return sorted(facts, key=lambda f: (f.minute, f.event_time_ms))


def load(client: ClickHouse, sim: Simulation, windows: Sequence[int] = (15, 60)) -> int:
    """Write the simulation's facts and KPIs in hour-sized batches; returns facts."""
    facts = simulated_facts(sim)
    funnel = load_funnel()
    for hour_start in range(sim.start, sim.end + 1, 3600):
        batch = [f for f in facts if hour_start <= f.minute < hour_start + 3600]
        load_facts(client, batch, funnel, tuple(windows))
    return len(facts)
