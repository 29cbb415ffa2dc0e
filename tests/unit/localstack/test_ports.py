"""free_port: ports outside the range outgoing connections take their local port from."""

from __future__ import annotations

import socket

import pytest

from funnelwatch.localstack import ports
from funnelwatch.localstack.ports import free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_not_repeated() -> None:
    low = ports._ephemeral_low()
    picked = [free_port() for _ in range(50)]
    assert len(set(picked)) == len(picked)
    assert all(1024 <= port < low for port in picked), (low, picked)


def test_a_free_port_can_be_bound_by_a_server() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert server.getsockname()[1] == port


def test_a_port_in_use_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            vacant = probe.getsockname()[1]
        draws = iter([taken, taken, vacant])
        monkeypatch.setattr(ports, "_ephemeral_low", lambda: 65_000)
        monkeypatch.setattr(ports._rng, "randrange", lambda a, b: next(draws))
        monkeypatch.setattr(ports, "_handed_out", set())
        assert free_port() == vacant
