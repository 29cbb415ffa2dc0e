"""Simulator traffic written to ClickHouse without Kafka: generator → attribution → sink.

The records come from the simulator's generator (what ``funnelwatch simulate --dry-run``
writes), the facts from the processors' pure attribution functions, and the tables from
the real FactSink, so every table the boards read holds what the pipeline would write
after draining. Valid events only, deduplicated by event_id (as the worker does); the
final state of each lead is emitted once, which is what the worker's re-emissions
converge to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution import (
    add_crm,
    add_form,
    attribute_form,
    click_fact,
    click_segment,
    lead_facts,
    new_lead_state,
)
from funnelwatch.processors.facts import Fact
from funnelwatch.processors.sink import FactSink
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.streams.simulator.generator import generate
from funnelwatch.streams.simulator.incidents import Incident
from funnelwatch.streams.simulator.model import SimulationConfig, default_campaigns


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


def simulated_facts(sim: Simulation) -> list[Fact]:
    funnel = load_funnel()
    events: dict[str, dict[str, list[dict[str, Any]]]] = {"clicks": {}, "forms": {}, "crm": {}}
    for record in generate(sim.config()):
        if record.valid:
            event = json.loads(record.value)
            events[record.topic_key].setdefault(event["event_id"], []).append(event)
    offset = iter(range(10**9))
    facts: list[Fact] = []
    clicks: dict[str, dict[str, str]] = {}
    for (click,) in (e[:1] for e in events["clicks"].values()):
        facts.append(click_fact(click, ("clicks", 0, next(offset))))
        clicks[click["click_id"]] = click_segment(click)
    leads: dict[str, dict[str, Any]] = {}
    for (form,) in (e[:1] for e in events["forms"].values()):
        state = leads.setdefault(form["lead_id"], new_lead_state())
        attr = attribute_form(form, clicks.get(form.get("click_id") or ""))
        add_form(state, form, attr, ("forms", 0, next(offset)))
    for (crm,) in (e[:1] for e in events["crm"].values()):
        add_crm(leads.setdefault(crm["lead_id"], new_lead_state()), crm, ("crm", 0, next(offset)))
    for lead_id, state in leads.items():
        state["rev"] = 1
        facts.extend(lead_facts(lead_id, state, funnel))
    return sorted(facts, key=lambda f: (f["minute"], f["event_time_ms"]))


def load(client: ClickHouse, sim: Simulation, windows: Sequence[int] = (15, 60)) -> int:
    """Write the simulation's facts through the sink in hour-sized batches; returns facts."""
    facts = simulated_facts(sim)
    sink = FactSink(lambda: client, load_funnel(), tuple(windows), roll_interval=0)
    for hour_start in range(sim.start, sim.end + 1, 3600):
        sink.flush([f for f in facts if hour_start <= f["minute"] < hour_start + 3600])
    return len(facts)
