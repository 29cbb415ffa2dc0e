"""Verification of each CRM's own proof that a webhook comes from it.

Invariants: every comparison of a secret or signature is constant-time
(:func:`hmac.compare_digest`); a failed check raises :class:`Unauthorized` whose reason
names what was wrong (missing, malformed, expired, mismatched) and never the secret or
the expected value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable

#: HubSpot rejects requests whose X-HubSpot-Request-Timestamp is older than this
HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
#: the percent-escapes HubSpot's v3 signature decodes in the request URI before signing
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ESCAPE = re.compile("|".join(_HUBSPOT_DECODED), re.IGNORECASE)


class Unauthorized(Exception):
    """A delivery that does not prove it comes from the provider (401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def hubspot_uri(uri: str) -> str:
    """The request URI as HubSpot's v3 signature signs it: the listed escapes decoded."""
    return _HUBSPOT_ESCAPE.sub(lambda m: _HUBSPOT_DECODED[m.group(0).upper()], uri)


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(client secret, method + URI + body + timestamp)), as HubSpot signs."""
    message = method.upper().encode() + hubspot_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hubspot_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now_ms: Callable[[], float] = lambda: time.time() * 1000,
) -> None:
    """Check X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp (milliseconds)."""
    if not signature or not timestamp:
        raise Unauthorized(
            "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header "
            "(enable the request signature of the app or workflow action)"
        )
    if not timestamp.strip().isdigit():
        raise Unauthorized("X-HubSpot-Request-Timestamp is not epoch milliseconds")
    age_ms = now_ms() - int(timestamp)
    if age_ms > HUBSPOT_MAX_AGE_MS:
        raise Unauthorized(
            f"expired: X-HubSpot-Request-Timestamp is {age_ms / 1000:.0f}s old "
            f"(HubSpot's limit is {HUBSPOT_MAX_AGE_MS // 1000}s)"
        )
    if -age_ms > HUBSPOT_MAX_AGE_MS:
        raise Unauthorized("X-HubSpot-Request-Timestamp is more than 5 minutes in the future")
    if not same(hubspot_v3_signature(secret, method, uri, body, timestamp.strip()), signature):
        raise Unauthorized(
            "X-HubSpot-Signature-v3 does not match (wrong client secret, or the URL HubSpot "
            "calls differs from FUNNELWATCH_CRM_PUBLIC_URL + path)"
        )


def verify_basic_auth(user: str, password: str, authorization: str | None) -> None:
    """Check an HTTP basic-auth header (Pipedrive's webhook http_auth_user/password)."""
    if not authorization:
        raise Unauthorized("missing HTTP basic auth (set the webhook's HTTP auth user/password)")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise Unauthorized("malformed Authorization header: expected HTTP basic auth")
    try:
        given_user, sep, given_password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed HTTP basic auth credentials") from None
    # both compared, always: the time taken says nothing about which one was wrong
    ok_user = same(user, given_user)
    ok_password = same(password, given_password)
    if not (sep and ok_user and ok_password):
        raise Unauthorized("wrong HTTP basic auth user or password")


def verify_token(expected: str, given: str | None, where: str) -> None:
    """Check a shared secret token the provider sends back (in the URL or the body)."""
    if not given:
        raise Unauthorized(f"missing {where}")
    if not same(expected, given):
        raise Unauthorized(f"wrong {where}")
