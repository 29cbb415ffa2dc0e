"""Segments and attributions of the built-in segment set, spelled out for tests.

The built-in set's click dimensions are channel, ad group, device and geo (in that
order); its lead-level ones are form type and landing page.
"""

from __future__ import annotations

from funnelwatch.processors.attribution.rules import UNKNOWN, Attribution, Segment, Segmenter
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS

SEGMENTER = Segmenter(BUILT_IN_SEGMENTS)
DIMS = SEGMENTER.names
CLICK_DIMS = SEGMENTER.click_names


def click_seg(campaign: str, channel: str, ad_group: str, device: str, geo: str) -> Segment:
    return Segment(campaign, (channel, ad_group, device, geo))


def attribution(
    campaign: str,
    channel: str,
    ad_group: str,
    device: str,
    geo: str,
    method: str,
    form_type: str = UNKNOWN,
    landing_page: str = UNKNOWN,
) -> Attribution:
    return Attribution(campaign, (channel, ad_group, device, geo, form_type, landing_page), method)


def by_click(
    segment: Segment, form_type: str = UNKNOWN, landing_page: str = UNKNOWN
) -> Attribution:
    return attribution(segment.campaign_id, *segment.values, "click", form_type, landing_page)
