"""The worker's web surface beyond /metrics: KPI API, ingest, live board, OpenAPI."""

from .api import register_web

__all__ = ["register_web"]
