"""When the pipeline counts as caught up (the detectors judge only then)."""

from __future__ import annotations

from aiokafka import TopicPartition

from funnelwatch.processors.alerting.backlog import caught_up

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def test_the_first_check_is_never_caught_up() -> None:
    assert not caught_up({A: 10}, {A: 10}, None, max_lag=100)


def test_committing_what_the_previous_check_saw_is_caught_up_at_any_throughput() -> None:
    # 50,000 records arrived since, none committed yet: a fast pipeline, not a backlog
    assert caught_up({A: 100_000, B: 7}, {A: 150_000, B: 7}, {A: 100_000, B: 7}, max_lag=100)


def test_a_partition_behind_the_previous_end_and_beyond_max_lag_is_a_backlog() -> None:
    assert not caught_up({A: 100, B: 7}, {A: 5_000, B: 7}, {A: 4_000, B: 7}, max_lag=100)


def test_a_small_lag_between_commits_is_not_a_backlog() -> None:
    assert caught_up({A: 100}, {A: 150}, {A: 120}, max_lag=100)


def test_a_partition_never_committed_holds_a_backlog_unless_it_is_empty() -> None:
    assert not caught_up({}, {A: 5}, {A: 5}, max_lag=100)
    assert caught_up({A: -1}, {A: 0}, {A: 0}, max_lag=100)
