"""Process settings, read once from the environment at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PositiveSeconds = Annotated[int, Field(gt=0)]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    """Every knob of the hub. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str = Field(default="", repr=False)
    # The database role the application acts as: never a superuser or a table owner,
    # so PostgreSQL row-level security applies to every query the app makes.
    app_db_role: str = Field(default="dreamseed_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    redis_namespace: str = Field(default="ds", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    data_dir: Path = Path(".dreamseed")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    access_token_ttl_s: PositiveSeconds = 900
    refresh_token_ttl_s: PositiveSeconds = 30 * 24 * 3600
    link_request_ttl_s: PositiveSeconds = 7 * 24 * 3600
    rate_limit_per_minute: Annotated[int, Field(gt=0)] = 100
    max_body_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    db_pool_min: Annotated[int, Field(ge=1)] = 2
    db_pool_max: Annotated[int, Field(ge=1)] = 10
    message_rate_per_s: Annotated[int, Field(gt=0)] = 10
    presence_ttl_s: Annotated[float, Field(gt=0)] = 20
    typing_ttl_s: Annotated[float, Field(gt=0)] = 5
    bus_heartbeat_s: Annotated[float, Field(gt=0)] = 2
    bus_deaf_after_s: Annotated[float, Field(gt=0)] = 10
    notify_burst_s: Annotated[float, Field(gt=0)] = 5
    # The outbox sweep (hub/notify/outbox.py) re-queues a conversation's push job once its
    # last message is this old and still untold: past the burst window and the job's run.
    notify_sweep_after_s: Annotated[float, Field(gt=0)] = 10
    fcm_service_account: Path | None = None
    fcm_endpoint: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    email_from: str = "DreamSeed <no-reply@dreamseed.kr>"
    public_url: str = "http://127.0.0.1:8000"
    # arq re-runs a job whose worker died once this (plus 10 s) has passed.
    job_timeout_s: Annotated[int, Field(gt=0)] = 300
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    log_level: str = Field(default="info", pattern=r"^(debug|info|warning|error)$")
    # Attachments (hub/files/): size and daily quota per user, storage, scanning, voice.
    file_max_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    file_daily_quota_bytes: Annotated[int, Field(gt=0)] = 200 * 1024 * 1024
    file_storage: str = Field(default="local", pattern=r"^(local|s3)$")
    file_url_ttl_s: PositiveSeconds = 300
    s3_endpoint_url: str | None = None
    s3_bucket: str = "dreamseed-files"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = Field(default=None, repr=False)
    clamd_url: str | None = Field(default=None, pattern=r"^(tcp://[^/]+:\d+|unix:///.+)$")
    clamd_timeout_s: Annotated[float, Field(gt=0)] = 30
    image_max_pixels: Annotated[int, Field(gt=0)] = 40_000_000
    voice_max_s: Annotated[int, Field(gt=0)] = 300
    whisper_model: str = "small"
    whisper_device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda)$")
    whisper_threads: Annotated[int, Field(ge=0)] = 0
    # AI tutor (hub/tutor/): OpenAI-compatible model servers, one base URL per tier; TUTOR_URL
    # serves every tier not named on its own. None at all: the tutor says it is not configured.
    tutor_url: str | None = None
    tutor_url_small: str | None = None
    tutor_url_large: str | None = None
    tutor_url_premium: str | None = None
    tutor_model_small: str = "Qwen/Qwen2.5-7B-Instruct"
    tutor_model_large: str = "Qwen/Qwen2.5-32B-Instruct"
    tutor_model_premium: str = "meta-llama/Llama-3.3-70B-Instruct"
    tutor_api_key: str | None = Field(default=None, repr=False)
    tutor_large_from_tokens: Annotated[int, Field(gt=0)] = 100
    tutor_premium_from_tokens: Annotated[int, Field(gt=0)] = 500
    tutor_server_concurrency: Annotated[int, Field(gt=0)] = 64
    tutor_connect_timeout_s: Annotated[float, Field(gt=0)] = 3
    tutor_first_token_timeout_s: Annotated[float, Field(gt=0)] = 30
    tutor_token_gap_timeout_s: Annotated[float, Field(gt=0)] = 15
    tutor_questions_per_minute: Annotated[int, Field(gt=0)] = 10
    tutor_max_in_flight: Annotated[int, Field(gt=0)] = 10
    tutor_max_tokens: Annotated[int, Field(gt=0)] = 1024
    tutor_context_tokens: Annotated[int, Field(gt=0)] = 1500
    tutor_frame_ms: Annotated[int, Field(gt=0)] = 40
    tutor_frame_chars: Annotated[int, Field(gt=0)] = 96
    tutor_holdback_chars: Annotated[int, Field(ge=0)] = 48
    tutor_stream_ttl_s: Annotated[int, Field(gt=0)] = 3600
    tutor_lease_s: Annotated[float, Field(gt=0)] = 10
    tutor_worker_jobs: Annotated[int, Field(gt=0)] = 1000
    # Browser origins allowed to open Socket.IO connections, comma-separated: empty means the
    # hub's own origin only (the web client it serves); "*" allows any.
    socketio_allowed_origins: str = ""
    # Hardening (issue 13): link requests per caller, the refresh-rotation grace in which a
    # second concurrent refresh gets the same new pair, per-account login backoff, and the
    # budget of chatty socket events (typing, presence, sync) per connection.
    link_requests_per_hour: Annotated[int, Field(gt=0)] = 10
    refresh_reuse_interval_s: Annotated[float, Field(ge=0)] = 5
    login_free_failures: Annotated[int, Field(ge=1)] = 5
    login_backoff_max_s: Annotated[float, Field(gt=0)] = 300
    login_failures_per_account: Annotated[int, Field(gt=0)] = 50
    login_failures_per_ip: Annotated[int, Field(gt=0)] = 100
    chatter_events_per_s: Annotated[int, Field(gt=0)] = 10
    # Packets queued to one socket before the hub closes it as a client that does not read.
    socket_backlog_max: Annotated[int, Field(gt=0)] = 1000
    # Load shedding (issue 13 §2): work one process runs at once (socket events and REST
    # requests together), socket events of one connection at once, REST requests of one
    # client address at once; handshakes per client address (burst of one second, refused
    # before any auth or database work); proxies whose X-Forwarded-For is believed
    # (comma-separated addresses or networks; empty: none, the peer is the client).
    max_in_flight: Annotated[int, Field(gt=0)] = 512
    max_in_flight_per_connection: Annotated[int, Field(gt=0)] = 16
    max_in_flight_per_client: Annotated[int, Field(gt=0)] = 64
    connects_per_ip_per_s: Annotated[int, Field(gt=0)] = 50
    trusted_proxies: str = ""
    # Data lifecycle (hub/privacy/): retention periods (the seeds' values), batch sizes, exports.
    retention_notifications_days: Annotated[int, Field(gt=0)] = 90
    retention_proctor_detail_days: Annotated[int, Field(gt=0)] = 30
    retention_deleted_text_days: Annotated[int, Field(gt=0)] = 30
    retention_audit_days: Annotated[int, Field(gt=0)] = 365
    retention_audit_archive_days: Annotated[int, Field(gt=0)] = 3 * 365
    retention_tutor_days: Annotated[int, Field(gt=0)] = 365
    retention_batch: Annotated[int, Field(gt=0)] = 1000
    # Messages an erasure blanks per transaction, in one conversation, whose row it holds that
    # long: sends there wait for it (loadtest/erasure_bench.py).
    erasure_batch: Annotated[int, Field(gt=0)] = 200
    export_ttl_s: PositiveSeconds = 3600
    # The current version of the terms, privacy policy and data-processing consent.
    consent_version: str = Field(default="2026-01", min_length=1, max_length=40)
    # Message partitions (hub/chat/partitions.py): whole months older than this move to the
    # archive tablespace (ops create it on cheaper storage; pg_default moves nothing).
    message_archive_after_days: Annotated[int, Field(gt=0)] = 30
    message_archive_tablespace: str = Field(default="pg_default", pattern=r"^[a-z_][a-z0-9_]*$")
    message_partitions_ahead: Annotated[int, Field(ge=1, le=24)] = 3
    # Idempotency keys are kept this long (a client retrying later sends a new message).
    message_key_days: Annotated[int, Field(gt=0)] = 7
    # Issue 12 (bus): the Socket.IO wire format. "msgpack" is opt-in: every client must use a
    # msgpack parser then (socket.io-msgpack-parser in a browser); the web client speaks JSON.
    socketio_serializer: Literal["default", "msgpack"] = "default"

    @field_validator("jwt_secret")
    @classmethod
    def _secret_is_strong(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @property
    def postgres_dsn(self) -> str:
        if not self.database_url:
            raise SettingsError("Setting DATABASE_URL is missing, and has no default.")
        return self.database_url

    @property
    def redis_dsn(self) -> str:
        if not self.redis_url:
            raise SettingsError("Setting REDIS_URL is missing, and has no default.")
        return self.redis_url

    @property
    def socketio_origins(self) -> list[str] | str | None:
        """python-engineio's `cors_allowed_origins`: None checks for the same origin."""
        raw = self.socketio_allowed_origins.strip()
        if not raw:
            return None
        if raw == "*":
            return "*"
        return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]

    def require_runtime(self) -> Settings:
        """Check what a serving process cannot run without."""
        missing = [
            name
            for name, value in (
                ("DATABASE_URL", self.database_url),
                ("REDIS_URL", self.redis_url),
                ("JWT_SECRET", self.jwt_secret),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                f"Setting {', '.join(missing)} is missing, and has no default "
                "(use `dreamseed up` for an embedded database and Redis)."
            )
        return self


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one message per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"Invalid setting {problems}") from None
