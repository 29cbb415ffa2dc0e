"""Bracketed form keys (amoCRM, Bitrix24) decode into nested fields, nothing lost."""

from __future__ import annotations

import pytest

from funnelwatch.connectors.crm.forms import items, parse_form
from funnelwatch.connectors.crm.model import MalformedDelivery


def test_bracketed_keys_nest() -> None:
    form = parse_form(
        b"leads%5Bstatus%5D%5B0%5D%5Bid%5D=7&leads[status][0][status_id]=142"
        b"&leads[status][1][id]=8&account[id]=29"
    )
    assert form == {
        "leads": {"status": {"0": {"id": "7", "status_id": "142"}, "1": {"id": "8"}}},
        "account": {"id": "29"},
    }


def test_items_come_in_index_order() -> None:
    assert items({"10": "b", "2": "a"}) == ["a", "b"]


def test_empty_index_appends() -> None:
    assert parse_form(b"a[]=x&a[]=y") == {"a": {"0": "x", "1": "y"}}


@pytest.mark.parametrize("body", [b"a]b=1", b"a[b=1", b"\xff=1", b"a[1][2][3][4][5][6][7][8]=1"])
def test_malformed_forms_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedDelivery):
        parse_form(body)
