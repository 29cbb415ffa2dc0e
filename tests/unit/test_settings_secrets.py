"""Secret settings: typed as secrets, never shown, validated without echoing them."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from funnelwatch.settings import Settings, tokens_of

TOKEN = "t" * 24


def test_every_credential_setting_is_a_secret_type() -> None:
    for name in (
        "read_token",
        "ingest_token",
        "alert_webhook_url",
        "alert_slack_webhook_url",
        "clickhouse_password",
        "grafana_token",
    ):
        annotation = str(Settings.model_fields[name].annotation)
        assert "SecretStr" in annotation, name


def test_tokens_are_comma_separated_and_empty_is_unset() -> None:
    s = Settings(read_token=f" {TOKEN} , {'u' * 20}", ingest_token="")
    assert tokens_of(s.read_token) == (TOKEN, "u" * 20)
    assert s.ingest_token is None


def test_a_short_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(read_token="short-s3cret")
    assert "at least 16 characters" in str(err.value)
    assert "short-s3cret" not in str(err.value)


@pytest.mark.parametrize(
    "values",
    [
        {"read_token": TOKEN, "ingest_token": TOKEN},
        {"read_token": TOKEN, "site_keys": {TOKEN: {"origins": ["https://a.example"]}}},
        {"ingest_token": f"{'x' * 20},{TOKEN}", "site_keys": {TOKEN: {"origins": ["https://a"]}}},
    ],
)
def test_one_value_cannot_have_two_roles(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(**values)  # type: ignore[arg-type]
    assert "one role only" in str(err.value)
    assert TOKEN not in str(err.value)


def test_clickhouse_password_setting_replaces_the_urls_and_is_never_in_the_redacted_url() -> None:
    s = Settings(
        clickhouse_url="clickhouse://fw:in-url@db.example:9000/funnelwatch",
        clickhouse_password=SecretStr("p@ss/w:rd"),
    )
    assert (
        s.effective_clickhouse_url == "clickhouse://fw:p%40ss%2Fw%3Ard@db.example:9000/funnelwatch"
    )
    assert s.clickhouse_url_redacted == "clickhouse://fw:***@db.example:9000/funnelwatch"
    plain = Settings(clickhouse_url="clickhouse://fw@db.example/funnelwatch")
    assert plain.effective_clickhouse_url == "clickhouse://fw@db.example/funnelwatch"
    assert "p@ss" not in repr(s) and "in-url" not in s.clickhouse_url_redacted


def test_webhook_urls_are_off_when_empty() -> None:
    s = Settings(alert_webhook_url="", alert_slack_webhook_url=None)
    assert not (s.alert_webhook_url and s.alert_webhook_url.get_secret_value())
    assert s.alert_slack_webhook_url is None
