"""What the simulator simulates: campaigns, their segments and the knobs of one run.

Invariants:
- everything here is a frozen dataclass, so a :class:`SimulationConfig` fully and
  immutably describes a run: the same config (seed included) yields the same records;
- money is integer micros, rates are probabilities in [0, 1], times are UTC;
- :func:`default_campaigns` is deterministic and returns unique campaign ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from .incidents import Incident

MICROS = 1_000_000

FORM_TYPES = ("demo_request", "contact", "pricing", "whitepaper")
DEVICES = ("desktop", "mobile", "tablet")
GEOS = ("US", "GB", "DE", "FR", "CA", "AU", "NL")
GEO_WEIGHTS = (0.42, 0.14, 0.12, 0.08, 0.1, 0.07, 0.07)

# channel -> (utm_source, utm_medium, device weights desktop/mobile/tablet): social
# traffic is mostly mobile, search and LinkedIn lean desktop.
CHANNELS: dict[str, tuple[str, str, tuple[float, float, float]]] = {
    "google": ("google", "cpc", (0.55, 0.4, 0.05)),
    "bing": ("bing", "cpc", (0.7, 0.25, 0.05)),
    "meta": ("facebook", "paid_social", (0.2, 0.75, 0.05)),
    "linkedin": ("linkedin", "paid_social", (0.65, 0.32, 0.03)),
}


@dataclass(frozen=True)
class Lag:
    """A log-normal delay: ``median_minutes`` with spread ``sigma``, clipped to bounds."""

    median_minutes: float
    sigma: float
    min_minutes: float
    max_minutes: float


@dataclass(frozen=True)
class Form:
    form_id: str
    form_type: str
    weight: float = 1.0


@dataclass(frozen=True)
class AdGroup:
    ad_group_id: str
    ads: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Campaign:
    """One paid campaign; ``weight`` is its share of all clicks (relative)."""

    campaign_id: str
    channel: str
    ad_groups: tuple[AdGroup, ...]
    forms: tuple[Form, ...]
    weight: float
    conversion_rate: float  # click -> form submission
    cpc_median_micros: int
    cpc_min_micros: int
    cpc_max_micros: int
    quality: float = 1.0  # multiplies qualify and win probabilities
    deal_median_micros: int = 8_000 * MICROS
    keywords: tuple[str, ...] = ()

    @property
    def utm_source(self) -> str:
        return CHANNELS[self.channel][0]

    @property
    def utm_medium(self) -> str:
        return CHANNELS[self.channel][1]

    @property
    def device_weights(self) -> tuple[float, float, float]:
        return CHANNELS[self.channel][2]


@dataclass(frozen=True)
class Lifecycle:
    """CRM behaviour per lead: probabilities per form type and the lags between stages.

    A lead gets at most one event per status: contacted, then (maybe) one of
    presentation_requested / meeting_booked, then (maybe) won or lost.
    """

    contact_prob: tuple[tuple[str, float], ...] = (
        ("demo_request", 0.95),
        ("pricing", 0.9),
        ("contact", 0.85),
        ("whitepaper", 0.55),
    )
    qualify_prob: tuple[tuple[str, float], ...] = (
        ("demo_request", 0.5),
        ("pricing", 0.4),
        ("contact", 0.25),
        ("whitepaper", 0.1),
    )
    meeting_share: tuple[tuple[str, float], ...] = (
        ("demo_request", 0.7),
        ("pricing", 0.4),
        ("contact", 0.5),
        ("whitepaper", 0.2),
    )
    win_prob: float = 0.3  # of qualified leads
    lose_prob_qualified: float = 0.6  # of qualified leads; the rest stay open
    lose_prob_unqualified: float = 0.35  # of contacted, unqualified leads
    form_lag: Lag = Lag(3, 0.8, 0.3, 60)  # click -> form
    contact_lag: Lag = Lag(40, 1.0, 2, 12 * 60)  # minutes to hours
    qualify_lag: Lag = Lag(8 * 60, 0.8, 60, 48 * 60)  # hours to a day or two
    close_lag: Lag = Lag(4 * 1440, 0.6, 1440, 21 * 1440)  # days
    deal_sigma: float = 0.6

    def prob(self, table: tuple[tuple[str, float], ...], form_type: str) -> float:
        return dict(table).get(form_type, 0.0)


@dataclass(frozen=True)
class SimulationConfig:
    """One simulation run.

    ``start``/``end`` bound the simulated event time (``end`` None: no end, live mode
    only). No emitted valid record has an event time after ``end``; ``max_records``
    caps the number of records sent (duplicates and malformed ones included).
    """

    seed: int
    start: datetime
    end: datetime | None
    campaigns: tuple[Campaign, ...]
    clicks_per_minute: float = 100.0  # at the daily and weekly peak
    diurnal: bool = True
    weekly: bool = True
    duplicate_rate: float = 0.01
    out_of_order_rate: float = 0.02
    malformed_rate: float = 0.005
    incidents: tuple[Incident, ...] = ()
    organic_lead_share: float = 0.12  # leads without click_id, of all leads
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    max_records: int | None = None
    #: the ad platforms' spend reports (streams/simulator/spend.py) besides the clicks
    spend_reports: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("start and end must carry a time zone")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        for name in ("duplicate_rate", "out_of_order_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")
        if not 0.0 <= self.organic_lead_share < 1.0:
            raise ValueError("organic_lead_share must be in [0, 1)")
        if not self.campaigns:
            raise ValueError("at least one campaign is needed")
        ids = [c.campaign_id for c in self.campaigns]
        if len(set(ids)) != len(ids):
            raise ValueError("campaign ids must be unique")
        if self.clicks_per_minute <= 0:
            raise ValueError("clicks_per_minute must be positive")

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else to_ms(self.end)

    def mean_conversion_rate(self) -> float:
        """Click-weighted mean click->lead conversion over the campaigns."""
        total = sum(c.weight for c in self.campaigns)
        return sum(c.weight * c.conversion_rate for c in self.campaigns) / total


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact, no float rounding)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# ---- the default campaign catalogue -------------------------------------------------
class _Template(NamedTuple):
    suffix: str
    channel: str
    weight: float
    conversion: float
    cpc: float  # median, currency units
    cpc_min: float
    cpc_max: float
    quality: float
    deal: int  # median deal value, currency units
    groups: tuple[str, ...]
    forms: tuple[str, ...]
    keywords: tuple[str, ...]


_TEMPLATES = tuple(_Template(*row) for row in (
    ("search-brand", "google", 0.18, 0.09, 0.9, 0.3, 2.5, 1.2, 9_000,
     ("core", "product", "misspellings"), ("demo_request", "contact"),
     ("funnelwatch", "funnelwatch pricing")),
    ("search-generic", "google", 0.2, 0.045, 2.8, 0.8, 6.0, 0.9, 12_000,
     ("kpi-monitoring", "funnel-analytics", "marketing-dashboards", "sales-alerts"),
     ("demo_request", "pricing"), ("funnel analytics", "kpi dashboard")),
    ("social-prospecting", "meta", 0.17, 0.025, 0.6, 0.3, 1.8, 0.6, 6_000,
     ("lookalike", "interests"), ("whitepaper", "contact"), ()),
    ("linkedin-abm", "linkedin", 0.08, 0.05, 4.5, 2.5, 6.0, 1.4, 25_000,
     ("enterprise", "mid-market", "job-titles"), ("demo_request", "whitepaper"), ()),
    ("bing-search", "bing", 0.1, 0.055, 1.6, 0.5, 4.0, 1.0, 9_000,
     ("brand", "generic"), ("demo_request", "pricing"), ("funnel monitor", "lead tracking")),
    ("social-retargeting", "meta", 0.12, 0.07, 0.8, 0.3, 2.2, 1.1, 8_000,
     ("site-visitors", "pricing-visitors"), ("pricing", "demo_request"), ()),
    ("display-awareness", "google", 0.1, 0.015, 0.4, 0.3, 1.2, 0.5, 5_000,
     ("placements", "topics", "affinity"), ("whitepaper",), ()),
    ("search-competitor", "google", 0.05, 0.04, 3.5, 1.5, 6.0, 0.8, 15_000,
     ("alternatives", "comparisons"), ("demo_request", "pricing", "contact"),
     ("funnel tool alternative",)),
))  # fmt: skip


def default_campaigns(count: int = len(_TEMPLATES)) -> tuple[Campaign, ...]:
    """``count`` campaigns from a fixed catalogue; beyond it the catalogue repeats with
    numbered ids (``cmp-search-brand-2``) and slightly shifted parameters."""
    if count < 1:
        raise ValueError("at least one campaign is needed")
    campaigns = []
    for i in range(count):
        t = _TEMPLATES[i % len(_TEMPLATES)]
        round_ = i // len(_TEMPLATES)
        name = t.suffix if round_ == 0 else f"{t.suffix}-{round_ + 1}"
        # Repeats differ a little so campaigns of the same template are distinguishable.
        shift = 1.0 + 0.1 * math.sin(round_ * 1.7)
        ad_groups = tuple(
            AdGroup(
                f"ag-{name}-{g}",
                tuple(f"ad-{name}-{g}-{n}" for n in range(1, 3 + j % 2)),  # 2 or 3 ads
                weight=1.0 / (j + 1),
            )
            for j, g in enumerate(t.groups)
        )
        campaigns.append(
            Campaign(
                campaign_id=f"cmp-{name}",
                channel=t.channel,
                ad_groups=ad_groups,
                forms=tuple(
                    Form(f"frm-{name}-{ft.replace('_', '-')}", ft, 1.0 / (k + 1))
                    for k, ft in enumerate(t.forms)
                ),
                weight=t.weight,
                conversion_rate=t.conversion * shift,
                cpc_median_micros=int(t.cpc * shift * MICROS),
                cpc_min_micros=int(t.cpc_min * MICROS),
                cpc_max_micros=int(t.cpc_max * MICROS),
                quality=t.quality,
                deal_median_micros=t.deal * MICROS,
                keywords=t.keywords,
            )
        )
    return tuple(campaigns)


#: Forms of the company website, used by leads that no campaign brought.
SITE_FORMS = (
    Form("frm-site-contact", "contact", 3.0),
    Form("frm-site-whitepaper", "whitepaper", 2.0),
    Form("frm-site-pricing", "pricing", 1.0),
    Form("frm-site-demo", "demo_request", 1.0),
)

#: utm_campaign values of tagged links that are not ad campaigns (they match no campaign id).
FOREIGN_UTM = (
    ("newsletter", "email", "newsletter-weekly"),
    ("partner", "referral", "partner-webinar-q2"),
    ("twitter", "social", "launch-thread"),
    ("newsletter", "email", "spring-promo"),
)
