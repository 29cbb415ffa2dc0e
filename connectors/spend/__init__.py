"""Ad-platform spend reports (Google Ads, Meta Ads, Microsoft Advertising, Yandex Direct
exports) -> ad_spend events.

``funnelwatch spend import FILE --format NAME`` reads a report file as the platform
exports it and produces one :class:`~funnelwatch.schemas.events.AdSpend` per campaign /
ad group / ad and hour or day to the ``ad-spend`` topic.

Modules: :mod:`.table` reads the file (encoding, delimiter, title and header lines) for
every parser, :mod:`.cells` parses the values (amounts into exact micros),
:mod:`.periods` turns the account's days and hours into UTC periods; one module per
platform (:mod:`.google_ads`, :mod:`.meta_ads`, :mod:`.microsoft_ads`,
:mod:`.yandex_direct`) maps its columns to :class:`~.model.SpendRow`; :mod:`.events`
validates every row into an event against the contract, :mod:`.importer` ties a file to
its events, :mod:`.produce` sends them.

Invariant: a file is imported whole or not at all: every row is parsed and validated
before the first record is produced, and any bad row fails the file with one
:class:`~.model.SpendFileError` naming the file, the row and the column.
"""

#: the ``--format`` names, which are also the events' ``platform`` values
FORMAT_NAMES = ("google_ads", "meta_ads", "microsoft_ads", "yandex_direct")
