"""Corrections to faust-streaming 0.15.3 that the delivery guarantee depends on.

Faust writes table changes to their changelog topics through a producer buffer
(``send_soon``) and, before committing offsets, calls ``ProducerBuffer.flush``. That
flush gives up after 0.1 s without a message leaving the buffer, and it does not
wait for the message its sender task has already taken off the queue. Offsets can
then be committed while changelog writes of the events they cover are still in this
process: after a SIGKILL the restored tables miss those writes (a click seen, a
lead's state) although their events are never replayed, and the pipeline's output
silently diverges (a form attributed by utm instead of its click).

Faust's fetch loop also treats any jump in a partition's offsets as a compaction or
transaction gap and counts the skipped offsets as processed. funnelwatch's topics have
neither, and after a restart Faust 0.15.3 can fetch records around the end of table
recovery that it never hands to the agents: the "gap" then covered about a hundred
unprocessed records per partition, which were committed as done (lost clicks) or, at
the head of a partition, stopped its commits for good (the pipeline never drained).

Invariants restored here:

- when ``ProducerBuffer.flush`` returns, every message put into the buffer before the
  call has been acknowledged by Kafka (or flush raised);
- an offset is delivered to the agents before any later offset of its partition is;
  a jump is read again from the first missing offset, never skipped — also on a
  group's first start, where no seek names the first offset (the log's start is the
  first offset then, as records fetched during the first table recovery can be
  dropped there too);
- a stream partition with records waiting is never left unfetched, and its committed
  offset never stays behind what was handed over: after a restart Faust can leave one
  partition out of its fetches for good (paused by its flow control, or fetched up to
  the end and dropped), or never receive the acknowledgement of records it counted as
  handed over (then it can never commit past them). A watchdog (:func:`watch_stalls`)
  finds a partition in either state that has not moved for ``STALL_SECONDS`` while
  tables are not recovering, makes it fetchable again and reads it from its next (or
  committed) offset; records handed over twice are replays the pipeline absorbs;
- a revoked partition forgets its next offset: Faust drops its acknowledgements, so if
  the partition comes back its records are handed over again from the committed offset;
- records handed over stay in the agents' queues until taken: Faust empties every
  stream queue each time it resumes flow, and table recovery resumes flow again after
  streams have started, dropping records the fetch loop had handed over. Queues are
  now emptied only when flow resumes after a suspension (a rebalance);
- no offset is committed past a record that was never acknowledged: Faust's check
  for an unacknowledged head of a partition let exactly one record through (it
  compared with the committed offset as if that were the last record processed), and
  it did not run before a partition's first commit. A dropped record at the head now
  holds the partition's commits until the watchdog reads it again;
- records that retention deleted before they were read (a worker stopped for longer
  than a topic's retention) are skipped with a warning, from the first missing offset
  to the log start; reading them again could only stall the partition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING, Consumer, ThreadDelegateConsumer
from faust.transport.producer import ProducerBuffer
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)

_UNACKED = "_funnelwatch_unacked"
_CAUGHT_UP_AT = "_funnelwatch_caught_up_at"  # when a fetch last returned nothing
#: per partition, the offset below which nothing is owed: where reading began before a
#: first commit, or the log start after retention deleted records never read
_FLOORS = "_funnelwatch_floors"
#: a partition that has records waiting and has not moved for this long is stuck
STALL_SECONDS = 20.0
#: a flush that cannot finish fails (so no offset is committed) instead of hanging
FLUSH_TIMEOUT_SECONDS = 60.0
_installed = False


def install() -> None:
    """Patch Faust once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    original_put = ProducerBuffer.put
    original_flush = ProducerBuffer.flush

    def put(self: ProducerBuffer, fut: Any) -> None:
        unacked: set[asyncio.Future[Any]] = self.__dict__.setdefault(_UNACKED, set())
        unacked.add(fut)
        fut.add_done_callback(unacked.discard)
        original_put(self, fut)

    async def flush(self: ProducerBuffer) -> None:
        await original_flush(self)
        unacked: set[asyncio.Future[Any]] = self.__dict__.get(_UNACKED, set())
        if unacked:
            # gather raises the first send error: the commit that called us must fail
            await asyncio.wait_for(asyncio.gather(*list(unacked)), FLUSH_TIMEOUT_SECONDS)

    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    _hold_commits_behind_unacked_head()
    _keep_queues_while_flowing()
    ThreadDelegateConsumer.committed_on_broker = _committed_on_broker  # type: ignore[attr-defined]
    _track_seeks()


