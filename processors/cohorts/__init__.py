"""Cohorts: the leads first seen in a period, and what they did since.

Definitions (the README's "Cohorts and speed to lead" says the same to users):

- A lead's **lead time** is the event time of its counted form (``funnel_facts`` stage
  lead, ``counted = 1``, newest version); its campaign and segment values (the
  configured dimensions, ``dim_names``/``dim_values``) are that fact's, at its newest
  version (re-attribution moves a lead).
- A **cohort** is the leads of one campaign (and segment value) whose lead time falls in
  one period: a UTC day ``[start, start + 86400)`` or a UTC week from Monday 00:00
  (:data:`PERIODS`).
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
  figure is one lead's actual delay. A lead counts as uncontacted after its
  ``within`` minutes — its form type's (:class:`ContactDeadline`: the value of the
  lead-level dimension reading the form's ``form_type``), else the default — when it
  is old enough to judge (``lead_ms + within_ms <= now_ms``) and has no contact with
  delay ``<= within_ms``.

Invariants: everything is computed in one SQL statement per cohort range (plus the
spend SQL per day) from the newest versions of ``funnel_facts``; exact integers
(milliseconds, micros, counts) leave ClickHouse, ratios are taken in Python; the SQL
runs on ClickHouse 18.16 and chDB alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: a CRM fact timed this long before its lead's form still counts for the lead (clocks
#: of the CRM and the website differ); earlier ones are not read
EARLY_CRM_SECONDS = 86400
DAY_SECONDS = 86400


@dataclass(frozen=True)
class Period:
    """A cohort period: ``seconds`` long, starting ``offset`` seconds after a multiple
    of ``seconds`` since the epoch (1970-01-01 was a Thursday: weeks start 4 days on)."""

    name: str
    seconds: int
    offset: int = 0

    def start_of(self, epoch_s: int) -> int:
        """The start of the period holding ``epoch_s`` (epoch seconds)."""
        return (epoch_s - self.offset) // self.seconds * self.seconds + self.offset

    @property
    def minutes(self) -> int:
        return self.seconds // 60


DAY = Period("day", DAY_SECONDS)
WEEK = Period("week", 7 * DAY_SECONDS, 4 * DAY_SECONDS)
#: the cohort periods by name
PERIODS = {p.name: p for p in (DAY, WEEK)}


@dataclass(frozen=True)
class ContactDeadline:
    """How long a lead may wait for its first contact before it counts as uncontacted:
    its form type's minutes, else ``default_minutes``."""

    default_minutes: int
    by_form_type: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: the lead-level dimension whose value is the lead's form type (None: none is
    #: configured, every lead takes the default)
    form_type_dim: str | None = None

    def minutes_for(self, form_type: str) -> int:
        if self.form_type_dim is None:
            return self.default_minutes
        return self.by_form_type.get(form_type, self.default_minutes)

    def only(self, minutes: int) -> ContactDeadline:
        """The same minutes for every lead (a request's ``within``)."""
        return ContactDeadline(minutes, MappingProxyType({}), self.form_type_dim)

    @property
    def uniform(self) -> bool:
        return self.form_type_dim is None or not self.by_form_type

    def document(self) -> dict[str, object]:
        return {
            "default_minutes": self.default_minutes,
            "by_form_type": dict(self.by_form_type) if self.form_type_dim else {},
            "form_type_dimension": self.form_type_dim,
        }


def contact_deadline(
    default_minutes: int,
    by_form_type: Mapping[str, int],
    form_type_dim: str | None,
    explicit: bool,
) -> ContactDeadline:
    """The configured deadline. A per-form-type map needs a lead-level dimension reading
    the form's ``form_type``: without one, a map set explicitly is an error (it would be
    ignored), the built-in default map is not used."""
    if by_form_type and form_type_dim is None and explicit:
        raise ValueError(
            "FUNNELWATCH_UNCONTACTED_AFTER_MINUTES_BY_FORM_TYPE needs a lead-level segment "
            "dimension with form: form_type (add one to the segments file, or set the "
            "variable to {})"
        )
    return ContactDeadline(default_minutes, MappingProxyType(dict(by_form_type)), form_type_dim)
