"""The detector service: closed minutes from ClickHouse into the detectors, alerts out.

Outputs of every alert state: a row in ClickHouse ``alerts``, a message on the
catalogue's alerts topic, the ``funnelwatch_alerts_active`` gauge, and webhooks.
"""
