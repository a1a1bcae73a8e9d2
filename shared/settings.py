"""Process configuration: one validated object, built at the entrypoint and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADRELAY_", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    data_dir: Path = Path("./leadrelay-data")
    database_url: str | None = None
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_partitions: int = 6
    # Lets several pipelines (tests, staging beside production) share one Kafka cluster.
    topic_prefix: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    metrics_port: int | None = None  # distributed mode: /metrics for the non-HTTP services
    # Salt for the identity-key HMAC: keys travel in Kafka keys and logs, so they must not be
    # reversible to an email by a dictionary attack without it.
    identity_salt: str = Field(default="leadrelay-demo-salt", repr=False)
    # Signs the one-click action links in chat messages (shared/action_links.py): whoever has it
    # can act as any rep. The notifier signs, the API verifies, so every service needs the same
    # one. Embedded mode without it generates one on first start, kept in the data dir.
    link_secret: str | None = Field(default=None, repr=False, min_length=16)
    # The Slack app's signing secret (Basic Information → App Credentials): Slack signs every
    # button click with it. Without it Slack messages carry signed links instead of callbacks.
    slack_signing_secret: str | None = Field(default=None, repr=False)
    # The HubSpot app's client secret: it signs the webhooks HubSpot sends (POST /v1/crm/hubspot/webhook).
    hubspot_client_secret: str | None = Field(default=None, repr=False)
    # Salesforce Outbound Messages are not signed: their endpoint URL carries this secret
    # (POST /v1/crm/salesforce/outbound/<token>), and OrganizationId must be this org when set.
    salesforce_outbound_token: str | None = Field(default=None, repr=False, min_length=16)
    salesforce_org_id: str | None = Field(default=None, pattern=r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
    # Request bodies are refused with 413 while they stream in, before a route reads them whole
    # (shared/web/body_limit.py): every route has the default; the routes whose senders need more
    # name a larger one. A bound on every body bounds the memory a burst of oversized posts takes.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Meta batches many leadgen changes into one delivery, and Google's answers are free text.
    max_webhook_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # A policy document (PUT /v1/policy) grows with its reps, territories and rules.
    max_policy_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # The console's simulate page takes a leads file (CSV or JSONL) with the proposed policy.
    max_console_upload_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # The web console's sign-in sessions (shared/shell/console/session.py): one ends after this
    # long unused, and after the second however much it is used (sign in again with the token).
    console_session_idle_s: int = Field(default=8 * 3600, gt=0)
    console_session_max_s: int = Field(default=7 * 24 * 3600, gt=0)
    consumer_max_retries: int = 3
    notify_max_attempts: int = 8
    notify_timeout_s: float = 10.0
    # Webhook subscriptions and CRM connectors: a delivery is dead-lettered after this many
    # attempts (backoff doubles from 2 s up to an hour: 16 attempts span about five hours).
    webhook_max_attempts: int = Field(default=16, ge=1)
    webhook_timeout_s: float = Field(default=15.0, gt=0)  # the Standard Webhooks spec: 15-30 s
    chaos_kill_before_offset_commit: int = 0  # tests only: see ConsumerRunner
    # Shifts the product's clock by this many seconds (shared/clock.py offset_clock): for chaos
    # runs (bench/chaos.py jumps the clock an hour by restarting every service with it), never in production.
    clock_offset_s: float = 0.0
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _refuse_demo_salt_in_distributed_mode(self) -> Settings:
        if self.mode == "distributed" and self.identity_salt == "leadrelay-demo-salt":
            raise ValueError("LEADRELAY_IDENTITY_SALT must be set to a secret in distributed mode")
        if self.mode == "distributed" and not self.link_secret:
            raise ValueError("LEADRELAY_LINK_SECRET must be set to a secret in distributed mode "
                             "(the same for every service; it signs the chat messages' action links)")
        return self

    @property
    def embedded_database(self) -> Path:
        """The embedded mode's SQLite file (store and event log)."""
        return self.data_dir / "leadrelay.db"

    @property
    def sqlalchemy_url(self) -> str:
        # Embedded mode is SQLite by definition: its event log relies on SQLite's single writer.
        if self.mode == "embedded":
            return f"sqlite+aiosqlite:///{self.embedded_database.resolve()}"
        if not self.database_url:
            raise ValueError("LEADRELAY_DATABASE_URL is required in distributed mode")
        return self.database_url

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
