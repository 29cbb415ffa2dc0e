"""Who may call what on the worker's HTTP surface: credentials, their roles, the checks.

Roles (one per credential; settings refuse a value configured in two roles):
- a read token (FUNNELWATCH_READ_TOKEN) reads ``GET /api/*`` and, where the pages are
  not open, ``/metrics`` and the board (``/``);
- an ingest token (FUNNELWATCH_INGEST_TOKEN) posts ``/ingest/{clicks,forms,crm}``;
- a site key (FUNNELWATCH_SITE_KEYS) is public by design and is no bearer token at all:
  presented here it is refused like a credential of the wrong role.

Answers: 401 (with ``WWW-Authenticate: Bearer``, RFC 6750) when no known credential is
presented — none, a malformed header, or an unknown value; 403 when a known credential
of another role is. Invariants: every check compares the presented value with every
configured credential, on SHA-256 digests with :func:`hmac.compare_digest` and without
an early exit, so timing tells neither which credential matched nor its length; no
answer, log line or exception carries a credential (principals are named by role and
position, ``read#1``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from funnelwatch.settings import Settings, tokens_of


class Role(StrEnum):
    READ = "read"
    INGEST = "ingest"
    SITE = "site"


#: what each role's credential is for, as said in a 403
_PURPOSE = {
    Role.READ: "a read token (FUNNELWATCH_READ_TOKEN)",
    Role.INGEST: "an ingest token (FUNNELWATCH_INGEST_TOKEN)",
    Role.SITE: "a publishable site key (for POST /collect only)",
}

#: headers a reverse proxy adds: a request carrying one is not a local client's
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@dataclass(frozen=True)
class Denied(Exception):
    """A request refused for its credential: 401 or 403 and a message without secrets."""

    status: int
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": self.message}

    @property
    def headers(self) -> Mapping[str, str]:
        if self.status != 401:
            return {}
        return {"WWW-Authenticate": 'Bearer realm="funnelwatch"'}


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or Denied(401)."""
    if not authorization:
        raise Denied(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Denied(401, "malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


class Access:
    """The configured credentials and the checks of every endpoint."""

    def __init__(
        self, read: Iterable[str] = (), ingest: Iterable[str] = (), site: Iterable[str] = ()
    ) -> None:
        self._credentials: list[tuple[bytes, Role, str]] = []
        for role, values in ((Role.READ, read), (Role.INGEST, ingest), (Role.SITE, site)):
            for i, value in enumerate(values, 1):
                self._credentials.append((_digest(value), role, f"{role}#{i}"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(
            tokens_of(settings.read_token), tokens_of(settings.ingest_token), settings.site_keys
        )

    def configured(self, role: Role) -> bool:
        return any(r == role for _, r, _ in self._credentials)

    def identify(self, token: str) -> tuple[Role, str] | None:
        """(role, principal) of a presented value, or None for an unknown one."""
        presented = _digest(token)
        found: tuple[Role, str] | None = None
        for digest, role, principal in self._credentials:
            # no break: the same work whichever credential (if any) matches
            if hmac.compare_digest(presented, digest):
                found = (role, principal)
        return found

    def require(self, authorization: str | None, role: Role) -> str:
        """The principal (``read#1``, ``ingest#2``) of a request with a credential of
        ``role``; else Denied (401 none or unknown, 403 another role's)."""
        token = bearer(authorization)
        found = self.identify(token)
        if found is None:
            raise Denied(401, f"unknown bearer token: this endpoint needs {_PURPOSE[role]}")
        if found[0] != role:
            raise Denied(
                403, f"{_PURPOSE[found[0]]} cannot be used here: this endpoint needs "
                f"{_PURPOSE[role]}",
            )  # fmt: skip
        return found[1]


def client_address(request: Any) -> str:
    """The peer address of a request (the proxy's, behind a proxy)."""
    return str(getattr(request, "remote", None) or "unknown")


def is_local(request: Any) -> bool:
    """True for a request from a loopback address that no proxy forwarded."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


def require_pages(mode: str, access: Access, request: Any) -> None:
    """The check of /metrics and the board: ``open``, ``loopback`` (local clients free,
    others with a read token) or ``token`` (a read token always); raises Denied."""
    if mode == "open" or (mode == "loopback" and is_local(request)):
        return
    access.require(request.headers.get("Authorization"), Role.READ)
