"""The origin allow-list of publishable site keys, and the CORS headers it grants.

Invariants: a /collect request is let through only when its ``Origin`` header names,
after normalisation (lower-case scheme and host, default port dropped), one of the
origins configured for the site key its body names; a request without an Origin, with
``Origin: null`` or an unknown key is refused the same way (403), before anything is
produced. A preflight has no body, so it is answered for any origin of any key; the
request that follows is still checked against its own key. CORS headers are written
here by hand because the decision depends on the body's key, which a static CORS
configuration (aiohttp_cors) cannot see.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from funnelwatch.settings import SiteKey

from .ingest import Rejection

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: how long a browser may cache a preflight answer (Chromium caps it at 2 hours)
PREFLIGHT_MAX_AGE_SECONDS = 7200


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in canonical form, or None if it is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class OriginPolicy:
    """Which origin may use which site key."""

    def __init__(self, site_keys: Mapping[str, SiteKey]) -> None:
        self._by_key = {
            key: frozenset(o for o in map(normalize_origin, site.origins) if o)
            for key, site in site_keys.items()
        }
        self._any = frozenset().union(*self._by_key.values())

    @property
    def enabled(self) -> bool:
        return bool(self._by_key)

    def check(self, site_key: str, origin: str | None) -> str:
        """The request's normalised origin if ``site_key`` allows it, else a 403."""
        allowed = self._by_key.get(site_key)
        if allowed is None:
            raise Rejection(403, "unknown site key")
        normal = normalize_origin(origin) if origin else None
        if normal is None or normal not in allowed:
            raise Rejection(403, f"origin {origin!r} is not allowed for this site key")
        return normal

    def preflight(self, origin: str | None) -> str | None:
        """The normalised origin if some site key allows it (a preflight names no key)."""
        normal = normalize_origin(origin) if origin else None
        return normal if normal in self._any else None


def cors_headers(origin: str) -> dict[str, str]:
    """Headers that let the page of ``origin`` read the answer (no credentials)."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        **cors_headers(origin),
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }
