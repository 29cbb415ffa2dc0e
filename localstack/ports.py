"""Loopback TCP ports for servers the local stack starts."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    It is drawn at random from below the kernel's ephemeral range: a port the kernel
    picked (bind to port 0) comes from that range, which every outgoing connection's
    local port comes from too, so a client socket of another process could take it
    between this call and the server's bind (seen in CI: a worker's web server failing
    with "address already in use"). Ports handed out by this process are not repeated.
    """
    low = _ephemeral_low()
    floor = 10_000
    if low - floor >= 2_000:
        for _ in range(200):
            port = _rng.randrange(floor, low)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
    _handed_out.add(chosen)
    return chosen


_handed_out: set[int] = set()
_rng = random.Random()


def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections (Linux; IANA's
    elsewhere)."""
    try:
        low, _ = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low)
    except (OSError, ValueError):
        return 49_152


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_closed(host: str, port: int, timeout: float = 10.0) -> bool:
    """Wait until nothing accepts connections on ``host:port``; False on timeout."""
    deadline = time.monotonic() + timeout
    while is_listening(host, port, timeout=0.2):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
