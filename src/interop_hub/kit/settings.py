"""Runtime settings, read from the environment with the ``INTEROP_HUB_`` prefix.

Two modes: ``development`` (the embedded default: a SQLite file and a secret key generated on
first start in the data directory) and ``production`` (the database URL and the secret key must
be given; a missing or placeholder secret refuses to start).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "password",
        "default",
        "insecure",
        "development",
        "dev",
        "test",
        "xxx",
        "todo",
        "placeholder",
    }
)


class ConfigurationError(RuntimeError):
    """The settings cannot be used; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTEROP_HUB_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("./.interop-hub")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    token_lifetime_seconds: int = Field(default=3600, ge=60, le=86400)
    max_page_size: int = Field(default=1000, ge=1, le=10000)
    max_task_page_size: int = Field(default=2000, ge=1, le=10000)
    max_blueprint_bytes: int = Field(default=1_000_000, ge=1024)
    public_base_url: str | None = None
    mass_change_threshold: float = Field(default=0.10, gt=0, le=1)
    mass_change_min_changes: int = Field(default=25, ge=1)
    max_bundle_bytes: int = Field(default=4 * 1024**3, ge=1024)
    max_upload_bytes: int = Field(default=1024**3, ge=1024)
    max_row_errors: int = Field(default=100_000, ge=100)
    loader_min_enrollments_bytes: int = Field(default=16 * 1024**2, ge=0)
    """A cloud's first collection on PostgreSQL reads and writes an enrollments.csv at least
    this large in a process of its own (:mod:`interop_hub.ingest.loader`)."""
    ingestion_stale_seconds: int = Field(default=120, ge=10)
    task_lease_seconds: int = Field(default=300, ge=1, le=86400)
    task_batch_size: int = Field(default=100, ge=1, le=10000)
    task_retry_backoff_seconds: int = Field(default=30, ge=0, le=86400)
    task_retry_max_backoff_seconds: int = Field(default=3600, ge=0, le=7 * 86400)
    task_history_days: int = Field(default=30, ge=1, le=3650)
    rollover_max_attempts: int = Field(default=5, ge=1, le=1000)
    rollover_retry_seconds: int = Field(default=300, ge=0, le=7 * 86400)
    sql_echo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    metrics_token: SecretStr | None = None
    """A bearer token that may read ``/metrics`` (for scrapers that cannot do OAuth)."""

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case_insensitive(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.mode == "production":
            raise ConfigurationError(
                "INTEROP_HUB_DATABASE_URL is required in production mode (for example "
                "postgresql://interop@db.internal:5432/interop); the embedded SQLite database "
                "is for development on one machine."
            )
        return f"sqlite:///{(self.data_dir / 'interop-hub.db').resolve()}"

    @property
    def is_embedded_default(self) -> bool:
        return not self.database_url  # unset or empty, as resolved_database_url reads it

    def resolved_secret_key(self) -> str:
        """The secret key, generating and persisting one for development if none is set."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            check_secret_key(value, self.mode)
            return value
        if self.mode == "production":
            raise ConfigurationError(
                "INTEROP_HUB_SECRET_KEY is required in production mode: set it to a random value "
                f"of at least {MIN_SECRET_LENGTH} characters (for example the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        return load_or_create_secret_key(self.data_dir)


def check_secret_key(value: str, mode: str) -> None:
    if mode != "production":
        if not value:
            raise ConfigurationError("INTEROP_HUB_SECRET_KEY is set but empty.")
        return
    if value.strip().lower() in PLACEHOLDER_SECRETS or len(set(value)) < 8:
        raise ConfigurationError(
            "INTEROP_HUB_SECRET_KEY is a placeholder; production mode needs a random secret of at "
            f"least {MIN_SECRET_LENGTH} characters."
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"INTEROP_HUB_SECRET_KEY is {len(value)} characters long; production mode needs at "
            f"least {MIN_SECRET_LENGTH}."
        )


def load_or_create_secret_key(data_dir: Path) -> str:
    """Read the data dir's secret key, creating it (mode 0600) on first start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"The secret key file {path} is damaged (too short); restore it from a backup. "
                "Without it, stored credentials cannot be decrypted."
            ) from None
        return value
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
