"""The corrections to Faust that offset commits rely on (see processors/faust_fixes.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from funnelwatch.processors import faust_fixes


class _SlowChannel:
    """Acknowledges each message after a delay longer than Faust's 0.1 s flush wait."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        async def ack() -> None:
            await asyncio.sleep(self.delay)
            fut.set_result("acked")

        asyncio.get_running_loop().create_task(ack())


class _Pending:
    def __init__(self, channel: _SlowChannel) -> None:
        self.channel = channel


class _Conf:
    producer_threaded = False


class _App:
    conf = _Conf()


async def _flush_with_slow_acks(delay: float) -> list[bool]:
    faust_fixes.install()
    buffer = ProducerBuffer()
    buffer.app = _App()  # type: ignore[assignment]
    await buffer.start()
    futures = []
    channel = _SlowChannel(delay)
    for _ in range(3):
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.message = _Pending(channel)  # type: ignore[attr-defined]
        buffer.put(fut)  # type: ignore[arg-type]
        futures.append(fut)
    await buffer.flush()
    done = [f.done() for f in futures]
    await buffer.stop()
    return done


def test_flush_returns_only_after_every_buffered_message_is_acknowledged() -> None:
    assert asyncio.run(_flush_with_slow_acks(0.3)) == [True, True, True]


PARTITION = TP("by-click", 0)


def _ignore(*_: Any) -> None:
    return None


class _Stopped:
    def __init__(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag


class _FakeConsumer:
    """The attributes Faust's fetch loop uses, with scripted fetch results."""

    consumer_stopped_errors: tuple[type[BaseException], ...] = (ConnectionError,)

    def __init__(self, batches: list[list[int]], start: int | None, log_start: int = 0) -> None:
        self._batches = batches
        self._stopped = _Stopped()
        self._read_offset: dict[Any, int | None] = {}
        self._commit_every = None
        self._n_acked = 0
        self.should_stop = False
        self.delivered: list[int] = []
        self.seeks: list[tuple[TP, int]] = []
        self.suspend_flow = asyncio.Event()
        self.diag = type("Diag", (), {"set_flag": _ignore, "unset_flag": _ignore})()
        self.app = type("App", (), {})()
        self.app.topics = type("Topics", (), {"acks_enabled_for": staticmethod(bool)})()
        self.app.conf = type("Conf", (), {"consumer_auto_offset_reset": "earliest"})()
        self._committed_offset: dict[TP, int | None] = {}
        self.broker_committed: dict[TP, int] = {}
        self.log_start = log_start
        if start is not None:
            faust_fixes._next_offsets(self)[PARTITION] = start

    def _is_changelog_tp(self, tp: Any) -> bool:
        return False

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        faust_fixes._next_offsets(self)[tp] = offset

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, self.log_start)

    async def committed_on_broker(self, tp: TP) -> int | None:
        return self.broker_committed.get(tp)

    async def callback(self, message: Any) -> None:
        self.delivered.append(message.offset)

    async def wait_first(self, delivery: Any, suspended: Any) -> None:
        suspended.close()  # flow is never suspended here
        await delivery

    async def getmany(self, timeout: float) -> Any:
        batch = self._batches.pop(0)
        self._stopped.flag = not self._batches  # the last scripted fetch ends the loop
        for offset in batch:
            yield PARTITION, type("Message", (), {"topic": PARTITION.topic, "offset": offset})()


def test_offsets_fetched_past_unprocessed_records_are_read_again_in_order() -> None:
    # The consumer resumes at 10 but the first fetch starts at 13 (10-12 were fetched
    # around a rebalance and never handed over): Faust would count 10-12 as processed.
    consumer = _FakeConsumer([[13, 14], list(range(10, 16))], start=10)
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == [(PARTITION, 10)]
    assert consumer.delivered == list(range(10, 16))


def test_a_new_group_hands_over_a_partition_from_the_start_of_its_log() -> None:
    # No committed offset and no seek: records 0-2, fetched while the tables of the first
    # start recovered, were dropped; Faust would hand over 3 first and commit past 0-2.
    consumer = _FakeConsumer([[3, 4], list(range(0, 6))], start=None)
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == [(PARTITION, 0)]
    assert consumer.delivered == list(range(0, 6))


def test_a_partition_with_a_committed_offset_and_no_seek_starts_there() -> None:
    consumer = _FakeConsumer([[12], [10, 11, 12]], start=None, log_start=0)
    consumer._committed_offset[PARTITION] = 10
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == [(PARTITION, 10)]
    assert consumer.delivered == [10, 11, 12]


def test_a_record_arriving_before_fausts_seek_starts_at_the_brokers_committed_offset() -> None:
    # Seen after a restart: the first record came before Faust had read the committed
    # offsets; reading from the start of the log would replay the whole partition.
    consumer = _FakeConsumer([[5137, 5138]], start=None, log_start=0)
    consumer.broker_committed[PARTITION] = 5137
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == []
    assert consumer.delivered == [5137, 5138]


