"""Forms that named a click not seen yet, in ClickHouse (``waiting_forms``).

The race this closes: a form and its click processed at the same time by two workers
(clicks are written by whichever worker reads their partition, forms by their lead's
owner). The lead owner writes a waiting row, then looks the click up again; the click's
writer writes the click, then looks for waiting rows. Each side writes before it reads,
so at least one of them sees the other, and the form ends attributed to its click
either way (the click's writer tells the lead's owner through the by-lead topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from funnelwatch.clickhouse import ClickHouse


class Waiting(NamedTuple):
    click_id: str
    event_id: str  # the form's
    lead_id: str
    lead_partition: int
    minute: int


_COLUMNS = Waiting._fields

# The clicks of one batch are found by the offsets they were read at, in the minutes
# they fall in (the facts' sorting key), so no list of ids travels with the query.
_FOR_BATCH = """
SELECT click_id, event_id, lead_id, lead_partition, toUInt32(minute)
FROM waiting_forms
WHERE click_id IN
(
    SELECT click_id FROM funnel_facts
    WHERE minute IN %(minutes)s AND lead_id = '' AND source_topic = %(topic)s
      AND ({ranges})
)
"""


def record_waiting(client: ClickHouse, rows: Sequence[Waiting]) -> None:
    if rows:
        client.insert_columns("waiting_forms", {c: [getattr(r, c) for r in rows] for c in _COLUMNS})


def waiting_for(
    client: ClickHouse,
    topic: str,
    minutes: Sequence[int],
    offsets: Mapping[int, tuple[int, int]],
) -> list[Waiting]:
    """Waiting forms for the clicks read from ``topic`` at these offsets (partition ->
    (first, last)), whose facts are already written."""
    if not minutes or not offsets:
        return []
    params: dict[str, object] = {"minutes": tuple(sorted(set(minutes))), "topic": topic}
    ranges = []
    for i, (partition, (first, last)) in enumerate(sorted(offsets.items())):
        ranges.append(
            f"(source_partition = %(p{i})s AND source_offset >= %(a{i})s "
            f"AND source_offset <= %(b{i})s)"
        )
        params.update({f"p{i}": partition, f"a{i}": first, f"b{i}": last})
    rows = client.execute(_FOR_BATCH.format(ranges=" OR ".join(ranges)), params)
    return [Waiting(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]
