"""Settings from the environment, and the secret key rules of the two modes (no database)."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from interop_hub.kit.settings import (
    MIN_SECRET_LENGTH,
    ConfigurationError,
    Settings,
    get_settings,
    load_or_create_secret_key,
)

SETTING_NAMES = [f"INTEROP_HUB_{name.upper()}" for name in Settings.model_fields]
GOOD_SECRET = "Zx8vQ2mN7pL4kR9tW3yB6cF1hJ5gD0sA8eU2iO7rT4nM9qK3"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the default data dir is relative: keep it out of the repo
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- production -----------------------------------------------------------------------------


def test_production_without_secret_refuses(tmp_path: Path) -> None:
    settings = Settings(mode="production", data_dir=tmp_path / "data")
    with pytest.raises(ConfigurationError) as raised:
        settings.resolved_secret_key()
    message = str(raised.value)
    assert "INTEROP_HUB_SECRET_KEY is required in production mode" in message
    assert f"at least {MIN_SECRET_LENGTH} characters" in message
    # It does not quietly fall back to generating a key file.
    assert not (tmp_path / "data" / "secret_key").exists()


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "CHANGEME",
        " changeme ",
        "change-me",
        "secret",
        "password",
        "",
        "a" * 64,
        "abababababababababababababababababab",
    ],
)
def test_production_refuses_placeholder_secrets(tmp_path: Path, value: str) -> None:
    settings = Settings(mode="production", secret_key=value, data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="placeholder"):
        settings.resolved_secret_key()


@pytest.mark.parametrize("value", ["k3Y!x9#Qm2", "Zx8vQ2mN7pL4kR9tW3yB6cF1hJ5gD0s"])
def test_production_refuses_short_secrets(tmp_path: Path, value: str) -> None:
    assert len(value) < MIN_SECRET_LENGTH
    settings = Settings(mode="production", secret_key=value, data_dir=tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        settings.resolved_secret_key()
    assert f"is {len(value)} characters long" in str(raised.value)
    assert f"at least {MIN_SECRET_LENGTH}" in str(raised.value)


def test_production_accepts_a_random_secret(tmp_path: Path) -> None:
    for value in (GOOD_SECRET, secrets.token_urlsafe(36)):
        assert len(value) == 48
        settings = Settings(mode="production", secret_key=value, data_dir=tmp_path / "data")
        assert settings.resolved_secret_key() == value
    # A given secret never creates a key file.
    assert not (tmp_path / "data").exists()


def test_secret_is_not_shown(tmp_path: Path) -> None:
    settings = Settings(mode="production", secret_key=GOOD_SECRET, data_dir=tmp_path)
    assert GOOD_SECRET not in repr(settings)
    assert GOOD_SECRET not in str(settings.model_dump())


# --- development ----------------------------------------------------------------------------


def test_development_generates_the_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = Settings(data_dir=data_dir).resolved_secret_key()
    path = data_dir / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= MIN_SECRET_LENGTH
    assert path.read_text(encoding="utf-8").strip() == first
    # The next start reuses it.
    assert Settings(data_dir=data_dir).resolved_secret_key() == first
    assert load_or_create_secret_key(data_dir) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another data dir gets its own.
    assert Settings(data_dir=tmp_path / "other").resolved_secret_key() != first


def test_development_key_file_with_surrounding_whitespace(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text(f"\n  {GOOD_SECRET}  \n", encoding="utf-8")
    assert Settings(data_dir=tmp_path).resolved_secret_key() == GOOD_SECRET


@pytest.mark.parametrize("content", ["", "\n", "too-short\n", "x" * (MIN_SECRET_LENGTH - 1)])
def test_damaged_key_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secret_key"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        Settings(data_dir=tmp_path).resolved_secret_key()
    assert "damaged" in str(raised.value)
    assert str(path) in str(raised.value)
    # The damaged file is left alone for the operator to restore.
    assert path.read_text(encoding="utf-8") == content


def test_development_accepts_a_given_secret(tmp_path: Path) -> None:
    settings = Settings(secret_key="dev", data_dir=tmp_path / "data")
    assert settings.resolved_secret_key() == "dev"
    assert not (tmp_path / "data").exists()


def test_development_refuses_an_empty_given_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        Settings(secret_key="", data_dir=tmp_path).resolved_secret_key()


# --- the environment ------------------------------------------------------------------------


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTEROP_HUB_MODE", "production")
    monkeypatch.setenv("INTEROP_HUB_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("INTEROP_HUB_DATABASE_URL", "postgresql://hub@db.example/hub")
    monkeypatch.setenv("INTEROP_HUB_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "120")
    monkeypatch.setenv("INTEROP_HUB_MAX_PAGE_SIZE", "50")
    monkeypatch.setenv("INTEROP_HUB_PUBLIC_BASE_URL", "https://hub.example")
    settings = Settings()
    assert settings.mode == "production"
    assert settings.resolved_secret_key() == GOOD_SECRET
    assert settings.database_url == "postgresql://hub@db.example/hub"
    assert settings.resolved_database_url == "postgresql://hub@db.example/hub"
    assert not settings.is_embedded_default
    assert settings.data_dir == tmp_path / "state"
    assert settings.token_lifetime_seconds == 120
    assert settings.max_page_size == 50
    assert settings.public_base_url == "https://hub.example"


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("MODE", "production")
    settings = Settings()
    assert settings.secret_key is None
    assert settings.database_url is None
    assert settings.mode == "development"


def test_defaults(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.mode == "development"
    assert settings.token_lifetime_seconds == 3600
    assert settings.is_embedded_default
    expected = (tmp_path / ".interop-hub" / "interop-hub.db").resolve()
    assert settings.resolved_database_url == f"sqlite:///{expected}"


def test_empty_database_url_means_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTEROP_HUB_DATABASE_URL", "")
    monkeypatch.setenv("INTEROP_HUB_DATA_DIR", str(tmp_path / "d"))
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'd' / 'interop-hub.db')}"
    assert settings.is_embedded_default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INTEROP_HUB_MODE", "staging"),
        ("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "10"),
        ("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "100000"),
        ("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "an hour"),
        ("INTEROP_HUB_MAX_PAGE_SIZE", "0"),
    ],
)
def test_invalid_environment_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "300")
    first = get_settings()
    assert first.token_lifetime_seconds == 300
    monkeypatch.setenv("INTEROP_HUB_TOKEN_LIFETIME_SECONDS", "600")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().token_lifetime_seconds == 600


def test_production_without_database_url_refuses(tmp_path: Path) -> None:
    settings = Settings(mode="production", data_dir=tmp_path / "data", secret_key="x" * 8)
    with pytest.raises(ConfigurationError) as raised:
        _ = settings.resolved_database_url
    assert "INTEROP_HUB_DATABASE_URL is required in production mode" in str(raised.value)
    assert not (tmp_path / "data").exists()
