"""The landing-page snippet served at ``/t.js``: ``static/t.js`` with the cookie lifetime
of the settings rendered in.

Invariant: the placeholder is replaced by an integer and by nothing else, so the served
script is the committed file plus one number (its size is stated in the README).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

PLACEHOLDER = "__FW_COOKIE_DAYS__"


@cache
def snippet_js(cookie_days: int) -> bytes:
    source = files("funnelwatch.processors.web").joinpath("static/t.js").read_text()
    if source.count(PLACEHOLDER) != 1:
        raise RuntimeError(f"static/t.js must hold {PLACEHOLDER} exactly once")
    return source.replace(PLACEHOLDER, str(int(cookie_days))).encode()
