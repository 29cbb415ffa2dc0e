"""funnelwatch: real-time KPI monitor for marketing and sales funnels.

The distribution keeps the design card's top-level folders (schemas/, streams/,
processors/) and installs them as ``funnelwatch.schemas``, ``funnelwatch.streams``
and ``funnelwatch.processors``. This root package holds what all of them share:
the one settings object and the ClickHouse client.
"""

__version__ = "0.1.0"