def _hold_commits_behind_unacked_head() -> None:
    original = Consumer._new_offset

    def _new_offset(self: Any, tp: Any) -> int | None:
        if _head_unacked(self, tp):
            return None
        result: int | None = original(self, tp)
        return result

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]


def _keep_queues_while_flowing() -> None:
    original = FlowControlEvent.resume

    def resume(self: FlowControlEvent) -> None:
        if self.is_active():
            return  # already flowing: the queues hold records handed over since
        original(self)

    FlowControlEvent.resume = resume  # type: ignore[method-assign]


def _next_offsets(consumer: Any) -> dict[Any, int]:
    """Per stream partition: the offset the agents must be handed next."""
    found: dict[Any, int] = consumer.__dict__.setdefault("_funnelwatch_next", {})
    return found


def _track_seeks() -> None:
    # Every way Faust moves a position records where reading resumes.
    original_seek = Consumer.seek
    original_to_committed = ThreadDelegateConsumer.seek_to_committed
    original_seek_wait = ThreadDelegateConsumer.seek_wait

    async def seek(self: Any, partition: Any, offset: int) -> None:
        await original_seek(self, partition, offset)
        _next_offsets(self)[partition] = offset

    async def seek_to_committed(self: Any) -> Any:
        offsets = await original_to_committed(self)
        nxt = _next_offsets(self)
        for tp, offset in offsets.items():
            if offset is not None and offset >= 0:
                nxt[tp] = offset
        return offsets

    async def seek_wait(self: Any, partitions: Any) -> None:
        await original_seek_wait(self, partitions)
        _next_offsets(self).update(partitions)

    original_revoked = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        # Faust drops its acks of revoked partitions: what was handed over before is
        # handed over again if the partition comes back (from its committed offset).
        nxt = _next_offsets(self)
        for tp in revoked:
            nxt.pop(tp, None)
        await original_revoked(self, revoked)

    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]
    Consumer.seek = seek  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_wait = seek_wait  # type: ignore[method-assign]


async def _drain_messages(self: Any, fetcher: Any) -> None:
    """Faust's fetch loop; a stream partition's offsets reach the agents without holes."""
    callback = self.callback
    acks_enabled_for = self.app.topics.acks_enabled_for
    read_offset: dict[Any, int | None] = self._read_offset
    nxt = _next_offsets(self)
    # partition -> offset sought back to and not received yet
    rewinding: dict[Any, int] = {}
    since_yield = 0
    state = self.__dict__
    loop = asyncio.get_running_loop()

    def deliverable(tp: Any, offset: int, stream: bool) -> bool | None:
        """True: hand it over; False: already handed over; None: records before it are missing."""
        if not stream:
            # changelogs are compacted (real holes): Faust's own rule
            last = read_offset.get(tp)
            return last is None or offset >= last
        expected = nxt.get(tp)
        if expected is None or offset == expected:
            return True
        return False if offset < expected else None

    try:
        while not (self._stopped.is_set() or fetcher._stopped.is_set()):
            self.diag.set_flag(CONSUMER_FETCHING)
            records = self.getmany(timeout=1.0)
            await self.sleep(0)  # getmany can return at once, again and again
            if self.should_stop:
                continue
            fetched = 0
            async for tp, message in records:
                fetched += 1
                since_yield += 1
                if since_yield > 100:
                    await asyncio.sleep(0)
                    since_yield = 0
                offset = message.offset
                stream = acks_enabled_for(tp.topic) and not self._is_changelog_tp(tp)
                if stream and tp not in nxt:
                    try:
                        start = await _first_offset(self, tp)
                    except Exception as exc:  # the broker is away: check from the next record
                        log.warning("%s:%s: first offset unknown: %r", tp.topic, tp.partition, exc)
                        start = None
                    if start is not None:
                        nxt[tp] = start
                        _floors(self)[tp] = start
                verdict = deliverable(tp, offset, stream)
                # a jump not read again yet may be records retention deleted unread
                fresh_jump = verdict is None and rewinding.get(tp) != nxt[tp]
                if fresh_jump and await _skip_deleted(self, tp):
                    verdict = deliverable(tp, offset, stream)
                if verdict is None:
                    expected = nxt[tp]
                    if rewinding.get(tp) != expected:
                        log.warning(
                            "%s:%s: offsets %s to %s were fetched but never processed; "
                            "reading them again", tp.topic, tp.partition, expected, offset - 1,
                        )  # fmt: skip
                        rewinding[tp] = expected
                        await self.seek(tp, expected)
                    continue
                if not verdict:
                    continue
                rewinding.pop(tp, None)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                delivery = asyncio.ensure_future(callback(message))
                await self.wait_first(delivery, self.suspend_flow.wait())
                read_offset[tp] = offset
                if delivery.done() and not delivery.cancelled() and not delivery.exception():
                    nxt[tp] = offset + 1
            if not fetched:
                state[_CAUGHT_UP_AT] = loop.time()
            self.diag.unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            return
        raise
    finally:
        self.diag.unset_flag(CONSUMER_FETCHING)


