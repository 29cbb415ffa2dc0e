"""The one typed settings object of funnelwatch.

Every setting is a field below: its environment variable is ``FUNNELWATCH_`` plus
the field name in upper case, its default is the field default, and its
description is the documentation (``funnelwatch settings`` prints them all).
Settings are read once, by :func:`load_settings`; nothing else reads the
environment. Secrets (the ClickHouse password) travel inside the URL, which is
never logged: use :meth:`Settings.clickhouse_url_redacted` for messages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "funnelwatch"


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

    model_config = SettingsConfigDict(env_prefix="FUNNELWATCH_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "localhost:9092", description="Kafka bootstrap servers, comma separated (host:port)."
    )
    clickhouse_url: str = Field(
        "",
        description=(
            "ClickHouse to write to: clickhouse://user:pass@host:9000/db (native protocol) "
            "or chdb:///path/to/dir (embedded chDB). Empty: chdb://<data_dir>/chdb."
        ),
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
    alert_webhook_url: str = Field(
        "", description="Generic JSON webhook receiving every alert state; empty: none."
    )
    alert_slack_webhook_url: str = Field(
        "", description="Slack-compatible incoming webhook (text messages); empty: none."
    )
    alert_webhook_max_attempts: int = Field(
        8, ge=1, description="Delivery attempts per webhook message (exponential backoff)."
    )

    ingest_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token the HTTP ingest (POST /ingest/...) requires; unset: ingest is "
            "disabled (503)."
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

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"clickhouse", "chdb"}:
            raise ValueError("clickhouse_url must start with clickhouse:// or chdb://")
        return value

    @property
    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{self.data_dir / 'chdb'}"

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


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return load_settings()
