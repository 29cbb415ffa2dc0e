"""Cohorts: the leads first seen in a period, and what they did since.

Definitions (the README's "Cohorts and speed to lead" says the same to users):

- A lead's **lead time** is the event time of its counted form (``funnel_facts`` stage
  lead, ``counted = 1``, newest version); its campaign and segment (channel, ad group,
  device, geo) are that fact's, at its newest version (re-attribution moves a lead).
- A **cohort** is the leads of one campaign (and segment value) whose lead time falls in
  one UTC day ``[start, start + 86400)``.
- A lead **reached** a later stage when it has a counted fact of that stage or of any
  deeper stage of the funnel (a won deal was qualified and contacted, even if the CRM
  skipped a status), so a cohort's stage conversion (reached k+1 / reached k) never
  exceeds 1; an outcome (lost) is reached by its own counted fact only. A CRM fact
  counts for its lead only when timed at most ``EARLY_CRM_SECONDS`` before the lead
  time and in a minute at or before the watermark.
- **Revenue** is the deal value of the counted won (last stage) facts of the cohort's
  leads; its **cost** is the campaign's spend of the cohort's day as
  :func:`funnelwatch.processors.spend.sql.window_spend` defines it (a segment's part by
  its clicks of that day, :meth:`WindowSpend.segment_spend`).
- A lead is **mature** for a stage once ``maturity`` seconds have passed since its lead
  time: ``lead_ms + maturity_ms <= now_ms``, where now is the pipeline's watermark (the
  start of its newest durable minute).
- **Speed to lead** is the delay from the lead time to the event time of the lead's
  counted first-CRM-stage fact (``contacted``), in milliseconds; its median and p90 are
  nearest-rank order statistics of the cohort's delays: the element of rank
  ``ceil(p n / 100)`` (1-based) of the ``n`` sorted delays — no interpolation, so every
  figure is one lead's actual delay. A lead counts as uncontacted after ``within``
  minutes when it is old enough to judge (``lead_ms + within_ms <= now_ms``) and has no
  contact with delay ``<= within_ms``.

Invariants: everything is computed in one SQL statement per cohort range (plus the
spend SQL per day) from the newest versions of ``funnel_facts``; exact integers
(milliseconds, micros, counts) leave ClickHouse, ratios are taken in Python; the SQL
runs on ClickHouse 18.16 and chDB alike.
"""

#: a CRM fact timed this long before its lead's form still counts for the lead (clocks
#: of the CRM and the website differ); earlier ones are not read
EARLY_CRM_SECONDS = 86400
#: the cohort period (a UTC day)
DAY_SECONDS = 86400
