"""Form-encoded webhook bodies with PHP-style bracketed keys, as amoCRM/Kommo and
Bitrix24 send them (``leads[status][0][id]=7``), decoded into nested dicts.

Invariant: every key is kept (a repeated key keeps its last value, as PHP does); list
indices stay string keys of a dict (``{"0": {...}}``), so a sparse or reordered index
cannot shift one item's fields onto another. Malformed brackets are a
:class:`~.model.MalformedDelivery`, never an exception of another kind.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .model import MalformedDelivery

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
#: deeper nesting than any documented payload: refuse rather than build it
_MAX_DEPTH = 8


def parse_form(body: bytes) -> dict[str, Any]:
    """The nested fields of an ``application/x-www-form-urlencoded`` body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedDelivery("the form body is not UTF-8") from None
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise MalformedDelivery(f"malformed form key {key[:60]!r}")
        path = [match.group(1), *_PART.findall(match.group(2))]
        if len(path) > _MAX_DEPTH:
            raise MalformedDelivery(f"form key nested too deeply: {key[:60]!r}")
        node = out
        for part in path[:-1]:
            child = node.get(part) if part else None
            if not isinstance(child, dict):
                # an empty index ("a[]") appends, as PHP does
                child = {}
                node[part or str(len(node))] = child
            node = child
        last = path[-1] or str(len(node))
        node[last] = value
    return out


def items(mapping: Any) -> list[Any]:
    """The values of a decoded list (a dict keyed by index), in index order."""
    if not isinstance(mapping, dict):
        return []
    return [mapping[k] for k in sorted(mapping, key=lambda k: (not k.isdigit(), k.zfill(12)))]