def _floors(consumer: Any) -> dict[Any, int]:
    found: dict[Any, int] = consumer.__dict__.setdefault(_FLOORS, {})
    return found


def _head(consumer: Any, tp: Any) -> int | None:
    """The first record of ``tp`` that is owed and not committed yet (None: unknown)."""
    known = [
        o for o in (_committed_offset(consumer, tp), _floors(consumer).get(tp)) if o is not None
    ]
    return max(known) if known else None


def _head_unacked(consumer: Any, tp: Any) -> bool:
    """Later records of ``tp`` were acknowledged but not its head (the committed offset
    is the next record to process, so it must be acknowledged first)."""
    acked: list[int] = consumer._acked.get(tp) or []
    head = _head(consumer, tp)
    return bool(acked) and head is not None and min(acked) > head


async def _skip_deleted(consumer: Any, tp: Any) -> bool:
    """Move past records of ``tp`` that retention deleted before they were read, if any."""
    expected = _next_offsets(consumer)[tp]
    try:
        earliest: dict[Any, int] = await consumer.earliest_offsets(tp)
    except Exception as exc:  # the broker is away: read the jump again instead
        log.warning("%s:%s: log start unknown: %r", tp.topic, tp.partition, exc)
        return False
    log_start = earliest.get(tp)
    if log_start is None or log_start <= expected:
        return False
    log.warning(
        "%s:%s: offsets %s to %s were deleted (retention) before they were read; "
        "reading on from %s", tp.topic, tp.partition, expected, log_start - 1, log_start,
    )  # fmt: skip
    _next_offsets(consumer)[tp] = log_start
    _floors(consumer)[tp] = log_start
    # Faust's own head check compares with its committed offset
    if (_committed_offset(consumer, tp) or 0) < log_start:
        consumer._committed_offset[tp] = log_start
    return True


async def _first_offset(consumer: Any, tp: Any) -> int | None:
    """Where a partition's reading starts when no seek said so: its committed offset
    (Faust's, else the broker's: a record can arrive before Faust's own seek to the
    committed offsets ran), else, for a new group reading from the earliest offset,
    the start of its log."""
    committed = _committed_offset(consumer, tp)
    if committed is None:
        committed = await consumer.committed_on_broker(tp)
    if committed is not None and committed >= 0:
        return int(committed)
    if consumer.app.conf.consumer_auto_offset_reset != "earliest":
        return None  # reading starts at the end: nothing before it is owed
    earliest: dict[Any, int] = await consumer.earliest_offsets(tp)
    return earliest.get(tp)


async def _committed_on_broker(self: Any, tp: Any) -> int | None:
    """The group's committed offset of ``tp`` as the broker has it (None: none yet)."""
    thread = self._thread
    offset: int | None = await thread.call_thread(thread._ensure_consumer().committed, tp)
    return offset


