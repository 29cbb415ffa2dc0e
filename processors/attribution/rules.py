"""The attribution rules of the design brief, and the segment values they carry.

- a lead goes to the campaign of the click its ``click_id`` names (method ``click``),
  else to its ``utm_campaign`` (``utm``), else to ``(unattributed)`` (``none``);
- a CRM event goes wherever its lead went (through the lead's earliest form);
  before any form of the lead has arrived it counts as ``(unattributed)``;
- nothing is dropped: an event that cannot be attributed is counted unattributed.

A better-ranked attribution (a click that arrived late) replaces a worse one, never the
reverse, so the outcome does not depend on which of form and click came first.

Segment values follow the configured :class:`~funnelwatch.schemas.segments.SegmentSet`:
a click has a value for each click dimension; a lead has one for every dimension —
its click's for the click dimensions (or its form's fallback attribute when it has no
click), its form's for the lead-level ones. A missing or empty attribute is
``(unknown)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, NamedTuple

from funnelwatch.schemas.segments import SegmentSet

UNATTRIBUTED = "(unattributed)"
UNKNOWN = "(unknown)"
#: attribution methods, better ones ranked higher
RANKS = {"click": 3, "utm": 2, "none": 1}


class Segment(NamedTuple):
    """What a click contributes to the leads that name it."""

    campaign_id: str
    #: the click's value of each click dimension, in the set's order
    values: tuple[str, ...]


class Attribution(NamedTuple):
    campaign_id: str
    #: the lead's value of every dimension, in the set's order
    values: tuple[str, ...]
    method: str

    @property
    def rank(self) -> int:
        return RANKS[self.method]


def _getter(attributes: Sequence[str]) -> Any:
    """A function from an event to the tuple of these attributes (any number of them)."""
    if not attributes:
        return lambda _: ()
    if len(attributes) == 1:
        one = attrgetter(attributes[0])
        return lambda event: (one(event),)
    return attrgetter(*attributes)


class Segmenter:
    """The segment values of clicks and leads under one :class:`SegmentSet`."""

    def __init__(self, segments: SegmentSet) -> None:
        self.segments = segments
        self.names = segments.names
        self.click_names = segments.click_names
        dims = segments.dimensions
        self._click = _getter([d.click for d in dims if d.click is not None])
        self._form_attrs = [d.form for d in dims]
        self._form = _getter([a for a in self._form_attrs if a is not None])
        #: per dimension: the index of its value among a click's values, or -1
        position = {name: i for i, name in enumerate(self.click_names)}
        self._from_click = [position.get(name, -1) for name in self.names]
        self.no_lead = Attribution(UNATTRIBUTED, (UNKNOWN,) * len(self.names), "none")

    def click_key(self, click: Any) -> tuple[str, ...]:
        """(campaign, *values) of a click: a plain tuple, as this runs per click."""
        return (click.campaign_id, *[v or UNKNOWN for v in self._click(click)])

    def form_values(self, form: Any) -> tuple[str, ...]:
        """A form's own value of every dimension ((unknown) where it has no attribute)."""
        found = iter(self._form(form))
        return tuple(
            (next(found) or UNKNOWN) if attr is not None else UNKNOWN for attr in self._form_attrs
        )

    def by_click(self, click: Segment, form_values: tuple[str, ...]) -> Attribution:
        """A lead attributed to ``click``; its lead-level values are ``form_values``'."""
        values = tuple(
            click.values[i] if i >= 0 else form_values[k] for k, i in enumerate(self._from_click)
        )
        return Attribution(click.campaign_id, values, "click")

    def attribute_form(self, form: Any, click: Segment | None) -> Attribution:
        """Attribution of a form given the segment of the click its click_id names, if seen."""
        own = self.form_values(form)
        if click is not None:
            return self.by_click(click, own)
        if form.utm_campaign:
            return Attribution(form.utm_campaign, own, "utm")
        return Attribution(UNATTRIBUTED, own, "none")

    def aligned(
        self, names: Sequence[str], values: Sequence[str], wanted: Sequence[str]
    ) -> tuple[str, ...]:
        """Values stored under ``names`` as the values of ``wanted`` ((unknown) if absent):
        facts written under another segment set read as this one."""
        stored = dict(zip(names, values, strict=True))
        return tuple(stored.get(name, UNKNOWN) for name in wanted)

    def stored_click(self, campaign: str, names: Sequence[str], values: Sequence[str]) -> Segment:
        return Segment(campaign, self.aligned(names, values, self.click_names))
