"""Deterministic traffic generation: clicks, leads and CRM lifecycles with faults.

Invariants:
- the output depends only on the :class:`SimulationConfig`: one seeded
  ``random.Random`` drives every draw and no clock is read, so the same config yields
  the same records, byte for byte;
- records come in send order, and that is event-time order except for the deliberate
  faults: a duplicate is re-sent a little after its original, and an out-of-order lead's
  form is sent after its first CRM event (its event time stays the true one);
- nothing is ever sent before its own event time, and no valid record has an event time
  after ``config.end``: a CRM stage that would happen later simply has not happened yet;
- a lead has at most one CRM event per status (apart from deliberate duplicates);
- ids (event, click, lead, malformed markers) embed a tag derived from seed and start,
  so two runs with different seeds or starts never share an id.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from .faults import MALFORMED_KINDS, TEN_YEARS_MS, malformed_record
from .incidents import blocked
from .model import DEVICES, FOREIGN_UTM, GEO_WEIGHTS, GEOS, MICROS, SITE_FORMS, Campaign, Form
from .model import SimulationConfig as Config
from .records import SentRecord, TimedRecord, TopicKey, encode, iso_ms
from .rhythm import lag_ms, pick_index, poisson, traffic_factor
from .spend import SpendReporter

MINUTE_MS = 60_000
DUPLICATE_DELAY_MS = (1_000, 600_000)  # webhook retries: a second to ten minutes later
LATE_FORM_DELAY_MS = (1_000, 300_000)  # an out-of-order form lands after its first CRM event
UTM_KNOWN, UTM_FOREIGN = 0.5, 0.25  # shares of leads without click; the rest carry no utm
SEARCH_CHANNELS = ("google", "bing")
#: the landing pages a campaign's ad groups send visitors to (an ad group's is fixed by
#: its id, drawing nothing from the random stream), and the pages of organic forms
LANDING_PAGES = ("/pricing", "/demo", "/offer-a", "/offer-b", "/webinar")
ORGANIC_PAGES = ("/", "/blog", "/contact")


def _pick(options: tuple[str, ...], key: str) -> str:
    """One of ``options``, fixed by ``key`` (a stable hash: no random draw)."""
    return options[int(hashlib.blake2s(key.encode(), digest_size=4).hexdigest(), 16) % len(options)]


SITE_QUALITY = 0.8  # leads no campaign brought qualify and win a little less often


def run_tag(config: Config) -> str:
    """Short id of a run: the same for the same seed and start, else different."""
    return hashlib.sha256(f"{config.seed}:{config.start_ms}".encode()).hexdigest()[:8]


def generate(config: Config) -> Iterator[SentRecord]:
    """The records of a run, in send order."""
    for timed in generate_timed(config):
        yield timed.record


def generate_timed(config: Config) -> Iterator[TimedRecord]:
    """The records of a run in send order, each with its simulated send time."""
    return _Generator(config).run()


class _Generator:
    def __init__(self, config: Config) -> None:
        self.c = config
        # A string seed is hashed with SHA-512 by random.Random: stable across processes
        # (unlike hash()), and independent of the global random state.
        self.rng = random.Random(f"funnelwatch-simulator:{config.seed}")
        self.tag = run_tag(config)
        self.start = config.start_ms
        self.end = config.end_ms
        self.heap: list[tuple[int, int, SentRecord]] = []
        self.seq = 0  # tie-breaker: equal send times keep creation order
        self.ids = 0
        campaigns = config.campaigns
        self.campaign_cum = tuple(accumulate(c.weight for c in campaigns))
        self.group_cum = [tuple(accumulate(g.weight for g in c.ad_groups)) for c in campaigns]
        self.form_cum = [tuple(accumulate(f.weight for f in c.forms)) for c in campaigns]
        self.device_cum = [tuple(accumulate(c.device_weights)) for c in campaigns]
        self.geo_cum = tuple(accumulate(GEO_WEIGHTS))
        self.site_form_cum = tuple(accumulate(f.weight for f in SITE_FORMS))
        self.spend = (
            SpendReporter(config.seed, self.tag, self._push_spend) if config.spend_reports else None
        )
        share = config.organic_lead_share
        self.organic_per_click = config.mean_conversion_rate() * share / (1.0 - share)

    # ---- main loop --------------------------------------------------------------
    def run(self) -> Iterator[TimedRecord]:
        c, rng = self.c, self.rng
        remaining = c.max_records if c.max_records is not None else math.inf
        minute_ms = self.start
        while self.end is None or minute_ms <= self.end:
            lam = c.clicks_per_minute * traffic_factor(minute_ms, c.diurnal, c.weekly)
            for _ in range(poisson(rng, lam)):
                self._click(minute_ms + rng.randrange(MINUTE_MS))
            for _ in range(poisson(rng, lam * self.organic_per_click)):
                self._organic_lead(minute_ms + rng.randrange(MINUTE_MS))
            minute_ms += MINUTE_MS
            if self.spend is not None:
                self.spend.close_before(minute_ms)
            # Everything generated so far is timed at or after its click, so all that is
            # due before the next minute is complete: drain it in send order.
            limit = minute_ms if self.end is None else min(minute_ms, self.end + 1)
            for timed in self._drain(limit):
                yield timed
                remaining -= 1
                if remaining <= 0:
                    return
        # Whatever is still queued is due after the end: it has not happened yet.

    def _drain(self, limit: int) -> Iterator[TimedRecord]:
        heap, c = self.heap, self.c
        while heap and heap[0][0] < limit:
            send_ms, _, record = heapq.heappop(heap)
            yield TimedRecord(send_ms, record)
            # spend reports draw from their own generator and bring no malformed records:
            # the traffic stays as it is without them
            spend = record.topic_key == "spend"
            rng = self.spend.rng if spend and self.spend else self.rng
            if not record.duplicate and rng.random() < c.duplicate_rate:
                again = SentRecord(
                    record.topic_key, record.key, record.value, record.event_id, True, None, True
                )
                self._push(send_ms + rng.randint(*DUPLICATE_DELAY_MS), again)
            if not spend and rng.random() < c.malformed_rate:
                kind = MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))]
                future = (self.end if self.end is not None else send_ms) + TEN_YEARS_MS
                yield TimedRecord(
                    send_ms, malformed_record(kind, f"bad-{self.tag}-{self._id()}", send_ms, future)
                )

    # ---- helpers ----------------------------------------------------------------
    def _id(self) -> int:
        self.ids += 1
        return self.ids

    def _push(self, send_ms: int, record: SentRecord) -> None:
        if self.end is not None and send_ms > self.end:
            return  # would be sent after the end of the simulated range
        self.seq += 1
        heapq.heappush(self.heap, (send_ms, self.seq, record))

    def _push_spend(self, send_ms: int, campaign_id: str, payload: dict[str, Any]) -> None:
        self._push(send_ms, self._event("spend", campaign_id, payload))

    def _event(self, topic: TopicKey, key: str, payload: dict[str, Any]) -> SentRecord:
        return SentRecord(
            topic, key.encode(), encode(payload), payload["event_id"], True, None, False
        )

    def _header(self, event_type: str, ms: int) -> dict[str, Any]:
        return {
            "event_type": event_type,
            "event_id": f"evt-{self.tag}-{self._id()}",
            "event_time": iso_ms(ms),
            "schema_version": 1,
        }

    def _minute(self, ms: int) -> int:
        return (ms - self.start) // MINUTE_MS

    # ---- traffic ----------------------------------------------------------------
    def _click(self, t: int) -> None:
        rng = self.rng
        i = pick_index(rng, self.campaign_cum)
        campaign = self.c.campaigns[i]
        group = campaign.ad_groups[pick_index(rng, self.group_cum[i])]
        ad = group.ads[rng.randrange(len(group.ads))]
        device = DEVICES[pick_index(rng, self.device_cum[i])]
        geo = GEOS[pick_index(rng, self.geo_cum)]
        click_id = f"clk-{self.tag}-{self._id()}"
        payload = self._header("ad_click", t)
        payload.update(
            click_id=click_id,
            campaign_id=campaign.campaign_id,
            ad_group_id=group.ad_group_id,
            ad_id=ad,
            channel=campaign.channel,
            cost_micros=self._cpc(campaign),
            device=device,
            geo=geo,
        )
        if campaign.channel in SEARCH_CHANNELS and campaign.keywords:
            payload["keyword"] = _pick(campaign.keywords, click_id)
        if self.spend is not None:
            self.spend.click(
                t, campaign.campaign_id, campaign.channel, group.ad_group_id, payload["cost_micros"]
            )
        self._push(t, self._event("clicks", click_id, payload))
        if rng.random() < campaign.conversion_rate:
            form_t = t + lag_ms(rng, self.c.lifecycle.form_lag)
            utm = self._campaign_utm(campaign, group.ad_group_id)
            self._lead(form_t, i, click_id, utm, device, geo)

    def _cpc(self, campaign: Campaign) -> int:
        # Log-normal around the campaign's median, clipped to its range, in whole cents.
        cost = campaign.cpc_median_micros * math.exp(self.rng.gauss(0.0, 0.45))
        cost = min(campaign.cpc_max_micros, max(campaign.cpc_min_micros, cost))
        return int(cost) // 10_000 * 10_000

    def _campaign_utm(self, campaign: Campaign, ad_group_id: str) -> dict[str, str | None]:
        term = None
        if campaign.channel in SEARCH_CHANNELS and campaign.keywords:
            term = campaign.keywords[self.rng.randrange(len(campaign.keywords))]
        return {
            "utm_source": campaign.utm_source,
            "utm_medium": campaign.utm_medium,
            "utm_campaign": campaign.campaign_id,
            "utm_content": ad_group_id,
            "utm_term": term,
        }

    def _organic_lead(self, t: int) -> None:
        """A lead without click_id: tagged with a campaign's utm, a foreign utm, or none."""
        rng = self.rng
        roll = rng.random()
        device = DEVICES[rng.randrange(len(DEVICES))]
        geo = GEOS[pick_index(rng, self.geo_cum)]
        if roll < UTM_KNOWN:
            i = pick_index(rng, self.campaign_cum)
            campaign = self.c.campaigns[i]
            group = campaign.ad_groups[pick_index(rng, self.group_cum[i])]
            self._lead(t, i, None, self._campaign_utm(campaign, group.ad_group_id), device, geo)
            return
        utm: dict[str, str | None] = dict.fromkeys(
            ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
        )
        if roll < UTM_KNOWN + UTM_FOREIGN:
            source, medium, name = FOREIGN_UTM[rng.randrange(len(FOREIGN_UTM))]
            utm.update(utm_source=source, utm_medium=medium, utm_campaign=name)
        self._lead(t, None, None, utm, device, geo)

    def _lead(
        self,
        t: int,
        campaign_index: int | None,
        click_id: str | None,
        utm: dict[str, str | None],
        device: str,
        geo: str,
    ) -> None:
        if self.end is not None and t > self.end:
            return  # not submitted yet
        rng = self.rng
        campaign: Campaign | None = None
        if campaign_index is not None:
            campaign = self.c.campaigns[campaign_index]
            if blocked(self.c.incidents, "form_broken", campaign.campaign_id, self._minute(t)):
                return  # the form is broken: the visitor gives up
            form: Form = campaign.forms[pick_index(rng, self.form_cum[campaign_index])]
            page = _pick(LANDING_PAGES, utm.get("utm_content") or campaign.campaign_id)
        else:
            form = SITE_FORMS[pick_index(rng, self.site_form_cum)]
            page = _pick(ORGANIC_PAGES, form.form_id)
        lead_id = f"lead-{self.tag}-{self._id()}"
        payload = self._header("form_submission", t)
        payload.update(
            lead_id=lead_id,
            form_id=form.form_id,
            form_type=form.form_type,
            click_id=click_id,
            **utm,
            device=device,
            geo=geo,
            landing_page=page,
        )
        crm = self._lifecycle(t, lead_id, form.form_type, campaign)
        send_t = t
        if crm and rng.random() < self.c.out_of_order_rate:
            # The form webhook is delayed until after the lead's first CRM event.
            late = crm[0][0] + rng.randint(*LATE_FORM_DELAY_MS)
            if self.end is None or late <= self.end:
                send_t = late
        self._push(send_t, self._event("forms", lead_id, payload))
        for when, record in crm:
            self._push(when, record)

    def _lifecycle(
        self, t: int, lead_id: str, form_type: str, campaign: Campaign | None
    ) -> list[tuple[int, SentRecord]]:
        """The lead's CRM events that happen by the end, in time order."""
        rng, lc = self.rng, self.c.lifecycle
        quality = campaign.quality if campaign is not None else SITE_QUALITY
        stages: list[tuple[int, str, int | None]] = []
        if rng.random() >= lc.prob(lc.contact_prob, form_type):
            return []
        contacted = t + lag_ms(rng, lc.contact_lag)
        if blocked(self.c.incidents, "sales_stop", form_type, self._minute(contacted)):
            return []  # nobody calls: no contact, hence no later stage either
        stages.append((contacted, "contacted", None))
        if rng.random() < min(0.95, lc.prob(lc.qualify_prob, form_type) * quality):
            qualified = contacted + lag_ms(rng, lc.qualify_lag)
            meeting = rng.random() < lc.prob(lc.meeting_share, form_type)
            stages.append(
                (qualified, "meeting_booked" if meeting else "presentation_requested", None)
            )
            closed = qualified + lag_ms(rng, lc.close_lag)
            win = min(0.9, lc.win_prob * quality)
            roll = rng.random()
            if roll < win:
                median = campaign.deal_median_micros if campaign is not None else 6_000 * MICROS
                deal = median * math.exp(rng.gauss(0.0, lc.deal_sigma))
                # Deals are priced in hundreds of currency units.
                stages.append((closed, "won", max(5, round(deal / (100 * MICROS))) * 100 * MICROS))
            elif roll < win + (1.0 - win) * lc.lose_prob_qualified:
                stages.append((closed, "lost", None))
        elif rng.random() < lc.lose_prob_unqualified:
            stages.append((contacted + lag_ms(rng, lc.close_lag), "lost", None))
        out = []
        for when, status, value in stages:
            if self.end is not None and when > self.end:
                break  # later stages come later still
            payload = self._header("crm_event", when)
            payload.update(lead_id=lead_id, status=status, deal_value_micros=value)
            out.append((when, self._event("crm", lead_id, payload)))
        return out
