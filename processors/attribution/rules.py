"""The attribution rules of the design brief.

- a lead goes to the campaign of the click its ``click_id`` names (method ``click``),
  else to its ``utm_campaign`` (``utm``), else to ``(unattributed)`` (``none``);
- a CRM event goes wherever its lead went (through the lead's earliest form);
  before any form of the lead has arrived it counts as ``(unattributed)``;
- nothing is dropped: an event that cannot be attributed is counted unattributed.

A better-ranked attribution (a click that arrived late) replaces a worse one, never the
reverse, so the outcome does not depend on which of form and click came first.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

UNATTRIBUTED = "(unattributed)"
UNKNOWN = "(unknown)"
#: attribution methods, better ones ranked higher
RANKS = {"click": 3, "utm": 2, "none": 1}


class Segment(NamedTuple):
    """What a click contributes to the leads that name it."""

    campaign_id: str
    channel: str
    ad_group_id: str
    device: str
    geo: str


class Attribution(NamedTuple):
    campaign_id: str
    channel: str
    ad_group_id: str
    device: str
    geo: str
    method: str

    @property
    def rank(self) -> int:
        return RANKS[self.method]


NO_LEAD = Attribution(UNATTRIBUTED, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, "none")


class ClickLike(Protocol):
    @property
    def campaign_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def ad_group_id(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def geo(self) -> str: ...


class FormLike(Protocol):
    @property
    def utm_campaign(self) -> str | None: ...
    @property
    def utm_source(self) -> str | None: ...
    @property
    def utm_content(self) -> str | None: ...
    @property
    def device(self) -> str: ...
    @property
    def geo(self) -> str: ...


def click_segment(click: ClickLike) -> tuple[str, str, str, str, str]:
    """The fields of a :class:`Segment` a click gives (a plain tuple: this runs per click)."""
    return (click.campaign_id, click.channel, click.ad_group_id, click.device or UNKNOWN,
            click.geo or UNKNOWN)  # fmt: skip


def by_click(segment: Segment) -> Attribution:
    return Attribution(*segment, "click")


def attribute_form(form: FormLike, click: Segment | None) -> Attribution:
    """Attribution of a form given the segment of the click its click_id names, if seen."""
    if click is not None:
        return by_click(click)
    if form.utm_campaign:
        return Attribution(
            form.utm_campaign,
            form.utm_source or UNKNOWN,
            form.utm_content or UNKNOWN,
            form.device or UNKNOWN,
            form.geo or UNKNOWN,
            "utm",
        )
    return Attribution(
        UNATTRIBUTED, UNKNOWN, UNKNOWN, form.device or UNKNOWN, form.geo or UNKNOWN, "none"
    )
