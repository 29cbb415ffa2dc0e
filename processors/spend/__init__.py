"""Spend: the ad platforms' reports, and which cost counts for a campaign and window.

- :mod:`.reports`: a report as the row the hot path writes to ``ad_spend``;
- :mod:`.sql`: the one definition of a window's spend (reported, provisional or the
  clicks' own cost), used by the API, the boards and Grafana.
"""
