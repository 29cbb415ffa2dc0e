"""Taking over a lead partition: trust the local store, or rebuild it from ClickHouse.

The local store of a partition can be trusted only if nobody else wrote that
partition since this store last did: its owner row in ClickHouse
(``lead_partition_owners``) names this store, and the offsets the store reflects are
exactly the group's committed ones. Otherwise (another worker owned the partition, the
store is new or was lost) the partition's leads are rebuilt from ``lead_facts``: each
fact's newest version gives the lead's events and their attributions.

A worker killed in the middle of a write can leave some of a batch's facts in
ClickHouse and not others. The state rebuilt from what is there is a set of real
events; the records of that batch were never committed, so they are read again and
complete it. What the replay would not rewrite is a fact whose stored row disagrees
with the rebuilt state while the replay changes nothing about it: :func:`rebuild`
returns those leads, and the caller writes all their facts again at once.

Before its first write to the partition the new owner writes its owner row, so the
previous owner, should it come back, no longer trusts its own copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from funnelwatch.clickhouse import ClickHouse

from ..attribution.facts import Fact
from ..attribution.lead import CrmItem, FormItem, LeadState, lead_view
from ..attribution.rules import Attribution, Segmenter
from ..rollup.versions import new_version, saw_version
from .leads import LeadStore, TopicPartition

log = logging.getLogger(__name__)

#: rows of lead_facts per restore query: bounds the memory a restore needs
RESTORE_CHUNK_ROWS = 250_000

_OWNER = """
SELECT argMax(owner, version), max(version) FROM lead_partition_owners
WHERE lead_partition = %(p)s
"""

_COUNT = "SELECT count(), max(version) FROM lead_facts WHERE lead_partition = %(p)s"

_FACTS = """
SELECT lead_id, stage, event_id,
       argMax(event_time_ms, version), argMax(campaign_id, version),
       argMax(dim_names, version), argMax(dim_values, version),
       argMax(attribution, version), argMax(click_id, version),
       argMax(revenue_micros, version), argMax(counted, version),
       argMax(source_topic, version), argMax(source_partition, version),
       argMax(source_offset, version)
FROM lead_facts
WHERE lead_partition = %(p)s AND minute >= toDateTime(%(since)s)
  AND cityHash64(lead_id) %% %(chunks)s = %(chunk)s
GROUP BY lead_id, stage, event_id
"""


def last_owner(client: ClickHouse, partition: int) -> str | None:
    rows = client.execute(_OWNER, {"p": partition})
    if not rows or not rows[0][1]:
        return None
    saw_version(int(rows[0][1]))
    return str(rows[0][0])


def take_ownership(client: ClickHouse, partition: int, store_id: str) -> None:
    client.insert(
        "lead_partition_owners",
        ("lead_partition", "owner", "version"),
        [(partition, store_id, new_version())],
    )


def trusted(
    store: LeadStore,
    owner: str | None,
    tps: list[TopicPartition],
    committed: Mapping[TopicPartition, int],
) -> bool:
    """Whether the store's copy of a partition is exactly the durable state."""
    if owner != store.store_id:
        return False
    applied = store.applied(tps)
    return all(applied.get(tp, -1) == committed.get(tp, -1) for tp in tps)


@dataclass
class Rebuilt:
    leads: int = 0
    #: leads whose stored facts disagree with their rebuilt state: write them again
    repair: dict[str, LeadState] = field(default_factory=dict)


def rebuild(
    client: ClickHouse,
    store: LeadStore,
    partition: int,
    lead_stage: str,
    since_ms: int,
    segmenter: Segmenter,
) -> Rebuilt:
    """Replace the store's copy of ``partition`` with the state ClickHouse holds (facts
    written under another segment set read as the segmenter's: see Segmenter.aligned)."""
    rows = client.execute(_COUNT, {"p": partition})
    total = int(rows[0][0]) if rows else 0
    if rows and rows[0][1]:
        saw_version(int(rows[0][1]))
    chunks = max(1, -(-total // RESTORE_CHUNK_ROWS))
    result = Rebuilt()

    def states() -> Iterator[tuple[str, LeadState]]:
        for chunk in range(chunks):
            params = {"p": partition, "since": since_ms // 1000, "chunks": chunks, "chunk": chunk}
            by_lead: dict[str, list[tuple[object, ...]]] = {}
            for row in client.execute(_FACTS, params):
                by_lead.setdefault(str(row[0]), []).append(row)
            for lead_id, facts in by_lead.items():
                state, stored = _state_of(facts, lead_stage, segmenter)
                view = lead_view(lead_id, partition, state, lead_stage, 0, segmenter.names)
                if any(_stored_content(f) != stored.get(k) for k, (f, _) in view.items()):
                    result.repair[lead_id] = state
                result.leads += 1
                yield lead_id, state

    store.replace_partition(partition, states())
    return result


def _stored_content(fact: Fact) -> tuple[object, ...]:
    return (fact.campaign_id, fact.dim_names, fact.dim_values, fact.attribution, fact.counted)


def _state_of(
    rows: list[tuple[Any, ...]], lead_stage: str, segmenter: Segmenter
) -> tuple[LeadState, dict[tuple[str, str], tuple[object, ...]]]:
    state = LeadState()
    stored: dict[tuple[str, str], tuple[object, ...]] = {}
    for row in rows:
        (_, stage, eid, t, campaign, names, values, method, click_id, revenue, counted,
         src_topic, src_partition, src_offset) = row  # fmt: skip
        src = (str(src_topic), int(str(src_partition)), int(str(src_offset)))
        stage, eid = str(stage), str(eid)
        names, values = tuple(map(str, names)), tuple(map(str, values))
        stored[(stage, eid)] = (str(campaign), names, values, str(method), int(str(counted)))
        if stage == lead_stage:
            mine = segmenter.aligned(names, values, segmenter.names)
            attr = Attribution(str(campaign), mine, str(method))
            state.forms[eid] = FormItem(int(str(t)), attr, str(click_id), src)
        else:
            state.crm[eid] = CrmItem(int(str(t)), stage, int(str(revenue)), src)
    return state, stored
