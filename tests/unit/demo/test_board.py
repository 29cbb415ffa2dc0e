"""The board renders hand-built snapshots: marks, dashes, money, layout."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from funnelwatch.demo.board import NONE, BoardSnapshot, money, render_board, sparkline
from funnelwatch.demo.queries import CampaignFunnel, Conversion

STAGES = ("click", "lead", "contacted", "qualified", "won")
NOW = 1_793_529_540  # 2026-11-01 10:39 UTC


def funnel(campaign: str, counts: tuple[int, ...], spend: int, revenue: int = 0) -> CampaignFunnel:
    return CampaignFunnel(campaign, dict(zip(STAGES, counts, strict=True)), spend, revenue, NOW)


def click_lead(
    campaign: str, clicks: int, leads: int, baseline: float | None, history: int = 30
) -> Conversion:
    rate = leads / clicks if clicks else None
    return Conversion(
        campaign, "click", "lead", 15, NOW, clicks, leads, (baseline,) * (history - 1) + (rate,),
        baseline,
    )  # fmt: skip


def snapshot(*rows: tuple[CampaignFunnel, Conversion | None], since: int = 0) -> BoardSnapshot:
    return BoardSnapshot(
        stages=STAGES, window_minutes=15, history_minutes=30, since_epoch=since,
        funnels=tuple(f for f, _ in rows), conversions=tuple(c for _, c in rows if c),
    )  # fmt: skip


def render(snap: BoardSnapshot, width: int = 160, eps: float | None = None) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render_board(snap, events_per_second=eps))
    return console.export_text()


def row_of(text: str, campaign: str) -> str:
    (line,) = [ln for ln in text.splitlines() if campaign in ln and "conversion drop" not in ln]
    return line


HEALTHY = (funnel("cmp-healthy", (3000, 300, 200, 60, 6), 3_000_000_000), None)


def test_campaign_far_below_its_baseline_is_marked_red_with_drop_marker() -> None:
    snap = snapshot(
        (funnel("cmp-healthy", (3000, 300, 200, 60, 6), 3_000_000_000),
         click_lead("cmp-healthy", 200, 19, 0.1)),
        (funnel("cmp-broken-form", (3000, 250, 200, 60, 6), 3_000_000_000),
         click_lead("cmp-broken-form", 200, 5, 0.1)),
    )  # fmt: skip
    text = render(snap)

    assert row_of(text, "cmp-broken-form").startswith("▼ cmp-broken-form")
    assert not row_of(text, "cmp-healthy").startswith("▼")
    drops = [ln for ln in text.splitlines() if ln.startswith("▼ conversion drop")]
    assert drops == [
        "▼ conversion drop  cmp-broken-form: click→lead 2.5% over the last 15 min "
        "(200 click events), baseline 10.0%"
    ]
    console = Console(record=True, width=160, file=io.StringIO(), force_terminal=True)
    console.print(render_board(snap))
    styled = console.export_text(styles=True)
    assert "\x1b[1;31m" in row_of(styled, "cmp-broken-form")  # bold red
    assert "31m" not in row_of(styled, "cmp-healthy")


def test_zero_conversion_on_sixty_clicks_is_a_drop_even_without_baseline() -> None:
    # clicks in every minute of the history, no lead in the window
    zero = replace(click_lead("cmp-new", 60, 0, None), history=(0.0,) * 30)
    text = render(snapshot((funnel("cmp-new", (60, 0, 0, 0, 0), 1), zero)))

    assert row_of(text, "cmp-new").startswith("▼ cmp-new")


def test_zero_without_baseline_in_a_window_cut_short_by_the_start_is_not_a_drop() -> None:
    # The first minutes of a run: the 15-minute window holds 5 minutes of clicks whose
    # leads have not come yet. Not a broken form, and nothing to compare with.
    young = replace(click_lead("cmp-new", 69, 0, None), history=(None,) * 25 + (0.0,) * 5)
    text = render(snapshot((funnel("cmp-new", (69, 0, 0, 0, 0), 1), young)))

    assert not row_of(text, "cmp-new").startswith("▼")
    assert "no conversion drop" in text


def test_low_volume_dips_are_not_marked() -> None:
    text = render(
        snapshot(
            (funnel("cmp-zero", (59, 0, 0, 0, 0), 1), click_lead("cmp-zero", 59, 0, 0.2)),
            (funnel("cmp-dip", (99, 2, 0, 0, 0), 1), click_lead("cmp-dip", 99, 2, 0.2)),
            (funnel("cmp-mild", (500, 30, 0, 0, 0), 1), click_lead("cmp-mild", 500, 30, 0.1)),
        )
    )

    assert "▼" not in text
    assert "no conversion drop" in text


def test_ratios_with_a_zero_divisor_show_a_dash() -> None:
    text = render(snapshot((funnel("cmp-idle", (0, 0, 0, 0, 0), 0), None)))

    cells = row_of(text, "cmp-idle").split()
    # counts, then 4 conversions, then spend and CPC, CPL, per qualified, CAC, ROMI
    assert cells == ["cmp-idle", "0", "0", "0", "0", "0", *[NONE] * 4, "0.00", *[NONE] * 5]


def test_kpis_of_a_campaign_are_shown_in_currency_units() -> None:
    text = render(
        snapshot((funnel("cmp-a", (1000, 50, 40, 8, 2), 1_234_567_890, 4_938_271_560), None))
    )

    cells = row_of(text, "cmp-a").split()
    assert cells[-6:] == ["1,234.57", "1.23", "24.69", "154.32", "617.28", "+300%"]


def test_money_rounds_micros_half_up_to_cents() -> None:
    assert money(1_234_567_890) == "1,234.57"
    assert money(5_000) == "0.01"
    assert money(4_999) == "0.00"
    assert money(-2_500_000) == "-2.50"
    assert money(1_000_000 / 3) == "0.33"
    assert money(None) == NONE == "\N{EN DASH}"


def test_header_tells_newest_data_time_rate_and_span() -> None:
    snap = snapshot(HEALTHY, since=NOW - 3600)

    header = render(snap, eps=1234.4).splitlines()[0]
    assert header == (
        "funnelwatch · data up to 2026-11-01 10:39 UTC · 1,234 events/s · "
        "totals since 09:39 UTC · conversions: last 15 min"
    )
    assert "events/s" not in render(snap).splitlines()[0]
    assert "waiting for data" in render(snapshot()).splitlines()[0]


def test_sparkline_scales_to_the_larger_of_values_and_top_and_leaves_gaps() -> None:
    assert sparkline([0.0, 0.05, 0.1, None, 0.2]) == "▁▃▅ █"
    assert sparkline([0.1, 0.1], top=0.2) == "▅▅"
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([None, None]) == "  "


def test_sparkline_narrowed_averages_neighbours_over_the_whole_span() -> None:
    assert sparkline([0.0, 0.0, 1.0, 1.0, None, 0.5], width=3) == "▁█▅"


def test_board_fits_120_columns_by_narrowing_sparkline_and_names_not_numbers() -> None:
    regions = ("emea", "americas", "apac")
    rows = [
        (funnel(f"cmp-social-retargeting-{r}", (123_456, 9_876, 5_432, 1_234, 321),
                98_765_432_100, 987_654_321_000),
         click_lead(f"cmp-social-retargeting-{r}", 1500, 120, 0.08))
        for r in regions
    ]  # fmt: skip
    text = render(snapshot(*rows), width=120)

    assert all(len(ln) <= 120 for ln in text.splitlines())
    lines = [ln for ln in text.splitlines() if "123,456" in ln]
    assert len(lines) == 3
    # names are cut in the middle, keeping the end that tells them apart
    names = [ln.split()[0] for ln in lines]
    assert all("…" in n for n in names)
    assert all(n.endswith(r) for n, r in zip(names, sorted(regions), strict=True))
    for line in lines:
        cells = line.split()
        for cell in ("123,456", "9,876", "8.0%", "98,765.43", "0.80", "10.00", "80.04", "+900%"):
            assert cell in cells
        spark = next(c for c in cells if set(c) <= set("▁▂▃▄▅▆▇█"))
        assert len(spark) == 10  # 30 minutes, 3 per block


def test_unattributed_is_listed_after_the_campaigns() -> None:
    text = render(
        snapshot(
            (funnel("(unattributed)", (0, 10, 0, 0, 0), 0), None),
            (funnel("zz-last-campaign", (10, 1, 0, 0, 0), 1), None),
            (funnel("aa-first", (10, 1, 0, 0, 0), 1), None),
        )
    )

    names = [ln.split()[0] for ln in text.splitlines() if ln.split()[:1] and
             ln.split()[0] in ("(unattributed)", "zz-last-campaign", "aa-first")]  # fmt: skip
    assert names == ["aa-first", "zz-last-campaign", "(unattributed)"]


def test_poisson_tail_matches_known_values() -> None:
    from funnelwatch.demo.board import poisson_tail

    assert abs(poisson_tail(0, 2.0) - 0.1353352832) < 1e-9
    assert abs(poisson_tail(2, 5.5) - 0.0883764) < 1e-6


def test_chance_dip_on_low_volume_is_not_marked() -> None:
    # 163 clicks at a 3.4% baseline expect 5.5 leads; 2 happen by chance 9% of the time
    from funnelwatch.demo.board import conversion_dropped

    dip = click_lead("cmp-quiet", 163, 2, 0.034)
    assert not conversion_dropped(dip)


def test_expected_campaign_without_rows_waits_for_traffic() -> None:
    snap = replace(snapshot(HEALTHY), expected=("cmp-healthy", "cmp-quiet"))
    text = render(snap)

    assert snap.has_data
    assert "waiting for traffic" in row_of(text, "cmp-quiet")
    assert not row_of(text, "cmp-quiet").startswith("▼")
    assert "waiting for traffic" not in row_of(text, "cmp-healthy")
    assert "no conversion drop" in text
    assert not replace(snapshot(), expected=("cmp-quiet",)).has_data


def test_header_notes_the_traffic_pace() -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(render_board(snapshot(HEALTHY), events_per_second=98.6, traffic="60x real time"))
    header = console.export_text().splitlines()[0]

    assert "99 events/s · traffic 60x real time ·" in header
