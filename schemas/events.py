"""Event contracts of the three source topics, as Faust records.

Invariants:
- every event has a producer-chosen ``event_id``; two records with the same
  ``event_id`` are the same event (producers and webhooks may resend);
- ``event_time`` is when it happened (ISO 8601 with a zone; UTC is stored);
- money is integer micros of the account currency (``cost_micros``,
  ``deal_value_micros``, ``spend_micros``), so sums are exact;
- ``schema_version`` is 1; a breaking change adds a new version, never edits this.
"""

from __future__ import annotations

from datetime import datetime

import faust

SCHEMA_VERSION = 1

CRM_STATUSES = ("contacted", "presentation_requested", "meeting_booked", "won", "lost")


class Event(faust.Record, abstract=True, serializer="json", include_metadata=False):
    """Fields every event carries."""

    #: wire name of the event; a plain class attribute, not a record field
    event_type = ""

    event_id: str
    event_time: datetime
    schema_version: int


class AdClick(Event, serializer="json", include_metadata=False):
    """A paid click on an ad (from the ad platform's click log or a tracking pixel)."""

    event_type = "ad_click"

    click_id: str
    campaign_id: str
    ad_group_id: str
    ad_id: str
    channel: str
    cost_micros: int
    device: str = "(unknown)"
    geo: str = "(unknown)"
    #: the search keyword that matched (search ads), as the platform's click log names it
    keyword: str = ""
    #: the site, app or feed position the ad was shown on (display, social ads)
    placement: str = ""
    #: the landing page URL's UTM tags, as the click tracker read them
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None


class FormSubmission(Event, serializer="json", include_metadata=False):
    """A landing-page form submission: this creates a lead."""

    event_type = "form_submission"

    lead_id: str
    form_id: str
    form_type: str
    click_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    device: str = "(unknown)"
    geo: str = "(unknown)"
    #: the page the form was submitted on (its path, e.g. ``/pricing``)
    landing_page: str | None = None
    #: salted hashes of the contact's e-mail/phone (``e:``/``p:`` + HMAC-SHA256 hex, see
    #: funnelwatch.connectors.contacts), never the raw values: they link CRM records
    contact_hashes: list[str] | None = None


class CrmEvent(Event, serializer="json", include_metadata=False):
    """A status change of a lead in the CRM; ``won`` carries the deal value."""

    event_type = "crm_event"

    lead_id: str
    status: str
    deal_value_micros: int | None = None


#: the lengths of a reported period: an hour or a day of the account's own clock
SPEND_PERIODS = (3600, 86400)


class AdSpend(Event, serializer="json", include_metadata=False):
    """What an ad platform reports as spent by a campaign (or one of its ad groups or
    ads) in one hour or day.

    ``event_time`` is the report's own time: of two reports of the same platform,
    account, campaign, ad group, ad and period, the one with the later ``event_time``
    replaces the other (platforms restate spend for days); equal times are ordered by
    ``event_id``. ``period_start`` is a whole minute (a day starts at midnight of the
    account's time zone, so not always at a UTC hour). Empty ``ad_group_id``/``ad_id``
    mean the report covers the whole campaign / ad group.
    """

    event_type = "ad_spend"

    platform: str
    account_id: str
    campaign_id: str
    period_start: datetime
    period_seconds: int
    spend_micros: int
    currency: str
    ad_group_id: str = ""
    ad_id: str = ""
    clicks: int = 0
    impressions: int = 0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls for cls in (AdClick, FormSubmission, CrmEvent, AdSpend)
}
