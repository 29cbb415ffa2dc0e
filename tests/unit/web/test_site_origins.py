"""The origin allow-list of site keys: exact origins in canonical form, nothing else."""

from __future__ import annotations

import pytest

from funnelwatch.processors.web.ingest import Rejection
from funnelwatch.processors.web.origins import (
    OriginPolicy,
    cors_headers,
    normalize_origin,
    preflight_headers,
)
from funnelwatch.settings import SiteKey

POLICY = OriginPolicy(
    {
        "pk_shop": SiteKey(origins=("https://Shop.Example", "https://www.shop.example:443/")),
        "pk_blog": SiteKey(origins=("http://127.0.0.1:8080",)),
    }
)


@pytest.mark.parametrize(
    "origin,normal",
    [
        ("https://shop.example", "https://shop.example"),
        ("HTTPS://SHOP.EXAMPLE:443", "https://shop.example"),
        ("http://shop.example:80/", "http://shop.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("null", None),
        ("file://", None),
        ("ftp://shop.example", None),
        ("https://shop.example/page", None),
        ("https://user@shop.example", None),
        ("https://shop.example:99999", None),
        ("", None),
    ],
)
def test_origins_are_compared_in_canonical_form(origin: str, normal: str | None) -> None:
    assert normalize_origin(origin) == normal


@pytest.mark.parametrize(
    "key,origin",
    [
        ("pk_shop", "https://shop.example"),
        ("pk_shop", "https://www.shop.example"),
        ("pk_blog", "http://127.0.0.1:8080"),
    ],
)
def test_a_key_is_accepted_from_its_own_origins(key: str, origin: str) -> None:
    assert POLICY.check(key, origin) == normalize_origin(origin)


@pytest.mark.parametrize(
    "key,origin,message",
    [
        ("pk_shop", "http://shop.example", "not allowed for this site key"),  # http, not https
        ("pk_shop", "https://evil.example", "not allowed for this site key"),
        ("pk_shop", "https://shop.example.evil.example", "not allowed for this site key"),
        ("pk_blog", "http://127.0.0.1:8081", "not allowed for this site key"),  # another port
        ("pk_blog", "https://shop.example", "not allowed for this site key"),  # another key's
        ("pk_shop", None, "not allowed for this site key"),
        ("pk_shop", "null", "not allowed for this site key"),
        ("pk_nope", "https://shop.example", "unknown site key"),
    ],
)
def test_a_key_from_any_other_origin_or_an_unknown_key_is_refused_with_403(
    key: str, origin: str | None, message: str
) -> None:
    with pytest.raises(Rejection) as err:
        POLICY.check(key, origin)
    assert err.value.status == 403
    assert message in err.value.message


def test_a_preflight_is_answered_for_the_origins_of_every_key_only() -> None:
    assert POLICY.preflight("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert POLICY.preflight("https://SHOP.example") == "https://shop.example"
    assert POLICY.preflight("http://127.0.0.1:8081") is None
    assert POLICY.preflight(None) is None
    assert not OriginPolicy({}).enabled and POLICY.enabled


def test_cors_headers_name_the_one_origin_and_never_allow_credentials() -> None:
    headers = preflight_headers("https://shop.example")
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Vary"] == "Origin"
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert "Access-Control-Allow-Credentials" not in headers
    assert cors_headers("https://shop.example").items() <= headers.items()
