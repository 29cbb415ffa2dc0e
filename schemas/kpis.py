"""The cost KPIs, defined once: CPC, CPL, cost per qualified lead, CAC and ROMI.

Each cost-per KPI divides spend by the events of one stage, named by its role in the
funnel (position: the first stage is the click, the second the lead, the second to last
the qualified lead, the last the won deal); ROMI is (revenue - spend) / spend. The API,
the demo board, the bid advisor's reading of them and the Grafana SQL all come from
:data:`COST_PER` and :data:`ROMI` here.

Invariants: a KPI whose divisor is zero is None (SQL: NULL), never a division error or
an invented 0; money stays micros in Python, the SQL works on whatever unit its spend
and revenue expressions have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

#: KPI name -> index of the stage it divides spend by
COST_PER: Mapping[str, int] = {"cpc": 0, "cpl": 1, "cost_per_qualified": -2, "cac": -1}
ROMI = "romi"
#: every cost KPI by name, in the order boards show them
NAMES: tuple[str, ...] = (*COST_PER, ROMI)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is zero."""
    return None if denominator == 0 else numerator / denominator


def cost_kpis(
    stages: Sequence[str],
    count: Callable[[str], int],
    spend: int | None,
    revenue: int,
    same_currency: bool = True,
) -> dict[str, float | None]:
    """Every cost KPI by name (``spend`` None: all None; no ROMI across currencies)."""
    if len(stages) < 2:
        raise ValueError("a funnel has at least two stages (click, lead)")
    if spend is None:
        return dict.fromkeys(NAMES)
    out = {name: ratio(spend, count(stages[i])) for name, i in COST_PER.items()}
    out[ROMI] = ratio(revenue - spend, spend) if same_currency else None
    return out


def sql_ratio(numerator: str, denominator: str) -> str:
    """SQL of ``numerator / denominator``, NULL when the denominator is not positive."""
    return f"if({denominator} > 0, ({numerator}) / {denominator}, NULL)"


def cost_kpi_columns(
    stages: Sequence[str], count: Callable[[str], str], spend: str, revenue: str
) -> list[str]:
    """The same KPIs as SQL select items ``<expr> AS <name>``; ``count(stage)`` is the SQL
    of a stage's events, ``spend``/``revenue`` column names or expressions."""
    items = [f"{sql_ratio(spend, count(stages[i]))} AS {name}" for name, i in COST_PER.items()]
    items.append(f"{sql_ratio(f'{revenue} - {spend}', spend)} AS {ROMI}")
    return items
