"""Contact linking: a CRM record without a funnelwatch lead id finds its lead through the
contact's e-mail address or phone number, compared as salted hashes.

Invariants:

* A raw address or number is never stored, logged or put in an exception message: it is
  normalised and hashed here and only the hash goes on.
* One hash per contact value, whoever computes it: the value is normalised (e-mail:
  trimmed and lower-cased; phone: E.164 via ``phonenumbers``),
  then ``HMAC-SHA256(key=salt as UTF-8, msg=normalised value as UTF-8)``, written in
  lower-case hex and prefixed with its kind: ``e:`` for an e-mail, ``p:`` for a phone.
  Producers that write to Kafka themselves compute exactly this (the README says so).
* A different salt gives unrelated hashes: changing it unlinks every stored contact.
* Unusable input (no ``@``, a number that cannot be a phone number) gives no hash rather
  than a hash of garbage that might link unrelated people.

E-mail normalisation deliberately does *not* fold Gmail dots or ``+tag`` sub-addresses:
those rules belong to some mail providers only (elsewhere ``a.b`` and ``ab`` are
different mailboxes), a producer hashing by itself would have to reproduce every such
rule exactly, and a wrong fold links two people's leads — worse than a missed link,
which still has the lead id as the primary way in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import phonenumbers
from pydantic import SecretStr

from funnelwatch.clickhouse import ClickHouse

if TYPE_CHECKING:
    from funnelwatch.settings import Settings

EMAIL_PREFIX = "e:"
PHONE_PREFIX = "p:"
#: the longest hash this module makes: a kind prefix and 64 hex digits
HASH_LENGTH = len(EMAIL_PREFIX) + 64
#: RFC 5321's limit on a forward path; anything longer is not an address
_MAX_EMAIL = 254


def normalize_email(raw: str) -> str | None:
    """``raw`` trimmed and lower-cased, or None if it is not shaped like an address
    (exactly one ``@``, a local part, a domain of two or more non-empty labels, no
    whitespace). A leading ``mailto:`` is dropped.

    The whole address is lower-cased: RFC 5321 lets a local part be case-sensitive, but
    no mail provider in use treats it so, and CRMs store addresses as typed. Nothing
    else is rewritten (no IDNA conversion, no sub-address folding) so that a producer in
    any language reproduces the rule with a trim and a lower-case.
    """
    value = raw.strip()
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:") :]
    if len(value) > _MAX_EMAIL or value.count("@") != 1 or any(c.isspace() for c in value):
        return None
    local, domain = value.lower().split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(labels):
        return None
    return f"{local}@{domain}"


def normalize_phone(raw: str, default_country: str | None = None) -> str | None:
    """``raw`` in E.164 (``+4930123456``), or None if it cannot be a phone number.

    A number without a ``+`` country code is read as a national number of
    ``default_country`` (ISO 3166 alpha-2, e.g. ``"DE"``); without one it is unusable.
    A number must be valid in its country's numbering plan (the metadata of the pinned
    ``phonenumbers``), not merely of a possible length: "12" is a possible German number
    and would link everyone who typed it. A range allocated after that release gives no
    hash until the pin moves.
    """
    try:
        number = phonenumbers.parse(raw, default_country.upper() if default_country else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _key(salt: SecretStr | bytes) -> bytes:
    key = salt.get_secret_value().encode() if isinstance(salt, SecretStr) else salt
    if not key:
        raise ValueError("the contact hash salt is empty: set FUNNELWATCH_CONTACT_HASH_SALT")
    return key


def _digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def contact_hashes(
    salt: SecretStr | bytes,
    email: str | None = None,
    phone: str | None = None,
    default_country: str | None = None,
) -> tuple[str, ...]:
    """The salted hashes of a contact's usable e-mail and phone, e-mail first; an empty
    tuple when neither is usable. Raises ValueError for an empty salt."""
    key = _key(salt)
    out = []
    normal_email = normalize_email(email) if email else None
    if normal_email is not None:
        out.append(EMAIL_PREFIX + _digest(key, normal_email))
    normal_phone = normalize_phone(phone, default_country) if phone else None
    if normal_phone is not None:
        out.append(PHONE_PREFIX + _digest(key, normal_phone))
    return tuple(out)


@dataclass(frozen=True)
class ContactHashing:
    """The configured way to hash contacts: the salt and the country of national phone
    numbers (its repr shows no salt)."""

    salt: SecretStr
    default_country: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ContactHashing | None:
        """The hashing the settings configure; None when no (or an empty) salt is set."""
        salt = settings.contact_hash_salt
        if salt is None or not salt.get_secret_value():
            return None
        return cls(salt, settings.phone_default_region)

    def hashes(self, email: str | None = None, phone: str | None = None) -> tuple[str, ...]:
        """:func:`contact_hashes` of this salt and country."""
        return contact_hashes(self.salt, email, phone, self.default_country)


class ContactRow(NamedTuple):
    """One row of ``lead_contacts``: a hash a form of ``lead_id`` carried."""

    contact_hash: str
    lead_id: str
    lead_partition: int
    event_id: str  # the form's
    minute: int  # epoch seconds of the form's minute (the month partition)
    event_time_ms: int


_ROW_COLUMNS = ContactRow._fields


def record_contacts(client: ClickHouse, rows: Sequence[ContactRow]) -> None:
    """Write contact rows (idempotent: a row written again is folded by the table)."""
    if rows:
        client.insert_columns(
            "lead_contacts", {c: [r[i] for r in rows] for i, c in enumerate(_ROW_COLUMNS)}
        )


def lead_for_contacts(client: ClickHouse, hashes: Sequence[str]) -> str | None:
    """The lead id linked to any of ``hashes`` (the most recent lead by the event time of
    the form that carried it), or None when none is linked.

    Replayed forms may leave duplicate rows until ClickHouse merges them; duplicates do
    not change which lead is the most recent, so no FINAL is needed.
    """
    wanted = sorted({h for h in hashes if h})
    if not wanted:
        return None
    rows = client.execute(
        "SELECT lead_id FROM lead_contacts WHERE contact_hash IN %(hashes)s "
        "ORDER BY event_time_ms DESC, lead_id DESC LIMIT 1",
        {"hashes": tuple(wanted)},
    )
    return str(rows[0][0]) if rows else None
