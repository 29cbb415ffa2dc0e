"""The cost KPIs' one definition: each divides by its stage's role, zero divisors are None."""

from __future__ import annotations

import pytest

from funnelwatch.schemas.kpis import NAMES, cost_kpis

STAGES = ("click", "lead", "contacted", "qualified", "won")


def test_each_cost_kpi_divides_spend_by_the_stage_of_its_role() -> None:
    counts = {"click": 400, "lead": 20, "contacted": 12, "qualified": 8, "won": 2}
    k = cost_kpis(STAGES, counts.__getitem__, 1_000_000_000, 3_000_000_000)
    assert k == {
        "cpc": 2_500_000,
        "cpl": 50_000_000,
        "cost_per_qualified": 125_000_000,
        "cac": 500_000_000,
        "romi": 2.0,
    }


def test_zero_divisors_give_none_and_several_currencies_give_no_kpi() -> None:
    k = cost_kpis(STAGES, lambda s: 0, 0, 0)
    assert k == dict.fromkeys(NAMES)
    assert cost_kpis(STAGES, lambda s: 5, None, 10) == dict.fromkeys(NAMES)
    assert cost_kpis(STAGES, lambda s: 5, 10, 20, same_currency=False)["romi"] is None


def test_a_funnel_needs_a_click_and_a_lead_stage() -> None:
    with pytest.raises(ValueError, match="two stages"):
        cost_kpis(("click",), lambda s: 1, 1, 1)