def test_a_broker_that_cannot_tell_the_first_offset_does_not_stop_the_fetch_loop() -> None:
    consumer = _FakeConsumer([[7, 8]], start=None)

    async def unreachable(tp: TP) -> int | None:
        raise ConnectionRefusedError("broker away")

    consumer.committed_on_broker = unreachable  # type: ignore[method-assign]
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.delivered == [7, 8]


def test_only_a_fetch_that_comes_back_empty_marks_the_consumer_caught_up() -> None:
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    busy = _FakeConsumer([[10, 11], [12]], start=10)
    asyncio.run(faust_fixes._drain_messages(busy, fetcher))
    assert faust_fixes._CAUGHT_UP_AT not in busy.__dict__
    idle = _FakeConsumer([[10, 11], []], start=10)
    asyncio.run(faust_fixes._drain_messages(idle, type("Fetcher", (), {"_stopped": _Stopped()})()))
    assert idle.__dict__[faust_fixes._CAUGHT_UP_AT] > 0


def _commit_state(committed: int | None, acked: list[int], start: int | None = None) -> Any:
    """A bare Faust consumer holding only what its commit bookkeeping reads."""
    faust_fixes.install()
    consumer: Any = type("CommitState", (), {"_new_offset": Consumer._new_offset})()
    consumer._acked = defaultdict(list, {PARTITION: list(acked)})
    consumer._acked_index = defaultdict(set, {PARTITION: set(acked)})
    consumer._committed_offset = defaultdict(lambda: None, {PARTITION: committed})
    consumer._gap = defaultdict(IntervalTree)
    if start is not None:
        consumer.__dict__[faust_fixes._FLOORS] = {PARTITION: start}
    return consumer


def test_no_commit_passes_an_unacknowledged_record_at_the_committed_offset() -> None:
    # Seen in CI: by-lead:0 committed 5191, the record 5191 was dropped from the agent's
    # queue, 5192 on were processed, and Faust committed 5413: the form was never counted.
    held = _commit_state(committed=5191, acked=[5192, 5193])
    assert held._new_offset(PARTITION) is None
    assert held._acked[PARTITION] == [5192, 5193]  # kept for when 5191 comes again
    whole = _commit_state(committed=5191, acked=[5191, 5192, 5193])
    assert whole._new_offset(PARTITION) == 5194


def test_before_its_first_commit_a_partition_commits_only_from_where_reading_began() -> None:
    assert _commit_state(committed=None, acked=[1, 2], start=0)._new_offset(PARTITION) is None
    assert _commit_state(committed=None, acked=[0, 1, 2], start=0)._new_offset(PARTITION) == 3


def test_records_deleted_by_retention_before_they_were_read_are_skipped() -> None:
    # committed 10, but retention deleted everything below 20 while the worker was down
    consumer = _FakeConsumer([[20, 21], [22]], start=10, log_start=20)
    consumer._committed_offset[PARTITION] = 10
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == []
    assert consumer.delivered == [20, 21, 22]
    # commits go on from the log start: nothing below it can be acknowledged any more
    assert consumer._committed_offset[PARTITION] == 20
    assert _commit_state(committed=20, acked=[20, 21])._new_offset(PARTITION) == 22


def test_resuming_flow_that_already_flows_keeps_the_records_queued_for_the_agents() -> None:
    # Table recovery resumes flow again after streams started; each resume emptied the
    # agents' queues, dropping records the fetch loop had already handed over.
    faust_fixes.install()
    flow = FlowControlEvent(initially_suspended=False)
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait(5191)
    flow.resume()
    assert queue.qsize() == 1
    # after a real suspension (a rebalance) the queues are still emptied, as Faust intends
    flow.suspend()
    flow.resume()
    assert queue.qsize() == 0
    assert flow.is_active()


def test_records_fetched_again_after_a_seek_back_are_handed_over_once() -> None:
    consumer = _FakeConsumer([[10, 11], [10, 11, 12]], start=10)
    fetcher = type("Fetcher", (), {"_stopped": _Stopped()})()
    asyncio.run(faust_fixes._drain_messages(consumer, fetcher))
    assert consumer.seeks == []
    assert consumer.delivered == [10, 11, 12]


class _WatchedConsumer(_FakeConsumer):
    flow_active = True

    def __init__(self, end: int, start: int) -> None:
        super().__init__([], start)
        self.end = end
        self._paused_partitions = {PARTITION}
        self._buffered_partitions: set[TP] = set()
        self._active: set[TP] = set()
        self._committed_offset: dict[TP, int] = {}
        self._acked: dict[TP, list[int]] = {}
        # a fetch came back empty "now" whatever the loop's clock: the consumer caught up
        self.__dict__[faust_fixes._CAUGHT_UP_AT] = float("inf")

    def assignment(self) -> set[TP]:
        return {PARTITION}

    def _get_active_partitions(self) -> set[TP]:
        return self._active

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.end for tp in tps}


