"""Credentials and roles of the HTTP surface as pure logic: which header gets which answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from funnelwatch.processors.web.access import (
    Access,
    Denied,
    Role,
    bearer,
    is_local,
    require_pages,
)
from funnelwatch.settings import Settings

READ, OLD_READ, INGEST, SITE = "r" * 20, "o" * 20, "i" * 20, "pk_landing"


def access() -> Access:
    return Access(read=[OLD_READ, READ], ingest=[INGEST], site=[SITE])


def request(remote: str, headers: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(remote=remote, headers=headers or {})


@pytest.mark.parametrize(
    "header,role,status",
    [
        (None, Role.READ, 401),
        ("Basic dXNlcjpwYXNz", Role.READ, 401),
        ("Bearer ", Role.READ, 401),
        (f"Bearer {READ}x", Role.READ, 401),
        (f"Bearer {READ[:-1]}", Role.READ, 401),
        (f"Bearer {INGEST}", Role.READ, 403),
        (f"Bearer {SITE}", Role.READ, 403),
        (f"Bearer {READ}", Role.INGEST, 403),
        (f"Bearer {SITE}", Role.INGEST, 403),
    ],
)
def test_a_request_without_a_credential_of_the_role_is_refused(
    header: str | None, role: Role, status: int
) -> None:
    with pytest.raises(Denied) as err:
        access().require(header, role)
    assert err.value.status == status
    # 401 tells the client how to authenticate (RFC 6750); 403 does not invite a retry
    assert ("WWW-Authenticate" in err.value.headers) == (status == 401)
    for secret in (READ, INGEST, OLD_READ):
        assert secret not in err.value.message


def test_every_token_of_a_rotation_is_accepted_under_its_own_principal() -> None:
    a = access()
    assert a.require(f"Bearer {READ}", Role.READ) == "read#2"
    assert a.require(f"bearer {OLD_READ} ", Role.READ) == "read#1"
    assert a.require(f"Bearer {INGEST}", Role.INGEST) == "ingest#1"


def test_a_site_key_is_never_a_bearer_token_of_any_role() -> None:
    for role in (Role.READ, Role.INGEST):
        with pytest.raises(Denied):
            access().require(f"Bearer {SITE}", role)


def test_bearer_takes_the_token_of_the_header() -> None:
    assert bearer("Bearer  abc ") == "abc"
    with pytest.raises(Denied):
        bearer("Bearerabc")


def test_loopback_is_local_unless_a_proxy_forwarded_the_request() -> None:
    assert is_local(request("127.0.0.1"))
    assert is_local(request("::1"))
    assert not is_local(request("10.0.0.7"))
    assert not is_local(request("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}))
    assert not is_local(request("127.0.0.1", {"Forwarded": "for=203.0.113.9"}))
    assert not is_local(request("not-an-address"))


@pytest.mark.parametrize(
    "mode,remote,header,allowed",
    [
        ("open", "203.0.113.9", None, True),
        ("loopback", "127.0.0.1", None, True),
        ("loopback", "203.0.113.9", None, False),
        ("loopback", "203.0.113.9", f"Bearer {READ}", True),
        ("loopback", "203.0.113.9", f"Bearer {INGEST}", False),
        ("token", "127.0.0.1", None, False),
        ("token", "127.0.0.1", f"Bearer {READ}", True),
    ],
)
def test_pages_follow_the_configured_access(
    mode: str, remote: str, header: str | None, allowed: bool
) -> None:
    headers = {"Authorization": header} if header else {}
    try:
        require_pages(mode, access(), request(remote, headers))
        got = True
    except Denied:
        got = False
    assert got == allowed


def test_access_from_settings_knows_each_role() -> None:
    s = Settings(
        read_token=f"{OLD_READ},{READ}",
        ingest_token=INGEST,
        site_keys={SITE: {"origins": ["https://landing.example"]}},
    )
    a = Access.from_settings(s)
    assert a.identify(READ) == (Role.READ, "read#2")
    assert a.identify(INGEST) == (Role.INGEST, "ingest#1")
    assert a.identify(SITE) == (Role.SITE, "site#1")
    assert a.identify("nobody-knows-this") is None
    assert not Access.from_settings(Settings()).configured(Role.READ)
