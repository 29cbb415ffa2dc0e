"""Which cost counts: the one definition of a window's spend per campaign, as SQL.

The rules (the README's "Which cost counts" says the same to users):

1. Of the reports of one (platform, account, campaign, ad group, ad, period), the one
   with the highest (report time, event id) counts: a restatement replaces, never adds.
2. Reports of one platform account never count twice for the same time: a report is
   left out when a finer one of the same platform account and campaign overlaps it —
   an hour beats the day around it; for the same period, an ad group's report beats the
   campaign's, an ad's beats its ad group's.
3. A report's spend is spread evenly over the minutes of its period, in integer micros
   (minute ``i`` of ``n`` holds ``floor(s*(i+1)/n) - floor(s*i/n)``), so the minutes of a
   period add up to the report exactly and any window's share is exact.
4. A campaign with reports: up to the end of its last reported period (``through``) its
   spend is the reports' (a minute no report covers spent nothing); after it, its clicks
   are priced at the campaign's recent reported CPC — the reports ending in the
   ``RECENT_SECONDS`` before ``through``, ``floor(clicks * spend / reported clicks)`` —
   and that spend is *provisional*; with no reported clicks to price by, the clicks' own
   cost is the provisional figure.
5. A campaign without reports: the clicks' own ``cost_micros``.

Invariants: every figure is an exact integer of micros (products stay inside Int64:
``spend_micros`` is bounded by MAX_SPEND_MICROS, periods by a day of minutes); the SQL
runs on ClickHouse 18.16 and chDB alike (no CTEs, no window functions, and no lambda
that captures a column: 18.16 prunes such a column when a caller selects only some of
the results); values come in as parameters or as the caller's fixed expressions, never
pasted.
"""

from __future__ import annotations

from dataclasses import dataclass

#: how far back from ``through`` the reports that price provisional clicks reach
RECENT_SECONDS = 7 * 86400

# Is the other report o (of the same platform account and campaign) finer than this one
# and overlapping it? No lambda captures a column: ClickHouse 18.16 cannot.
_FINER_OVERLAPPING = """
    o_ps < ps + ns AND ps < o_ps + o_ns
    AND (o_ns < ns
         OR (o_ns = ns AND o_ps = ps
             AND ((ad_group_id = '' AND o_ag != '')
                  OR (ad_group_id != '' AND o_ag = ad_group_id AND ad_id = '' AND o_ad != ''))))"""


def _newest(campaigns: str) -> str:
    """The report that counts of each period (rule 1), of the campaigns selected."""
    newest = "(reported_at_ms, event_id)"
    return f"""
        SELECT campaign_id, platform, account_id, ad_group_id, ad_id,
               toInt64(toUInt32(period_start)) AS ps, toInt64(period_seconds) AS ns,
               argMax(spend_micros, {newest}) AS s, toInt64(argMax(clicks, {newest})) AS k,
               argMax(currency, {newest}) AS cur
        FROM ad_spend
        WHERE {campaigns}
        GROUP BY campaign_id, platform, account_id, ad_group_id, ad_id, ps, ns"""


def counted_reports(campaigns: str) -> str:
    """The reports that count (rules 1 and 2): campaign_id, ps, ns, s, k, cur.

    Each report meets every report of its platform account (itself included, so the
    ARRAY JOIN keeps it) and stays when none of them is finer and overlapping.
    """
    return f"""
    SELECT campaign_id, ps, ns, any(s) AS s, any(k) AS k, any(cur) AS cur
    FROM
    (
        SELECT campaign_id, platform, account_id, ad_group_id, ad_id, ps, ns, s, k, cur,
               tupleElement(o, 1) AS o_ps, tupleElement(o, 2) AS o_ns,
               tupleElement(o, 3) AS o_ag, tupleElement(o, 4) AS o_ad
        FROM
        (
            SELECT campaign_id, platform, account_id, ad_group_id, ad_id, ps, ns, s, k, cur,
                   others
            FROM ({_newest(campaigns)}) AS reports
            ANY LEFT JOIN
            (
                SELECT campaign_id, platform, account_id,
                       groupArray((ps, ns, ad_group_id, ad_id)) AS others
                FROM ({_newest(campaigns)})
                GROUP BY campaign_id, platform, account_id
            ) AS siblings USING (campaign_id, platform, account_id)
        )
        ARRAY JOIN others AS o
    )
    GROUP BY campaign_id, platform, account_id, ad_group_id, ad_id, ps, ns
    HAVING max({_FINER_OVERLAPPING}) = 0"""


def _share(w0: str, w1: str) -> str:
    """A report's spend in the time range [w0, w1) (rule 3)."""

    def minutes_in(t: str) -> str:
        return f"greatest(least(intDiv(toInt64({t}) - ps, 60), intDiv(ns, 60)), 0)"

    n = "intDiv(ns, 60)"
    return f"intDiv(s * {minutes_in(w1)}, {n}) - intDiv(s * {minutes_in(w0)}, {n})"


