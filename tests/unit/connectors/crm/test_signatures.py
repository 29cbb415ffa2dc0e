"""Each provider's proof of origin: accepted when right, refused with a reason otherwise."""

from __future__ import annotations

import base64

import pytest

from funnelwatch.connectors.crm.signatures import (
    Unauthorized,
    hubspot_uri,
    hubspot_v3_signature,
    verify_basic_auth,
    verify_hubspot_v3,
    verify_token,
)
from tests.support.crm import HUBSPOT_SECRET, basic_auth, hubspot_headers, now_ms

URI = "https://funnel.example.com/ingest/crm/hubspot"
BODY = b'{"hs_object_id":"1","dealstage":"closedwon"}'


def _verify(headers: dict[str, str], body: bytes = BODY, uri: str = URI) -> None:
    verify_hubspot_v3(
        HUBSPOT_SECRET,
        "POST",
        uri,
        body,
        headers.get("X-HubSpot-Signature-v3"),
        headers.get("X-HubSpot-Request-Timestamp"),
    )


def test_hubspot_v3_signature_is_base64_hmac_sha256_of_method_uri_body_timestamp() -> None:
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new(
            b"secret", b"POST" + URI.encode() + BODY + b"1700000000000", hashlib.sha256
        ).digest()
    ).decode()
    assert hubspot_v3_signature("secret", "POST", URI, BODY, "1700000000000") == expected


def test_hubspot_good_signature_passes() -> None:
    _verify(hubspot_headers(URI, BODY))


def test_hubspot_signature_over_another_body_is_refused() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        _verify(hubspot_headers(URI, BODY), body=BODY.replace(b"closedwon", b"closedlost"))


def test_hubspot_signature_with_another_secret_is_refused() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        _verify(hubspot_headers(URI, BODY, secret="someone-else"))


def test_hubspot_timestamp_older_than_five_minutes_is_refused_as_expired() -> None:
    old = now_ms() - 5 * 60 * 1000 - 2000
    with pytest.raises(Unauthorized, match=r"expired: .* 30[0-9]s old"):
        _verify(hubspot_headers(URI, BODY, timestamp_ms=old))


def test_hubspot_timestamp_within_five_minutes_passes() -> None:
    _verify(hubspot_headers(URI, BODY, timestamp_ms=now_ms() - 4 * 60 * 1000))


def test_hubspot_missing_headers_are_refused() -> None:
    with pytest.raises(Unauthorized, match="missing X-HubSpot-Signature-v3"):
        _verify({})


def test_hubspot_non_numeric_timestamp_is_refused() -> None:
    headers = hubspot_headers(URI, BODY)
    headers["X-HubSpot-Request-Timestamp"] = "yesterday"
    with pytest.raises(Unauthorized, match="epoch milliseconds"):
        _verify(headers)


def test_hubspot_uri_decodes_the_documented_escapes_only() -> None:
    assert hubspot_uri("https://x.example/a?u=a%40b.c%2Cd%3Ae%20f") == (
        "https://x.example/a?u=a@b.c,d:e%20f"
    )


def test_hubspot_signs_the_decoded_uri() -> None:
    encoded = URI + "?tag=a%3Ab"
    headers = hubspot_headers(URI + "?tag=a:b", BODY)
    _verify(headers, uri=encoded)


def test_basic_auth_right_credentials_pass() -> None:
    verify_basic_auth("pd-hook", "pd-password-for-tests", basic_auth())


@pytest.mark.parametrize(
    "header,reason",
    [
        (None, "missing HTTP basic auth"),
        ("Bearer abc", "expected HTTP basic auth"),
        ("Basic !!!", "malformed HTTP basic auth"),
        (basic_auth(password="wrong"), "wrong HTTP basic auth"),
        (basic_auth(user="other"), "wrong HTTP basic auth"),
    ],
)
def test_basic_auth_wrong_or_missing_credentials_are_refused(
    header: str | None, reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_basic_auth("pd-hook", "pd-password-for-tests", header)


def test_token_mismatch_is_refused_without_echoing_the_token() -> None:
    with pytest.raises(Unauthorized) as refused:
        verify_token("the-real-token", "a-guess", "token query parameter")
    assert "the-real-token" not in str(refused.value)
    assert "a-guess" not in str(refused.value)
    verify_token("the-real-token", "the-real-token", "token query parameter")
