"""The worker's web surface beyond /metrics: KPI API, ingest, live board, OpenAPI
(``api.register_web`` attaches them to the Faust app)."""
