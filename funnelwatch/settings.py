"""The one typed settings object of funnelwatch.

Every setting is a field below: its environment variable is ``FUNNELWATCH_`` plus
the field name in upper case, its default is the field default, and its
description is the documentation (``funnelwatch settings`` prints them all).
Settings are read once, by :func:`load_settings`; nothing else reads the
environment. Every secret (tokens, webhook URLs, salts, the ClickHouse password) is
a :class:`~pydantic.SecretStr`: printing a setting shows ``**********``, and code takes
the value out (``get_secret_value()``) only where it uses it. The ClickHouse URL may
still carry a password of its own: it is never logged, messages use
:meth:`Settings.clickhouse_url_redacted`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "funnelwatch"
#: shortest accepted read or ingest token: a guessable token is no credential
MIN_TOKEN_LENGTH = 16


class BidTarget(BaseModel):
    """A campaign's bid target: the cost per result the bid multiplier steers towards."""

    model_config = {"frozen": True, "extra": "forbid"}

    metric: str = Field(
        "cpl", pattern="^(cpl|cost_per_qualified)$", description="cpl or cost_per_qualified"
    )
    target_micros: int = Field(gt=0, description="target cost per result, in micros")


class SiteKey(BaseModel):
    """A publishable key of the landing-page snippet (/t.js): it is visible in every page
    that embeds it, so it only lets browsers on its own origins post landings and forms."""

    model_config = {"frozen": True, "extra": "forbid"}

    origins: tuple[str, ...] = Field(
        min_length=1,
        description='origins allowed to use the key, e.g. ["https://landing.example.com"]',
    )


