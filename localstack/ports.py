"""Loopback TCP ports for servers the local stack starts."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The kernel picks it, so parallel test runs do not collide; another process can
    still take it before our server binds it, which callers treat as a failed start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