class _WatchedApp:
    rebalancing = False
    in_recovery = False
    consumer_generation_id = 1

    def __init__(self, consumer: _WatchedConsumer) -> None:
        self.consumer = consumer
        self.timers: list[Any] = []

    def timer(self, interval: float) -> Any:
        return self.timers.append


async def _tick_twice(app: _WatchedApp) -> None:
    for _ in range(2):
        await app.timers[0]()


Watch = Callable[..., None]


@pytest.fixture
def watch_twice(monkeypatch: Any) -> Watch:
    """Runs the watchdog twice on a consumer (a stall counts at once), app flags given."""
    monkeypatch.setattr(faust_fixes, "STALL_SECONDS", 0.0)

    def run(consumer: _WatchedConsumer, **flags: Any) -> None:
        app = _WatchedApp(consumer)
        for name, value in flags.items():
            setattr(app, name, value)
        faust_fixes.watch_stalls(app)
        asyncio.run(_tick_twice(app))

    return run


def test_a_partition_left_paused_with_records_waiting_is_fetched_again(watch_twice: Watch) -> None:
    consumer = _WatchedConsumer(end=50, start=10)
    watch_twice(consumer)
    assert consumer.seeks == [(PARTITION, 10)]
    assert PARTITION in consumer._active and not consumer._paused_partitions


def test_a_partition_at_its_end_is_left_alone(watch_twice: Watch) -> None:
    consumer = _WatchedConsumer(end=10, start=10)
    watch_twice(consumer)
    assert consumer.seeks == []


def test_a_partition_stuck_before_its_first_record_resumes_from_its_committed_offset(
    watch_twice: Watch,
) -> None:
    consumer = _WatchedConsumer(end=50, start=10)
    faust_fixes._next_offsets(consumer).clear()  # nothing handed over since the assignment
    consumer._committed_offset[PARTITION] = 7
    watch_twice(consumer)
    assert consumer.seeks == [(PARTITION, 7)]


def test_a_rebalancing_flag_left_set_does_not_silence_the_watchdog(watch_twice: Watch) -> None:
    consumer = _WatchedConsumer(end=50, start=10)
    # Faust leaves the flag set after a recovery on a stale generation
    watch_twice(consumer, rebalancing=True)
    assert consumer.seeks == [(PARTITION, 10)]


def test_a_partition_paused_while_tables_recover_is_left_alone(watch_twice: Watch) -> None:
    consumer = _WatchedConsumer(end=50, start=10)
    watch_twice(consumer, in_recovery=True)
    assert consumer.seeks == [] and consumer._paused_partitions == {PARTITION}


def test_a_new_consumer_generation_restarts_the_stall_clock(monkeypatch: Any) -> None:
    monkeypatch.setattr(faust_fixes, "STALL_SECONDS", 0.0)
    consumer = _WatchedConsumer(end=50, start=10)
    app = _WatchedApp(consumer)
    faust_fixes.watch_stalls(app)

    async def tick_across_a_rebalance() -> None:
        await app.timers[0]()
        app.consumer_generation_id += 1
        await app.timers[0]()

    asyncio.run(tick_across_a_rebalance())
    assert consumer.seeks == []


def test_a_partition_whose_commit_stays_behind_its_next_offset_is_read_from_its_commit(
    watch_twice: Watch,
) -> None:
    # every record fetched and counted as handed over, yet Faust never commits past 10:
    # the acknowledgements of 10 onwards never came
    consumer = _WatchedConsumer(end=50, start=50)
    consumer._committed_offset[PARTITION] = 10
    watch_twice(consumer)
    assert consumer.seeks == [(PARTITION, 10)]


def test_a_partition_committed_up_to_its_end_is_left_alone(watch_twice: Watch) -> None:
    consumer = _WatchedConsumer(end=50, start=50)
    consumer._committed_offset[PARTITION] = 50
    watch_twice(consumer)
    assert consumer.seeks == []


def test_a_consumer_working_through_a_backlog_leaves_waiting_partitions_alone(
    watch_twice: Watch,
) -> None:
    consumer = _WatchedConsumer(end=50, start=10)
    consumer.__dict__[faust_fixes._CAUGHT_UP_AT] = float("-inf")  # no empty fetch lately
    watch_twice(consumer)
    assert consumer.seeks == []


def test_a_dropped_head_record_is_read_again_even_while_working_through_a_backlog(
    watch_twice: Watch,
) -> None:
    # 5191 was dropped from the agent's queue, 5192 on were processed: commits wait at
    # 5191 and reading goes on, so only the standing commit can tell
    consumer = _WatchedConsumer(end=9000, start=5400)
    consumer._committed_offset[PARTITION] = 5191
    consumer._acked[PARTITION] = [5192, 5193]
    consumer.__dict__[faust_fixes._CAUGHT_UP_AT] = float("-inf")  # no empty fetch lately
    watch_twice(consumer)
    assert consumer.seeks == [(PARTITION, 5191)]