class Settings(BaseSettings):
    """Runtime configuration; frozen once built."""

    # hide_input_in_errors: a refused value may be a secret; the message says what is wrong
    model_config = SettingsConfigDict(
        env_prefix="FUNNELWATCH_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(
        "localhost:9092", description="Kafka bootstrap servers, comma separated (host:port)."
    )
    clickhouse_url: str = Field(
        "",
        description=(
            "ClickHouse to write to: clickhouse://user:pass@host:9000/db (native protocol) "
            "or chdb:///path/to/dir (embedded chDB). Empty: chdb://<data_dir>/chdb. "
            "Prefer FUNNELWATCH_CLICKHOUSE_PASSWORD to a password inside the URL."
        ),
    )
    clickhouse_password: SecretStr | None = Field(
        None,
        description="Password of the ClickHouse user (secret; replaces a password in "
        "FUNNELWATCH_CLICKHOUSE_URL). Unset: the URL's password, if any.",
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="The worker's lead store, embedded ClickHouse and local Kafka live here.",
    )
    topic_prefix: str = Field("funnelwatch", description="Prefix of every Kafka topic name.")
    partitions: int = Field(
        4,
        ge=1,
        description="Partitions of every topic the catalogue creates (the rollup topic has "
        "one); at most this many workers share the work.",
    )
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics.")
    app_id: str = Field(
        "funnelwatch",
        description="Application id: the workers' consumer group (and <app_id>-rollup).",
    )
    funnel_file: Path | None = Field(
        None, description="YAML funnel definition; empty: the built-in click→…→won funnel."
    )
    segments_file: Path | None = Field(
        None,
        description="YAML segment dimensions (each names the click or form attribute it "
        "comes from, and its top N); empty: the built-in channel, ad group, device, geo, "
        "form type and landing page.",
    )
    click_horizon_days: float = Field(
        30,
        gt=0,
        description="Clicks are kept as join state this long (event time): a form naming an "
        "older click, or a click arriving this long after its form, is attributed by utm.",
    )
    lead_horizon_days: float = Field(
        180,
        gt=0,
        description="A lead's events are kept as join state this long (event time): a CRM "
        "event of a lead whose form is older counts as unattributed.",
    )
    max_future_skew_seconds: int = Field(
        300, ge=0, description="Events timed further than this in the future are dead-lettered."
    )
    max_cost_micros: int = Field(
        10_000_000_000,
        ge=0,
        description="Largest plausible cost of one click (micros); above it: dead-letter.",
    )
    batch_max_records: int = Field(
        50_000,
        ge=1,
        description="Most source records the hot path reads into one batch (one ClickHouse "
        "write and one offset commit).",
    )
    batch_max_seconds: float = Field(
        0.5,
        gt=0,
        description="Longest a batch waits for records: bounds the latency from an event "
        "to its KPI at low traffic.",
    )
    click_cache_size: int = Field(
        200_000,
        ge=0,
        description="Recent clicks each worker keeps in memory for the forms that follow "
        "them (older ones are looked up in ClickHouse).",
    )
    lead_cache_size: int = Field(
        50_000,
        ge=0,
        description="Lead states each worker keeps decoded in memory (all of its leads are "
        "in its local lead store).",
    )
    consumer_session_timeout_seconds: float = Field(
        10.0,
        ge=6,
        description="A worker that stops answering loses its partitions after this long.",
    )
    consumer_max_poll_interval_seconds: float = Field(
        300.0,
        gt=0,
        description="A worker whose consumer does not poll for this long leaves its group "
        "(it keeps polling, with its partitions paused, while ClickHouse or Kafka is away).",
    )
    retry_max_seconds: float = Field(
        5.0,
        gt=0,
        description="Longest wait between two attempts to reach ClickHouse or Kafka again: "
        "the worker resumes at most this long after the service is back.",
    )
    rolling_windows_minutes: tuple[int, ...] = Field(
        (15, 60, 1440),
        description="Windows of the rolling stage conversions, in minutes (JSON list).",
    )
    rolling_interval_seconds: float = Field(
        2.0,
        ge=0,
        description="Rolling conversions are recomputed at most this often (and when idle).",
    )
    web_port: int = Field(
        6066, ge=1, le=65535, description="Port of the worker's web server (/metrics)."
    )
    web_bind: str = Field(
        "127.0.0.1", description="Address the web server listens on (0.0.0.0 in containers)."
    )
    web_pages_access: Literal["loopback", "token", "open"] = Field(
        "loopback",
        description="Who may read /metrics and the board page (/): loopback (clients on "
        "127.0.0.1/::1 without a token, others with a read token; a request that came "
        "through a proxy counts as remote), token (a read token always), open (anyone).",
    )
    read_token: SecretStr | None = Field(
        None,
        description="Bearer token(s) of the KPI API (/api/*) and the board (secret; several "
        "separated by commas while rotating). Unset: /api answers 401 to everyone.",
    )
    grafana_url: str = Field(
        "http://localhost:3000", description="Grafana that `funnelwatch grafana push` writes to."
    )
    grafana_token: SecretStr = Field(
        SecretStr(""),
        description="Grafana service account token for `funnelwatch grafana push` (secret; "
        "never printed or logged).",
    )
    alert_drop_delta: float = Field(
        0.3,
        gt=0,
        lt=1,
        description=(
            "Relative conversion drop the CUSUM is tuned to detect fastest "
            "(0.3: from p0 to 0.7 p0); smaller drops are caught too, later."
        ),
    )
    alert_drop_threshold: float = Field(
        5.5,
        gt=0,
        description="Evidence (nats) at which the conversion-drop CUSUM fires; higher: "
        "fewer false alarms, later alerts.",
    )
    alert_resolve_threshold: float = Field(
        5.0,
        gt=0,
        description="Evidence (nats) that the baseline rate is back before a drop alert "
        "resolves (a stall resolves when leads come back); lower: faster but flapping.",
    )
    alert_stall_alpha: float = Field(
        4e-4,
        gt=0,
        lt=1,
        description="Stall fires when n clicks without a lead have probability (1-p0)^n "
        "below this.",
    )
    alert_false_alarm_budget_days: float = Field(
        120.0,
        ge=0,
        description="At most one expected false alarm per campaign and monitor in this many "
        "days: busy campaigns get stricter thresholds than the per-click ones (0: off).",
    )
    alert_segment_penalty: float = Field(
        20.0,
        ge=1,
        description="Segment monitors (channel, ad group, device, geo) need this many times "
        "stronger evidence than the campaign as a whole (they are many chances to err).",
    )
    alert_min_clicks: int = Field(
        60, ge=1, description="No alert on fewer trials (clicks) than this since the onset."
    )
    alert_min_baseline_trials: int = Field(
        1000, ge=1, description="A monitor judges only once its baseline holds this many trials."
    )
    alert_min_baseline_successes: float = Field(
        100.0, ge=1, description="... and this many successes (leads)."
    )
    alert_baseline_half_life_hours: float = Field(
        72.0, gt=0, description="Half-life of the exponentially weighted baseline rate."
    )
    alert_baseline_delay_minutes: int = Field(
        60,
        ge=0,
        description="Minutes enter the baseline only this long after they were judged.",
    )
    alert_cost_window_minutes: int = Field(
        60, ge=1, description="Window of the CPC/CPL anomaly detector."
    )
    alert_cost_z: float = Field(
        6.0, gt=0, description="Robust z (vs same-hour history) at which a cost anomaly fires."
    )
    alert_cost_min_rise: float = Field(
        0.25, ge=0, description="... and the least relative rise of CPC/CPL (0.25: +25%)."
    )
    alert_cost_min_clicks: int = Field(
        100, ge=1, description="Cost windows with fewer clicks are not judged (CPC)."
    )
    alert_cost_min_leads: int = Field(
        20, ge=1, description="Cost windows with fewer leads are not judged (CPL)."
    )
    alert_cost_history_days: int = Field(
        14, ge=1, description="Days of same-hour history the cost detector compares with."
    )
    alert_stage_maturity_hours: dict[str, float] = Field(
        {"contacted": 12.0, "qualified": 72.0, "won": 720.0},
        description=(
            "Deeper stages are judged on cohorts at least this old (hours after entering "
            "the previous stage; JSON object): normal lag never looks like a drop."
        ),
    )
    alert_interval_seconds: float = Field(
        5.0, gt=0, description="How often the detector service reads newly closed minutes."
    )
    alert_grace_minutes: int = Field(
        2,
        ge=0,
        description="A minute is closed, and judged, when the newest event is this many "
        "minutes later (late events after that are not judged again).",
    )
    alert_stage_idle_seconds: float = Field(
        120.0,
        gt=0,
        description="A stage (clicks, leads) whose newest minute stops advancing this long "
        "while the other's moves on no longer holds the detectors back (a total outage).",
    )
    alert_settle_seconds: float = Field(
        20.0,
        ge=0,
        description="... and when the sink has not rewritten it for this long (a backlog "
        "or replay fills old minutes late).",
    )
    alert_backlog_max_lag: int = Field(
        100,
        ge=0,
        description="A partition of the pipeline lagging by at most this many records "
        "(in flight between two commits) does not count as a backlog; beyond it, minutes "
        "are judged only once the backlog has drained.",
    )
    alert_warmup_hours: float = Field(
        72.0,
        ge=0,
        description="History replayed into the detectors on start (without alerting).",
    )
    alert_webhook_url: SecretStr | None = Field(
        None,
        description="Generic JSON webhook receiving every alert state (secret); empty: none.",
    )
    alert_slack_webhook_url: SecretStr | None = Field(
        None,
        description="Slack-compatible incoming webhook, text messages (secret: the URL is "
        "the credential); empty: none.",
    )
    alert_webhook_max_attempts: int = Field(
        8, ge=1, description="Delivery attempts per webhook message (exponential backoff)."
    )

    ingest_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token(s) of the server-side HTTP ingest, POST /ingest/... (secret; "
            "several separated by commas while rotating). Unset: ingest is disabled (503)."
        ),
    )
    ingest_max_body_bytes: int = Field(
        1_000_000, ge=1, description="Largest accepted ingest request body, in bytes (else 413)."
    )
    ingest_dedup_size: int = Field(
        100_000,
        ge=0,
        description=(
            "Event ids the ingest remembers as acknowledged, to not produce a retried event "
            "again (LRU; the pipeline's own dedup by event_id is the real guarantee)."
        ),
    )
    ingest_max_events: int = Field(
        1000, ge=1, description="Most events one ingest request may carry (else 413, nothing kept)."
    )
    ingest_ack_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="An ingest request whose events Kafka has not acknowledged this long "
        "answers 503 (retry) instead of waiting.",
    )
    site_keys: dict[str, SiteKey] = Field(
        {},
        description="Publishable keys of the landing-page snippet and their origins (JSON), "
        'e.g. {"pk_shop": {"origins": ["https://shop.example"]}}. Empty: /collect is off.',
    )
    snippet_cookie_days: int = Field(
        90,
        ge=1,
        le=400,  # browsers cap a cookie's lifetime at 400 days
        description="Days the landing-page snippet (/t.js) keeps a landing's click id and "
        "utm tags in its first-party cookie (the last tagged landing wins).",
    )
    rate_limit_per_second: float = Field(
        20.0,
        gt=0,
        description="Requests per second each token or site key may make to the ingest "
        "endpoints (beyond the burst: 429).",
    )
    rate_limit_per_client_per_second: float = Field(
        5.0,
        gt=0,
        description="Requests per second each client address may make to the ingest "
        "endpoints (beyond the burst: 429).",
    )
    rate_limit_burst: int = Field(
        40, ge=1, description="Requests a key or client address may make at once."
    )
    contact_hash_salt: SecretStr | None = Field(
        None,
        description="Secret key of the contact hashes (HMAC-SHA256) that link CRM records to "
        "leads by e-mail or phone; changing it unlinks every stored contact. Unset: forms "
        "carrying email/phone are refused (400) and linking by contact is off.",
    )
    currency: str = Field(
        "USD",
        pattern="^[A-Z]{3}$",
        description="Currency (ISO 4217) of the clicks' own cost_micros and of deal values; "
        "a campaign whose spend reports name another currency shows its spend in that one, "
        "and no figure mixes the two (ROMI is left out).",
    )
    phone_default_region: str | None = Field(
        None,
        pattern="^[A-Za-z]{2}$",
        description="Country (ISO 3166 alpha-2, e.g. DE) of phone numbers written without "
        "a +country code; unset: such numbers are not hashed.",
    )
    crm_mapping_file: Path | None = Field(
        None,
        description="YAML mapping of CRM pipelines/stages to funnel statuses and of the CRM "
        "fields carrying the lead id and contact (see crm.example.yaml); unset: every "
        "POST /ingest/crm/<provider> answers 503.",
    )
    crm_public_url: str = Field(
        "",
        description="Base URL the CRMs call (e.g. https://funnel.example.com), which "
        "HubSpot's signature covers; empty: the scheme and Host header of each request.",
    )
    crm_hubspot_client_secret: SecretStr | None = Field(
        None,
        description="Client secret of the HubSpot app that signs webhooks (v3 signature; "
        "secret); unset: /ingest/crm/hubspot answers 503.",
    )
    crm_pipedrive_user: SecretStr | None = Field(
        None, description="HTTP basic-auth user of the Pipedrive webhook (secret)."
    )
    crm_pipedrive_password: SecretStr | None = Field(
        None,
        description="HTTP basic-auth password of the Pipedrive webhook (secret); unset: "
        "/ingest/crm/pipedrive answers 503.",
    )
    crm_amocrm_token: SecretStr | None = Field(
        None,
        description="Secret token in the amoCRM/Kommo webhook URL (?token=…; they sign "
        "nothing; secret); unset: /ingest/crm/amocrm and /kommo answer 503.",
    )
    crm_bitrix24_application_token: SecretStr | None = Field(
        None,
        description="application_token Bitrix24 issued to the funnelwatch application "
        "(auth[application_token] of its requests; secret); unset: /ingest/crm/bitrix24 "
        "answers 503.",
    )
    bid_targets: dict[str, BidTarget] = Field(
        {},
        description=(
            'Bid targets per campaign id (JSON), e.g. {"cmp-a": {"metric": "cpl", '
            '"target_micros": 20000000}}; metric cpl or cost_per_qualified; key "*" is '
            "the default for every other campaign. Empty: no recommendations."
        ),
    )
    bid_interval_seconds: float = Field(
        30.0, gt=0, description="How often the worker recomputes and publishes bid multipliers."
    )
    bid_window_minutes: int = Field(
        60, ge=1, description="Window of spend and results a bid recommendation judges."
    )
    bid_step: float = Field(
        0.1, gt=0, le=0.5, description="Largest change of the bid multiplier in one step."
    )
    bid_min_multiplier: float = Field(0.5, gt=0, description="Lowest recommended multiplier.")
    bid_max_multiplier: float = Field(1.5, gt=0, description="Highest recommended multiplier.")
    bid_hysteresis: float = Field(
        0.1,
        ge=0,
        lt=1,
        description=(
            "Dead band around the target (fraction): inside target*(1±band) the multiplier holds."
        ),
    )
    bid_min_change_seconds: float = Field(
        300.0, ge=0, description="Least time between two changes of a campaign's multiplier."
    )
    bid_min_clicks: int = Field(
        50, ge=0, description="Fewer clicks than this in the window: too little volume, hold."
    )

    max_event_age_days: float = Field(
        30,
        gt=0,
        description=(
            "Events timed further than this in the past are dead-lettered (and refused by "
            "the ingest)."
        ),
    )
    cohort_maturity_hours: dict[str, float] = Field(
        {"contacted": 24.0, "qualified": 168.0, "won": 720.0, "lost": 720.0},
        description=(
            "A cohort's lead is old enough (mature) for a stage this many hours after its "
            "lead time (JSON object per stage and outcome; a stage not named takes the "
            "longest named): the cohorts API's maturity share."
        ),
    )

    uncontacted_after_minutes: int = Field(
        15,
        ge=1,
        le=7 * 1440,
        description=(
            "Speed to lead: a lead not contacted this many minutes after its lead time "
            "counts as uncontacted (the cohorts API's share; a request's within= overrides "
            "it), unless its form type has its own."
        ),
    )
    uncontacted_after_minutes_by_form_type: dict[str, int] = Field(
        {"contact": 60, "whitepaper": 1440},
        description=(
            "Speed to lead per form type (JSON object form_type -> minutes, e.g. a "
            "callback form 15, a download 1440); read from the lead-level segment "
            "dimension of the form's form_type."
        ),
    )

    @field_validator("uncontacted_after_minutes_by_form_type")
    @classmethod
    def _deadlines_are_minutes(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(k for k, v in value.items() if not 1 <= v <= 7 * 1440)
        if bad:
            raise ValueError(f"minutes must be between 1 and 10080: {', '.join(bad)}")
        return value

    @field_validator("cohort_maturity_hours")
    @classmethod
    def _maturities_are_durations(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if not 0 <= v < float("inf"))
        if bad:
            raise ValueError(f"maturities must be finite hours >= 0: {', '.join(bad)}")
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"clickhouse", "chdb"}:
            raise ValueError("clickhouse_url must start with clickhouse:// or chdb://")
        return value

    @field_validator("read_token", "ingest_token")
    @classmethod
    def _strong_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        tokens = tokens_of(value)
        if not tokens:
            return None  # empty is unset
        if any(len(t) < MIN_TOKEN_LENGTH for t in tokens):
            # the message must not echo the value: say only what is wrong with it
            raise ValueError(
                f"every token must have at least {MIN_TOKEN_LENGTH} characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @model_validator(mode="after")
    def _one_role_per_credential(self) -> Settings:
        read = set(tokens_of(self.read_token))
        ingest = set(tokens_of(self.ingest_token))
        if read & ingest or read & set(self.site_keys) or ingest & set(self.site_keys):
            raise ValueError(
                "a credential may have one role only: the read tokens, the ingest tokens and "
                "the site keys must all differ"
            )
        return self

    @property
    def effective_clickhouse_url(self) -> str:
        """The URL clients connect with: FUNNELWATCH_CLICKHOUSE_PASSWORD, when set, in
        place of the URL's own password. Never log it (see clickhouse_url_redacted)."""
        url = self.clickhouse_url or f"chdb://{self.data_dir / 'chdb'}"
        parts = urlsplit(url)
        if self.clickhouse_password is None or parts.scheme != "clickhouse":
            return url
        secret = quote(self.clickhouse_password.get_secret_value(), safe="")
        user = parts.username or "default"
        host = (parts.hostname or "localhost") + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))

    @property
    def clickhouse_url_redacted(self) -> str:
        """The ClickHouse URL with its password replaced, safe for logs."""
        parts = urlsplit(self.effective_clickhouse_url)
        if parts.password is None:
            return self.effective_clickhouse_url
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


def tokens_of(secret: SecretStr | None) -> tuple[str, ...]:
    """The tokens of a comma-separated token setting (none when it is unset or empty)."""
    if secret is None:
        return ()
    return tuple(t.strip() for t in secret.get_secret_value().split(",") if t.strip())


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return load_settings()