def window_spend(campaigns: str, w0: str, w1: str, click_stage: str) -> str:
    """Per campaign, the spend of the time range [w0, w1) (minutes m with w0 <= m < w1).

    ``campaigns`` is a condition on ``campaign_id``; ``w0``/``w1`` are epoch-second
    expressions and ``click_stage`` a string expression (parameters, or Grafana's time
    macros and a literal of the funnel's definition). Rows, by campaign id:
    campaign_id, clicks, click_cost (the clicks' own cost), has_reports, through
    (epoch seconds; 0 without reports), reported, rs, rk, rk1 (the recent reports' spend
    and clicks), clicks_after, cost_after (of the minutes from ``through`` on),
    provisional, spend (what counts: reported + provisional, or click_cost without
    reports), currencies (sorted), basis (clicks, reported, provisional or
    reported+provisional).
    """
    totals = _report_totals(campaigns, w0, w1)
    return f"""
SELECT campaign_id,
       toInt64(sum(n)) AS clicks, toInt64(sum(c)) AS click_cost,
       max(has) AS has_reports, max(r_through) AS through,
       toInt64(sum(r_reported)) AS reported,
       max(r_rs) AS rs, max(r_rk) AS rk,
       -- `if` evaluates both branches: the divisor must never be 0, even where unused
       greatest(rk, 1) AS rk1,
       toInt64(sumIf(n, after = 1)) AS clicks_after, toInt64(sumIf(c, after = 1)) AS cost_after,
       if(has_reports = 0, 0,
          if(rk > 0, clicks_after * intDiv(rs, rk1) + intDiv(clicks_after * modulo(rs, rk1), rk1),
             cost_after)) AS provisional,
       if(has_reports = 1, reported + provisional, click_cost) AS spend,
       arraySort(groupUniqArrayArray(r_currencies)) AS currencies,
       if(has_reports = 0, 'clicks',
          if(provisional > 0, if(reported > 0, 'reported+provisional', 'provisional'),
             'reported')) AS basis
FROM
(
    SELECT campaign_id, has, r_through, r_reported, r_rs, r_rk, r_currencies,
           toInt64(0) AS n, toInt64(0) AS c, toUInt8(0) AS after
    FROM ({totals})
    UNION ALL
    SELECT campaign_id, toUInt8(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0),
           emptyArrayString(), n, c, toUInt8(j_has = 1 AND m >= j_through)
    FROM
    (
        SELECT campaign_id, toInt64(m) AS m, toInt64(argMax(events, version)) AS n,
               toInt64(argMax(cost_micros, version)) AS c
        FROM
        (
            SELECT campaign_id, toUInt32(minute) AS m, events, cost_micros, version
            FROM kpi_minute
            WHERE {campaigns} AND dim = 'all' AND dim_value = 'all' AND stage = {click_stage}
              AND minute >= toDateTime({w0}) AND minute < toDateTime({w1})
        )
        GROUP BY campaign_id, m
    ) AS clicked
    ANY LEFT JOIN
    (
        SELECT campaign_id, r_through AS j_through, has AS j_has FROM ({totals})
    ) AS reported USING campaign_id
)
GROUP BY campaign_id
ORDER BY campaign_id"""


def segment_share(
    campaign_spend: str, segment_clicks: str, campaign_clicks: str, own_cost: str, has: str
) -> str:
    """SQL of a segment's part of its campaign's spend: as :meth:`WindowSpend.segment_spend`
    (a test holds the two equal); the arguments are SQL expressions."""
    return (
        f"if({has} = 1, intDiv({campaign_spend} * {segment_clicks}, "
        f"greatest({campaign_clicks}, 1)), {own_cost})"
    )


def _report_totals(campaigns: str, w0: str, w1: str) -> str:
    """Per campaign with reports: has = 1, r_through (end of its last reported period),
    r_reported (its reports' spend in [w0, w1)), r_rs and r_rk (spend and clicks of the
    reports ending in the RECENT_SECONDS before r_through), r_currencies."""
    counted = counted_reports(campaigns)
    recent = f"ps + ns > c_through - {RECENT_SECONDS}"
    return f"""
    SELECT campaign_id, toUInt8(1) AS has, any(c_through) AS r_through,
           toInt64(sum({_share(w0, w1)})) AS r_reported,
           toInt64(sumIf(s, {recent})) AS r_rs, toInt64(sumIf(k, {recent})) AS r_rk,
           groupUniqArray(cur) AS r_currencies
    FROM ({counted}) AS reports
    ANY LEFT JOIN
    (
        SELECT campaign_id, max(ps + ns) AS c_through FROM ({counted}) GROUP BY campaign_id
    ) AS ends USING campaign_id
    GROUP BY campaign_id"""


@dataclass(frozen=True)
class WindowSpend:
    """One campaign's row of :func:`window_spend`."""

    campaign_id: str
    clicks: int
    click_cost_micros: int
    has_reports: bool
    #: end of the last reported period (epoch seconds), None without reports
    reported_through: int | None
    reported_micros: int
    provisional_micros: int
    spend_micros: int
    currencies: tuple[str, ...]
    #: where the spend comes from: clicks, reported, provisional or reported+provisional
    basis: str

    def currency(self, default: str) -> str | None:
        """The campaign's one currency: its reports', else ``default`` (the clicks');
        None when its reports name several (nothing is then summed)."""
        if len(self.currencies) > 1:
            return None
        return self.currencies[0] if self.currencies else default

    def segment_spend(self, clicks: int, own_cost: int) -> int:
        """A segment's part of the spend: without reports its clicks' own cost, else the
        campaign's spend in proportion to the segment's clicks (floor, exact integers)."""
        if not self.has_reports:
            return own_cost
        return self.spend_micros * clicks // self.clicks if self.clicks else 0


def no_spend(campaign_id: str) -> WindowSpend:
    """The row of a campaign with neither clicks nor reports in the window."""
    return WindowSpend(campaign_id, 0, 0, False, None, 0, 0, 0, (), "clicks")


def parse_row(row: tuple[object, ...]) -> WindowSpend:
    campaign, clicks, cost, has, through, reported, *_, prov, spend, cur, basis = row
    has_reports = bool(int(str(has)))
    return WindowSpend(
        str(campaign),
        int(str(clicks)),
        int(str(cost)),
        has_reports,
        int(str(through)) if has_reports else None,
        int(str(reported)),
        int(str(prov)),
        int(str(spend)),
        tuple(str(c) for c in cur),  # type: ignore[attr-defined]
        str(basis),
    )
