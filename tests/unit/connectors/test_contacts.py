"""Normalisation and salted hashing of contact e-mails and phones (pure logic)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from funnelwatch.connectors.contacts import (
    ContactHashing,
    contact_hashes,
    normalize_email,
    normalize_phone,
)
from funnelwatch.schemas.contracts import validate_mapping
from funnelwatch.settings import Settings

SALT = SecretStr("pepper-for-tests")


@pytest.mark.parametrize(
    "raw",
    ["jane.doe@example.com", "  Jane.Doe@Example.COM ", "JANE.DOE@EXAMPLE.COM\n",
     "mailto:jane.doe@example.com"],
)  # fmt: skip
def test_spellings_of_one_address_normalise_alike(raw: str) -> None:
    assert normalize_email(raw) == "jane.doe@example.com"


def test_gmail_dots_and_plus_tags_are_kept_as_distinct_addresses() -> None:
    assert normalize_email("jane.doe@gmail.com") != normalize_email("janedoe@gmail.com")
    assert normalize_email("jane+ads@gmail.com") == "jane+ads@gmail.com"


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "jane", "@example.com", "jane@", "jane@localhost", "jane@@example.com",
     "ja ne@example.com", "jane@example..com", "a@b@example.com", "x" * 250 + "@example.com"],
)  # fmt: skip
def test_strings_that_are_no_address_normalise_to_none(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "region"),
    [("+49 30 1234567", None), ("+49 (0)30 123-4567", None), ("0049 30 1234567", "DE"),
     ("030 1234567", "DE"), ("030/1234567", "de"), ("+4930 1234567", "US")],
)  # fmt: skip
def test_spellings_of_one_number_normalise_to_one_e164(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, region) == "+49301234567"


@pytest.mark.parametrize(
    ("raw", "region"),
    [("030 1234567", None), ("", "DE"), ("call me", "DE"), ("12", "DE"), ("+", None),
     ("+49 30 1234567 1234567 123456", None), ("+999 1234567", None)],
)  # fmt: skip
def test_numbers_that_cannot_be_phones_normalise_to_none(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, region) is None


def test_the_hash_is_the_documented_hmac_of_the_normalised_value() -> None:
    email, phone = contact_hashes(SALT, " Jane.Doe@Example.com", "+1 (650) 253-0000")
    key = b"pepper-for-tests"
    assert email == "e:" + hmac.new(key, b"jane.doe@example.com", hashlib.sha256).hexdigest()
    assert phone == "p:" + hmac.new(key, b"+16502530000", hashlib.sha256).hexdigest()


def test_different_spellings_give_one_hash_and_the_salt_matters() -> None:
    one = contact_hashes(SALT, "JANE@example.com", "+49 30 1234567")
    assert one == contact_hashes(b"pepper-for-tests", " jane@EXAMPLE.com", "0049301234567",
                                 default_country="DE")  # fmt: skip
    other = contact_hashes(SecretStr("another salt"), "jane@example.com", "+49 30 1234567")
    assert not set(one) & set(other)


def test_an_address_and_a_number_never_share_a_hash() -> None:
    # the kind prefix keeps an e-mail hash from matching a phone hash of the same text
    (email,) = contact_hashes(SALT, email="+4930123456@example.com")
    (phone,) = contact_hashes(SALT, phone="+4930123456")
    assert email.startswith("e:") and phone.startswith("p:")


def test_unusable_input_gives_no_hash() -> None:
    assert contact_hashes(SALT) == ()
    assert contact_hashes(SALT, "not an address", "no number") == ()
    assert contact_hashes(SALT, "", "") == ()
    (only_phone,) = contact_hashes(SALT, "garbage", "+49 30 1234567")
    assert only_phone.startswith("p:")


def test_an_empty_salt_is_refused_without_hashing() -> None:
    with pytest.raises(ValueError, match="FUNNELWATCH_CONTACT_HASH_SALT"):
        contact_hashes(SecretStr(""), "jane@example.com")


def test_the_hashes_are_valid_contact_hashes_of_a_form() -> None:
    form = {
        "event_type": "form_submission", "event_id": "f1", "schema_version": 1,
        "event_time": "2026-12-03T12:00:00Z", "lead_id": "L1", "form_id": "demo",
        "form_type": "demo",
        "contact_hashes": list(contact_hashes(SALT, "jane@example.com", "+4930123456")),
    }  # fmt: skip
    event = validate_mapping(json.loads(json.dumps(form)))
    assert event.contact_hashes == form["contact_hashes"]  # type: ignore[attr-defined]


def test_hashing_is_off_without_a_salt_and_its_repr_shows_none() -> None:
    assert ContactHashing.from_settings(Settings()) is None
    assert ContactHashing.from_settings(Settings(contact_hash_salt=SecretStr(""))) is None
    hashing = ContactHashing.from_settings(
        Settings(contact_hash_salt=SecretStr("s3cr3t-salt"), phone_default_region="DE")
    )
    assert hashing is not None
    expected = contact_hashes(b"s3cr3t-salt", phone="+4930 1234567")
    assert hashing.hashes(phone="030 1234567") == expected
    assert "s3cr3t-salt" not in repr(hashing)
