"""Raw contact fields (``email``, ``phone``) in Kafka records: never copied on.

The contracts carry contacts only as salted hashes (``contact_hashes``); a producer that
writes a raw ``email`` or ``phone`` into a record breaks that. The pipeline does not
drop the event for it (the event is otherwise valid and counts): it ignores the fields,
counts the record (``funnelwatch_raw_contact_records_total``), and never copies them —
a record the hot path forwards to ``by-lead`` or dead-letters is re-encoded without
them. What the producer wrote into its own topic stays there until the topic's
retention removes it; the pipeline cannot unwrite it. A value that is not a JSON object
has no fields and is copied as it is.

Invariant: :func:`without_raw_contacts` returns None exactly when the value, decoded as
json.loads does, is not an object with a top-level ``email`` or ``phone`` key. The byte
screen before decoding only skips values that cannot hold one: such a key contains
``mail`` or ``phone`` as it is, or a JSON escape of one of its letters, which is
``\\u006.`` or ``\\u0070`` (e, m, a, i, l, h, o, n are 0x61-0x6f, p is 0x70). The
screen costs a lead event without contacts two substring searches and a byte search.
"""

from __future__ import annotations

import json

#: top-level keys that would carry a raw contact
RAW_CONTACT_FIELDS = ("email", "phone")


def _may_hold_one(raw: bytes) -> bool:
    if b"mail" in raw or b"phone" in raw:
        return True
    # escapes are rare: the backslash (one memchr) before the escapes themselves
    return b"\\" in raw and (b"\\u006" in raw or b"\\u0070" in raw)


def without_raw_contacts(raw: bytes | None) -> bytes | None:
    """``raw`` re-encoded without its raw contact fields, or None when it has none."""
    if raw is None or not _may_hold_one(raw):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # malformed: it has no fields to remove
        return None
    if not isinstance(data, dict) or not any(k in data for k in RAW_CONTACT_FIELDS):
        return None
    for key in RAW_CONTACT_FIELDS:
        data.pop(key, None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