def watch_stalls(app: Any, interval: float = 5.0) -> None:
    """Register the stuck-partition watchdog on a Faust app (see the module docstring).

    A stream partition is stuck when, for ``STALL_SECONDS`` within one consumer
    generation, neither its next offset nor its committed offset moved while either
    records wait past the next offset (never fetched, or fetched and dropped), or the
    committed offset stays behind the next one (records counted as handed over whose
    acknowledgement never came, so Faust can never commit past them). The first is
    read again from its next offset, the second from its committed offset.

    It judges by what it sees, not by Faust's ``rebalancing`` flag: Faust leaves that
    flag set when a recovery ends on a stale generation, and a watchdog gated on it
    stayed silent through a stall. A record dropped at the head of a partition whose later
    records were acknowledged holds its commits (see above); it is read again once the
    commit has stood still for ``STALL_SECONDS``, backlog or not. It never acts while
    tables recover or flow is stopped
    (a partition paused then is paused on purpose) and says so when that lasts, nor
    while the consumer works through a backlog (no fetch came back empty lately).
    """
    # partition -> ((next offset, committed offset), since when)
    progress: dict[Any, tuple[tuple[int, int | None], float]] = {}
    seen: dict[str, Any] = {"generation": None, "reported": float("-inf")}

    @app.timer(interval)  # type: ignore[untyped-decorator]
    async def unstick_partitions() -> None:
        consumer = app.consumer
        now = asyncio.get_running_loop().time()
        if app.consumer_generation_id != seen["generation"]:
            progress.clear()  # a new generation seeks every partition itself
            seen["generation"] = app.consumer_generation_id
        caught_up_at = consumer.__dict__.get(_CAUGHT_UP_AT)
        # With a backlog, Faust hands over some partitions' fetched records long after
        # others'; only a consumer that has caught up can tell a stuck partition from a
        # waiting one (reading a waiting one again sends it to the back of the queue).
        caught_up = caught_up_at is not None and now - caught_up_at <= 2 * interval
        streams = [tp for tp in consumer.assignment() if not consumer._is_changelog_tp(tp)]
        # end offsets from the broker: a partition never fetched has no highwater locally
        ends = await consumer.highwaters(*streams) if streams else {}
        for tp in streams:
            committed = _committed_offset(consumer, tp)
            expected = _next_offsets(consumer).get(tp, committed)
            end = ends.get(tp)
            if expected is None or end is None:
                progress.pop(tp, None)
                continue
            unacked = committed is not None and committed < expected
            if not (end > expected or unacked):
                progress.pop(tp, None)
                continue
            # Later records acknowledged while the one at the commit is not: it was
            # dropped (one agent takes a partition's records in order), so reading goes
            # on past it and only its commit standing still tells.
            dropped_head = unacked and _head_unacked(consumer, tp)
            mark = (-1, committed) if dropped_head else (expected, committed)
            since = progress.get(tp)
            if since is None or since[0] != mark:
                progress[tp] = (mark, now)
                continue
            if now - since[1] < STALL_SECONDS:
                continue
            if not (caught_up or dropped_head):
                continue
            held = "tables in recovery" if app.in_recovery else None
            held = held or (None if consumer.flow_active else "flow stopped")
            if held:
                if now - seen["reported"] >= 60:
                    seen["reported"] = now
                    log.warning("%s:%s at offset %s (committed %s, end %s) for %.0fs; "
                                "left alone: %s", tp.topic, tp.partition, expected, committed,
                                end, now - since[1], held)  # fmt: skip
                continue
            resume = committed if unacked and committed is not None else expected
            log.warning(
                "%s:%s stuck at offset %s (committed %s, end %s) for %.0fs (paused %s, "
                "buffered %s, active %s, rebalancing flag %s): reading it again from %s",
                tp.topic, tp.partition, expected, committed, end, now - since[1],
                tp in consumer._paused_partitions, tp in consumer._buffered_partitions,
                tp in consumer._get_active_partitions(), app.rebalancing, resume,
            )  # fmt: skip
            consumer._paused_partitions.discard(tp)
            consumer._buffered_partitions.discard(tp)
            consumer._get_active_partitions().add(tp)
            await consumer.seek(tp, resume)
            progress.pop(tp, None)


def _committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust last committed (or found committed) for ``tp``; None if unknown."""
    committed = consumer._committed_offset.get(tp)
    return committed if committed is not None and committed >= 0 else None
