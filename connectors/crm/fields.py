"""Reading the configured lead-id / e-mail / phone fields out of a provider's record.

Invariant: a field that is missing, empty or structured reads as None; nothing here
raises for any payload shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import text_of


def lookup(fields: Mapping[str, Any], name: str | None) -> str | None:
    """``fields[name]`` as text, unwrapping ``{"value": ...}`` (HubSpot's and Pipedrive's
    property objects) and one-element lists of them."""
    if not name:
        return None
    value = fields.get(name)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, Mapping):
        value = value.get("value")
    return text_of(value)
