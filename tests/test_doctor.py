"""``interop-hub doctor``: the database (on SQLite and PostgreSQL), its migrations, the secret
key and the data directory, each reported ok, warn or fail; exit 1 when one fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from interop_hub.kit import migrate
from interop_hub.kit.db import create_db_engine
from interop_hub.kit.settings import SECRET_KEY_FILE
from tests.conftest import Database
from tests.test_cli import SECRET, Cli, one_object, text_of

HEAD = migrate.head_revision()


def doctor(env: dict[str, str], exit_code: int = 0) -> dict[str, Any]:
    """Run ``doctor --json``; returns the report with the checks by name."""
    result = Cli(env).run("doctor", "--json")
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    report = one_object(result.stdout)
    assert set(report) == {"status", "checks"}
    for check in report["checks"]:
        assert set(check) == {"name", "status", "message"}
        assert check["status"] in ("ok", "warn", "fail")
    report["by_name"] = {c["name"]: c for c in report["checks"]}
    return report


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in report["by_name"].items()}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def sqlite_at(path: Path, revision: str | None) -> str:
    """A SQLite file migrated to ``revision`` (None: an empty file)."""
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    try:
        if revision is None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        else:
            migrate.upgrade(engine, revision)
    finally:
        engine.dispose()
    return url


# --- healthy ------------------------------------------------------------------------------------


def test_a_healthy_installation(database: Database, data_dir: Path) -> None:
    env = {
        "INTEROP_HUB_DATABASE_URL": database.url,
        "INTEROP_HUB_SECRET_KEY": SECRET,
        "INTEROP_HUB_DATA_DIR": str(data_dir),
        "INTEROP_HUB_MODE": "production",
    }
    report = doctor(env)
    assert report["status"] == "ok"
    assert [c["name"] for c in report["checks"]] == [
        "settings",
        "database",
        "migrations",
        "secret key",
        "data dir",
    ]
    assert set(statuses(report).values()) == {"ok"}
    checks = report["by_name"]
    engine = "PostgreSQL" if database.backend == "postgresql" else "SQLite"
    assert checks["database"]["message"].startswith(f"{engine} ")
    assert checks["database"]["message"].split()[1][0].isdigit()  # the server's version
    assert checks["migrations"]["message"] == f"at head ({HEAD})"
    assert SECRET not in str(report)
    assert "production mode" in checks["settings"]["message"]

    shown = Cli(env).run("doctor")
    assert shown.exit_code == 0
    assert engine in shown.stdout
    assert "fail" not in shown.stdout


def test_a_fresh_embedded_installation_only_warns(tmp_path: Path) -> None:
    """Nothing created yet: the hub creates it all on first start; doctor creates nothing."""
    data_dir = tmp_path / "new"
    report = doctor({"INTEROP_HUB_DATA_DIR": str(data_dir)})
    assert report["status"] == "warn"
    assert statuses(report) == {
        "settings": "ok",
        "database": "warn",
        "migrations": "warn",
        "secret key": "warn",
        "data dir": "warn",
    }
    assert "created when the hub first starts" in report["by_name"]["database"]["message"]
    assert "generated" in report["by_name"]["secret key"]["message"]
    assert not data_dir.exists()


# --- the schema ---------------------------------------------------------------------------------


def test_a_database_behind_head_fails(tmp_path: Path, data_dir: Path) -> None:
    url = sqlite_at(tmp_path / "old.db", "0002")
    env = {
        "INTEROP_HUB_DATABASE_URL": url,
        "INTEROP_HUB_SECRET_KEY": SECRET,
        "INTEROP_HUB_DATA_DIR": str(data_dir),
    }
    report = doctor(env, exit_code=1)
    assert report["status"] == "fail"
    assert statuses(report)["database"] == "ok"
    migrations = report["by_name"]["migrations"]
    assert migrations["status"] == "fail"
    assert "at 0002" in migrations["message"]
    assert f"head ({HEAD})" in migrations["message"]
    assert "run `interop-hub db upgrade`" in migrations["message"]

    shown = Cli(env).run("doctor")
    assert shown.exit_code == 1
    assert "interop-hub db upgrade" in text_of(shown.stdout)


def test_the_embedded_database_behind_head_is_a_warning(data_dir: Path) -> None:
    """Every command and `serve` migrate the embedded default before using it."""
    sqlite_at(data_dir / "interop-hub.db", "0001")
    (data_dir / SECRET_KEY_FILE).write_text("k" * 64)
    (data_dir / SECRET_KEY_FILE).chmod(0o600)
    report = doctor({"INTEROP_HUB_DATA_DIR": str(data_dir)})
    assert report["status"] == "warn"
    assert statuses(report)["migrations"] == "warn"
    assert "interop-hub db upgrade" in report["by_name"]["migrations"]["message"]
    assert statuses(report)["secret key"] == "ok"


def test_an_empty_or_unknown_schema_fails(tmp_path: Path, data_dir: Path) -> None:
    env = {"INTEROP_HUB_SECRET_KEY": SECRET, "INTEROP_HUB_DATA_DIR": str(data_dir)}
    empty = sqlite_at(tmp_path / "empty.db", None)
    report = doctor({**env, "INTEROP_HUB_DATABASE_URL": empty}, exit_code=1)
    assert "no schema" in report["by_name"]["migrations"]["message"]

    newer = sqlite_at(tmp_path / "newer.db", "head")
    engine = create_db_engine(newer)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    report = doctor({**env, "INTEROP_HUB_DATABASE_URL": newer}, exit_code=1)
    assert "newer release" in report["by_name"]["migrations"]["message"]


# --- the database -------------------------------------------------------------------------------


def test_an_unreachable_or_missing_database_fails(tmp_path: Path, data_dir: Path) -> None:
    env = {"INTEROP_HUB_SECRET_KEY": SECRET, "INTEROP_HUB_DATA_DIR": str(data_dir)}
    url = "postgresql://nobody:pa55word@127.0.0.1:1/interop"
    report = doctor({**env, "INTEROP_HUB_DATABASE_URL": url}, exit_code=1)
    database = report["by_name"]["database"]
    assert database["status"] == "fail"
    assert database["message"].startswith("cannot connect to postgresql+psycopg://nobody:***@")
    assert "pa55word" not in str(report)
    assert report["by_name"]["migrations"]["status"] == "warn"
    assert "not checked" in report["by_name"]["migrations"]["message"]

    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    report = doctor({**env, "INTEROP_HUB_DATABASE_URL": missing}, exit_code=1)
    assert "does not exist" in report["by_name"]["database"]["message"]
    assert not (tmp_path / "nowhere.db").exists()


def test_production_needs_a_database_url_and_a_secret(data_dir: Path) -> None:
    report = doctor(
        {"INTEROP_HUB_MODE": "production", "INTEROP_HUB_DATA_DIR": str(data_dir)}, exit_code=1
    )
    assert statuses(report)["database"] == "fail"
    assert "INTEROP_HUB_DATABASE_URL is required" in report["by_name"]["database"]["message"]
    assert statuses(report)["secret key"] == "fail"
    assert "INTEROP_HUB_SECRET_KEY is required" in report["by_name"]["secret key"]["message"]


# --- the secret key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "content", "expected"),
    [
        (0o644, "k" * 64, "chmod 600"),
        (0o640, "k" * 64, "mode 0640"),
        (0o600, "Qz7x", "damaged"),
    ],
)
def test_a_bad_secret_key_file_fails(
    tmp_path: Path, data_dir: Path, mode: int, content: str, expected: str
) -> None:
    key = data_dir / SECRET_KEY_FILE
    key.write_text(content)
    key.chmod(mode)
    url = sqlite_at(tmp_path / "hub.db", "head")
    report = doctor(
        {"INTEROP_HUB_DATABASE_URL": url, "INTEROP_HUB_DATA_DIR": str(data_dir)}, exit_code=1
    )
    secret = report["by_name"]["secret key"]
    assert secret["status"] == "fail"
    assert expected in secret["message"]
    assert content not in secret["message"]
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["secret key"]


def test_secret_keys_in_the_environment(tmp_path: Path, data_dir: Path) -> None:
    url = sqlite_at(tmp_path / "hub.db", "head")
    env = {"INTEROP_HUB_DATABASE_URL": url, "INTEROP_HUB_DATA_DIR": str(data_dir)}
    short = doctor({**env, "INTEROP_HUB_SECRET_KEY": "0123456789abcdef"})
    assert short["by_name"]["secret key"]["status"] == "warn"
    assert "production mode needs at least 32" in short["by_name"]["secret key"]["message"]
    placeholder = doctor(
        {**env, "INTEROP_HUB_SECRET_KEY": "changeme", "INTEROP_HUB_MODE": "production"},
        exit_code=1,
    )
    assert "placeholder" in placeholder["by_name"]["secret key"]["message"]
    assert not (data_dir / SECRET_KEY_FILE).exists()


# --- the data directory and the settings --------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_data_dir_fails(tmp_path: Path, data_dir: Path) -> None:
    url = sqlite_at(tmp_path / "hub.db", "head")
    data_dir.chmod(0o500)
    try:
        report = doctor(
            {
                "INTEROP_HUB_DATABASE_URL": url,
                "INTEROP_HUB_SECRET_KEY": SECRET,
                "INTEROP_HUB_DATA_DIR": str(data_dir),
            },
            exit_code=1,
        )
    finally:
        data_dir.chmod(0o700)
    assert report["by_name"]["data dir"]["status"] == "fail"
    assert "not writable" in report["by_name"]["data dir"]["message"]


def test_invalid_settings_fail(data_dir: Path) -> None:
    report = doctor(
        {"INTEROP_HUB_DATA_DIR": str(data_dir), "INTEROP_HUB_TOKEN_LIFETIME_SECONDS": "5"},
        exit_code=1,
    )
    assert [c["name"] for c in report["checks"]] == ["settings"]
    assert "INTEROP_HUB_TOKEN_LIFETIME_SECONDS" in report["checks"][0]["message"]


def test_a_data_dir_that_is_a_file_fails(tmp_path: Path) -> None:
    url = sqlite_at(tmp_path / "hub.db", "head")
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("")
    env = {"INTEROP_HUB_DATABASE_URL": url, "INTEROP_HUB_SECRET_KEY": SECRET}
    report = doctor({**env, "INTEROP_HUB_DATA_DIR": str(not_a_dir)}, exit_code=1)
    assert report["by_name"]["data dir"]["status"] == "fail"
    assert "not a directory" in report["by_name"]["data dir"]["message"]
