"""CRM webhooks (HubSpot, Pipedrive, amoCRM/Kommo, Bitrix24) -> crm_event contracts.

One module per provider verifies the provider's own proof of origin and parses its
documented webhook format into provider-independent :class:`~.model.CrmRecord` values;
:mod:`.mapping` maps their pipeline/stage ids to funnel statuses (YAML), :mod:`.events`
builds the crm_events, :mod:`.store` keeps the records no mapping names. The web view
(``funnelwatch.processors.web.crm``) wires them to ``POST /ingest/crm/<provider>``.
"""
