"""Configuration: FACEGATE_* environment variables, or a YAML file named by FACEGATE_CONFIG_FILE.

Precedence: explicit arguments, then environment, then the file, then defaults.
Secrets are SecretStr so they never print.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_FILE_VARIABLE = "FACEGATE_CONFIG_FILE"
# A folder of files named like the variables (facegate_sasl_password, ...): Kubernetes Secrets
# mounted as files, so credentials are not in the process environment.
SECRETS_DIR_VARIABLE = "FACEGATE_SECRETS_DIR"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# R19: audit records are kept at least three years; a month on top covers late readers.
MIN_AUDIT_RETENTION_MS = 3 * 365 * DAY_MS


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"
    SSL = "SSL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="forbid", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    topic_prefix: str = Field(
        "facegate.", pattern=r"^[A-Za-z0-9._-]{0,100}$", description="Prefix of every contract topic."
    )
    tenants: list[str] = Field(
        default_factory=list,
        description="Tenants whose input and output topics are provisioned and read (besides those with a policy "
        "file); adding one takes a rolling restart.",
    )
    vendors: list[str] = Field(
        default_factory=list,
        description="Camera vendors whose capture topics (facegate.faces.raw.<vendor>) are provisioned and read; "
        "adding one takes a rolling restart.",
    )

    # Provisioning
    partitions: Annotated[int, Field(ge=1, le=1000)] = 4
    # Durability (docs/operations.md, "Production topology"). Provisioning caps replication at the
    # brokers a development cluster has; in production it refuses to create a topic below them.
    replication_factor: Annotated[int, Field(ge=1, le=10)] = Field(
        1,
        description="Replication factor of the input topics (and of Faust's own topic when the brokers cannot be "
        "counted); the durable topics get at least durable_replication_factor.",
    )
    durable_replication_factor: Annotated[int, Field(ge=1, le=10)] = Field(
        3,
        description="Replication factor of at least the audit, consent, cameras, enrolled, governed, "
        "erasure and rejected topics.",
    )
    min_insync_replicas: Annotated[int, Field(ge=1, le=10)] = Field(
        2,
        description="min.insync.replicas of every contract topic (at most its replication factor): "
        "an acks=all write is acknowledged only once this many replicas have it.",
    )
    raw_retention_ms: Annotated[int, Field(ge=60_000)] = HOUR_MS
    enroll_retention_ms: Annotated[int, Field(ge=60_000)] = HOUR_MS
    rejected_retention_ms: Annotated[int, Field(ge=60_000)] = 7 * DAY_MS
    governed_retention_ms: Annotated[int, Field(ge=60_000)] = 7 * DAY_MS
    audit_retention_ms: int = MIN_AUDIT_RETENTION_MS + 30 * DAY_MS
    erased_bound_ms: Annotated[int, Field(ge=10_000)] = Field(
        HOUR_MS,
        description="How long an erased template or an overwritten consent may stay on the brokers' disks: "
        "segment.ms, max.compaction.lag.ms and delete.retention.ms of the compacted topics derive from it.",
    )
    audit_log_name: str = Field(
        "facegate.local/audit",
        pattern=r"^[A-Za-z0-9.\-_~/:]{1,200}$",
        description="The audit log's name L (docs/audit-format.md): the key name of its signing keys; partition p's "
        "checkpoints have origin L/p, the completeness notes L/completeness. Choose it once per deployment.",
    )

    # Kafka client security
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    # The worker
    app_id: str = Field("facegate", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Faust app id = consumer group.")
    policy_dir: Path | None = Field(None, description="Folder of tenant policy YAML files.")
    calibration_dir: Path | None = Field(
        None,
        description="Folder of the operator's calibration files (facegate calibrate), loaded beside the shipped ones; "
        "a bad file, two for one model or one for a shipped model refuses the start.",
    )
    web_host: str = "0.0.0.0"  # noqa: S104 - the pod's probes and Prometheus reach it
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    # With the client settings below, 1.21x the decisions/s of batches of 256 on Faust's (bench/results/tuning.md).
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    # How long an idle worker lets its first capture wait for others to join the batch. A busy one
    # never waits: what arrived while it decided is its next batch (gateway/shell/batches.py).
    batch_wait_ms: Annotated[int, Field(ge=0, le=10_000)] = 0
    # Kafka client tuning, measured in bench/PROFILES.md (a 16 KB default batch holds seven 2.1 KB captures)
    producer_max_batch_bytes: Annotated[int, Field(ge=16_384, le=64 << 20)] = 1 << 20
    producer_linger_ms: Annotated[int, Field(ge=0, le=1000)] = 0  # each commit awaits its acks: linger only waits
    consumer_max_fetch_bytes: Annotated[int, Field(ge=65_536, le=256 << 20)] = 8 << 20
    # How long a fetch of the inputs may wait for how much (Faust's own: 1 byte, 1.5 s). 256 KiB or
    # 10 ms cost 12% less CPU per decision under a paced load but 10-25% of a backlog's decisions/s
    # with Faust's batching; rerun with batches as they are ready, one backlog run was no slower,
    # and its paced latency is unmeasured, so 1 byte stays. The wait is 100 ms: aiokafka keeps one
    # fetch in flight per broker, and while a batch is decided (records buffered over 100 ms) it
    # sends one for the other partitions, idle ones too; with 1.5 s the partitions just drained
    # waited that long behind it (bench/PROFILES.md).
    consumer_fetch_min_bytes: Annotated[int, Field(ge=1, le=64 << 20)] = 1
    consumer_fetch_max_wait_ms: Annotated[int, Field(ge=0, le=10_000)] = 100
    # How often an input fetch asks for the tenants' lifecycle partitions that held no records in
    # the last second (the captures' are asked for in every fetch; 0: all in every fetch). Every
    # partition listed costs each fetch its entry, and 50 tenants have 800 (gateway/shell/fetch_lanes.py).
    lifecycle_fetch_interval_ms: Annotated[int, Field(ge=0, le=10_000)] = 100
    stream_buffer_maxsize: Annotated[int, Field(ge=1, le=1_000_000)] = 16_384
    # Faust's own Prometheus sensor (facegate_faust_*): per-message bookkeeping, off unless asked for.
    faust_metrics: bool = False
    session_timeout_ms: Annotated[int, Field(ge=1000)] = 30_000
    dedupe_window_ms: Annotated[int, Field(ge=60_000)] = HOUR_MS  # read back from the audit log at start
    sweep_interval_ms: Annotated[int, Field(ge=100, le=DAY_MS)] = 60_000  # expiry and retention (R11)
    # A worker whose consent or enrollment feeds were last caught up longer ago than this strips
    # instead of forwarding (a withdrawal it has not read yet must not be overtaken) and is not ready.
    feed_lag_bound_ms: Annotated[int, Field(ge=500, le=HOUR_MS)] = 10_000
    # A produce call waiting longer than this for Kafka's acknowledgement (fewer in-sync replicas than
    # min.insync.replicas: the idempotent producer retries, in order, until they return) turns the
    # worker not-ready; it decides nothing meanwhile (docs/operations.md, "Production topology").
    produce_stall_ms: Annotated[int, Field(ge=100, le=HOUR_MS)] = 10_000
    # The worker's producer is idempotent (a retry is never written twice nor ahead of a later
    # record). Only for brokers without idempotent producers (the embedded Tansu demo broker).
    producer_idempotence: bool = True
    # Producers' clocks are trusted only this far ahead of the broker's append time; a capture or
    # consent dated later is rejected (a future time would dodge retention or consent checks).
    clock_skew_ms: Annotated[int, Field(ge=0, le=HOUR_MS)] = 300_000
    log_format: LogFormat = Field(
        LogFormat.TEXT, description="text, or json: one JSON object per line (worker and CLI; gateway.logs)."
    )

    # Local tooling
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "facegate")
    kafka_version: str = Field("4.1.1", pattern=r"^4\.\d+\.\d+$", description="Apache Kafka release for local brokers.")

    @field_validator("audit_retention_ms")
    @classmethod
    def _audit_kept_three_years(cls, value: int) -> int:
        if value != -1 and value < MIN_AUDIT_RETENTION_MS:
            raise ValueError(
                f"audit records must be kept at least 3 years (R19): use -1 or >= {MIN_AUDIT_RETENTION_MS}"
            )
        return value

    @field_validator("tenants", "vendors")
    @classmethod
    def _tenant_ids(cls, value: list[str]) -> list[str]:
        from gateway.contract.topics import check_tenant_id

        return [check_tenant_id(t) for t in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            path = Path(config_file)
            if not names_one(path.is_file):
                raise FileNotFoundError(_missing(CONFIG_FILE_VARIABLE, config_file, "file", "the settings themselves"))
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE)
        if secrets_dir:
            if not names_one(Path(secrets_dir).is_dir):
                raise FileNotFoundError(_missing(SECRETS_DIR_VARIABLE, secrets_dir, "folder", "a secret itself"))
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        return tuple(sources)


def names_one(check: Callable[[], bool]) -> bool:
    """Whether a path names a file or folder. False, not an error, for what no path can be: the
    OSError of a name too long (a document put there is) quotes it."""
    try:
        return check()
    except (OSError, ValueError):
        return False


def _missing(variable: str, value: str, kind: str, instead: str) -> str:
    """Why a variable names no file or folder, without its value: a Secret mounted as an environment
    variable under this name puts the settings (sasl_password) or a credential there."""
    said = f"{variable} does not name a {kind}"
    if "\n" in value or ": " in value or value.lstrip().startswith("{") or len(value) > 1024:
        said += f"; it looks like {instead} (its value is not shown: it may hold a secret)"
    return said
