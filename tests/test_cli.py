"""``interop-hub``: the operator's command line, on SQLite and on PostgreSQL.

Every command runs in-process through typer's CliRunner with the settings in the environment,
against a database of its own (not the rolled-back test database: the CLI commits).
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from interop_hub.app import create_app
from interop_hub.cli.main import app
from interop_hub.kit import migrate
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import create_db_engine, normalize_url
from interop_hub.kit.settings import Settings, get_settings
from interop_hub.runtime import build_hub
from tests.factories import basic, bearer, blueprint, full_blueprint

POSTGRES_ADMIN_URL = os.environ.get(
    "INTEROP_HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    name.strip()
    for name in os.environ.get("INTEROP_HUB_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if name.strip()
]
IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET = "cli-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SETTING_NAMES = [f"INTEROP_HUB_{name.upper()}" for name in Settings.model_fields]


def text_of(value: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(value.split())


@dataclass
class Cli:
    """Runs the CLI with a fixed environment (every other INTEROP_HUB_ setting unset)."""

    env: dict[str, str]
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args: str) -> Result:
        env: dict[str, str | None] = dict.fromkeys(SETTING_NAMES)
        env.update(self.env)
        get_settings.cache_clear()
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def json(self, *args: str) -> dict[str, Any]:
        """Run with --json; it must succeed and print exactly one JSON object."""
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return one_object(result.stdout)

    def fails(self, *args: str, status: int) -> dict[str, Any]:
        """Run with --json; it must exit 1 and print exactly one error envelope."""
        result = self.run(*args, "--json")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        body = one_object(result.stdout)
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"status", "code", "message", "ext_message", "details"}
        assert body["error"]["status"] == status, body
        result_error: dict[str, Any] = body["error"]
        return result_error


def one_object(stdout: str) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    value = orjson.loads(lines[0])
    assert isinstance(value, dict), value
    return value


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _postgres_database() -> Iterator[str]:
    admin = create_engine(normalize_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"interop_hub_cli_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure means "not usable"
        admin.dispose()
        reason = str(exc).splitlines()[0]
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not usable: {reason}")
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    url = make_url(normalize_url(POSTGRES_ADMIN_URL)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
    elif request.param == "postgresql":
        yield from _postgres_database()
    else:
        raise ValueError(f"unknown backend {request.param}")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(
        {
            "INTEROP_HUB_DATABASE_URL": database_url,
            "INTEROP_HUB_SECRET_KEY": SECRET,
            "INTEROP_HUB_DATA_DIR": str(tmp_path / "data"),
        }
    )


@pytest.fixture
def http(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The HTTP app on the same database and secret key as the CLI."""
    hub = build_hub(
        Settings(database_url=database_url, secret_key=SECRET, data_dir=tmp_path / "data")
    )
    try:
        with TestClient(create_app(hub), base_url="http://testserver") as client:
            yield client
    finally:
        hub.engine.dispose()


def get_token(http: TestClient, client_id: str, client_secret: str) -> Any:
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )


def create_integration(http: TestClient, api_key: str, version: str = "1.0") -> str:
    headers = basic(api_key)
    response = http.post(
        "/v2/interop/integrations", json={"name": "acme-lms", "title": "Acme LMS"}, headers=headers
    )
    assert response.status_code == 200, response.text
    integration_id: str = response.json()["data"]["id"]
    response = http.post(
        f"/v2/interop/integrations/{integration_id}/versions",
        content=blueprint(version),
        headers={**headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    return integration_id


# --- the schema -----------------------------------------------------------------------------


def test_commands_refuse_an_unmigrated_database(cli: Cli) -> None:
    result = cli.run("accounts", "create", "--name", "Acme", "--type", "developer", "--json")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "run `interop-hub db upgrade`" in text_of(result.stderr)
    assert "not up to date" in text_of(result.stderr)


def test_db_upgrade(cli: Cli, database_url: str) -> None:
    head = migrate.head_revision()
    assert head is not None
    assert cli.json("db", "upgrade") == {"from": None, "to": head}
    # Running it again changes nothing.
    assert cli.json("db", "upgrade") == {"from": head, "to": head}
    engine = create_db_engine(database_url)
    try:
        assert migrate.current_revision(engine) == head
    finally:
        engine.dispose()
    # Without --json it prints a table, not JSON.
    result = cli.run("db", "upgrade")
    assert result.exit_code == 0
    assert head in result.stdout
    assert not result.stdout.lstrip().startswith("{")


# --- the whole contract ---------------------------------------------------------------------


def test_cli_walkthrough(cli: Cli, http: TestClient, tmp_path: Path) -> None:
    cli.json("db", "upgrade")

    vendor = cli.json("accounts", "create", "--name", "Acme", "--type", "developer")
    assert {"id", "name", "type", "api_key"} <= set(vendor)
    assert vendor["name"] == "Acme"
    assert vendor["type"] == "developer"
    assert vendor["api_key"].startswith("ihk_")
    uuid.UUID(vendor["id"])
    district = cli.json("accounts", "create", "--name", "Springfield USD")
    assert district["type"] == "education_agency"

    # The API key printed once works over HTTP.
    response = http.get("/v2/interop/integrations", headers=basic(vendor["api_key"]))
    assert response.status_code == 200, response.text

    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "Springfield")
    assert cloud["name"] == "Springfield"
    assert cloud["account_id"] == district["id"]
    assert cloud["generation"] == 1
    seen = http.get("/v2/interop/clouds", headers=basic(district["api_key"])).json()["data"]
    assert [c["id"] for c in seen] == [cloud["id"]]

    drop = tmp_path / "drop"
    drop.mkdir()
    connector = cli.json(
        "connectors",
        "create",
        "--cloud",
        cloud["id"],
        "--type",
        "oneroster-csv",
        "--source",
        str(drop),
    )
    uuid.UUID(connector["id"])
    assert connector["connector_type"] == "oneroster-csv"
    assert connector["source"] == str(drop.resolve())
    assert get_token(http, connector["client_id"], connector["client_secret"]).status_code == 200

    integration_id = create_integration(http, vendor["api_key"])
    tenant = cli.json("tenants", "install", "--cloud", cloud["id"], "--integration", integration_id)
    assert {"id", "actor_id", "client_id", "client_secret"} <= set(tenant)
    assert tenant["version"] == "1.0"
    assert tenant["op_state"] == "setup"
    # The printed credentials work (the CLI and the server share the secret key).
    response = get_token(http, tenant["client_id"], tenant["client_secret"])
    assert response.status_code == 200, response.text
    tenant_headers = bearer(response.json()["access_token"])
    mine = http.get("/v2/interop/tenants", headers=tenant_headers).json()["data"]
    assert [t["id"] for t in mine] == [tenant["id"]]
    assert mine[0]["auth"]["client_secret"] == tenant["client_secret"]

    # A second install of the same integration in the same cloud is refused.
    body = cli.fails(
        "tenants", "install", "--cloud", cloud["id"], "--integration", integration_id, status=409
    )
    assert body["code"] == "conflict"

    active = cli.json("tenants", "activate", tenant["id"])
    assert active["id"] == tenant["id"]
    assert active["status"]["op_state"] == "active"
    assert "auth" not in active
    assert "app_auth" not in active
    assert tenant["client_secret"] not in orjson.dumps(active).decode()
    body = cli.fails("tenants", "activate", tenant["id"], status=409)
    assert "active" in body["message"]

    result = cli.run("tenants", "suspend", tenant["id"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "suspended" in result.stdout
    assert not result.stdout.lstrip().startswith("{")
    vendor_view = http.get(
        f"/v2/interop/tenants/{tenant['id']}", headers=basic(vendor["api_key"])
    ).json()["data"]
    assert vendor_view["status"]["op_state"] == "suspended"

    result = cli.run("tenants", "activate", tenant["id"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "active" in result.stdout

    gone = cli.json("tenants", "uninstall", tenant["id"])
    assert gone["status"]["op_state"] == "uninstalled"
    assert gone["license"]["status"] == "revoked"
    cli.fails("tenants", "uninstall", tenant["id"], status=409)
    cli.fails("tenants", "suspend", tenant["id"], status=409)
    result = cli.run("tenants", "activate", tenant["id"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "409" in result.stderr

    # Its credentials and its token stop working.
    assert get_token(http, tenant["client_id"], tenant["client_secret"]).status_code == 401
    assert http.get("/v2/interop/tenants", headers=tenant_headers).status_code == 401

    # Reinstalling works, without --json too.
    result = cli.run("tenants", "install", "--cloud", cloud["id"], "--integration", integration_id)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "client_secret" in result.stdout


def test_cli_errors_as_json(cli: Cli, http: TestClient, tmp_path: Path) -> None:
    cli.json("db", "upgrade")
    operator = cli.json("accounts", "create", "--name", "Ops", "--type", "operator")
    vendor = cli.json("accounts", "create", "--name", "Acme", "--type", "developer")
    district = cli.json("accounts", "create", "--name", "Springfield USD")
    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "Springfield")
    integration_id = create_integration(http, vendor["api_key"])

    body = cli.fails("accounts", "create", "--name", "X", "--type", "vendor", status=400)
    assert body["code"] == "bad_request"
    body = cli.fails("accounts", "create", "--name", "", "--type", "developer", status=400)
    assert body["code"] == "bad_request"

    missing = str(uuid.uuid4())
    body = cli.fails("clouds", "create", "--account", missing, "--name", "X", status=404)
    assert missing in body["message"]
    body = cli.fails("clouds", "create", "--account", operator["id"], "--name", "X", status=400)
    assert "operator" in body["message"]

    body = cli.fails(
        "connectors",
        "create",
        "--cloud",
        cloud["id"],
        "--source",
        str(tmp_path / "nowhere"),
        status=400,
    )
    assert "does not exist" in body["message"]
    body = cli.fails(
        "connectors",
        "create",
        "--cloud",
        cloud["id"],
        "--type",
        "csv",
        "--source",
        str(tmp_path),
        status=400,
    )
    cli.fails("connectors", "create", "--cloud", missing, "--source", str(tmp_path), status=404)

    body = cli.fails(
        "tenants",
        "install",
        "--cloud",
        cloud["id"],
        "--integration",
        integration_id,
        "--version",
        "9.9",
        status=400,
    )
    assert "9.9" in body["message"]
    cli.fails("tenants", "install", "--cloud", missing, "--integration", integration_id, status=404)
    cli.fails("tenants", "install", "--cloud", cloud["id"], "--integration", missing, status=404)
    cli.fails("tenants", "activate", missing, status=404)
    body = cli.fails(
        "tenants",
        "install",
        "--cloud",
        cloud["id"],
        "--integration",
        integration_id,
        "--version",
        "",
        status=400,
    )
    assert body["code"] == "bad_request"

    # Nothing was written by the failures.
    listed = http.get("/v2/platform/accounts", headers=basic(operator["api_key"])).json()["data"]
    assert sorted(a["name"] for a in listed) == ["Acme", "Ops", "Springfield USD"]
    assert http.get("/v2/interop/tenants", headers=basic(vendor["api_key"])).json()["data"] == []


def test_cli_errors_without_json(cli: Cli) -> None:
    cli.json("db", "upgrade")
    result = cli.run("clouds", "create", "--account", str(uuid.uuid4()), "--name", "X")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "404" in result.stderr
    assert "not_found" in result.stderr
    # Malformed ids are usage errors of the command line itself.
    result = cli.run("tenants", "activate", "not-a-uuid")
    assert result.exit_code == 2


# --- the embedded default -------------------------------------------------------------------


def test_embedded_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    cli = Cli({"INTEROP_HUB_DATA_DIR": str(data_dir)})

    district = cli.json("accounts", "create", "--name", "Springfield USD")
    assert district["type"] == "education_agency"
    database = data_dir / "interop-hub.db"
    key_file = data_dir / "secret_key"
    assert database.is_file()
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32

    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "Springfield")
    connector = cli.json("connectors", "create", "--cloud", cloud["id"], "--source", str(tmp_path))

    # A second run reuses the database and the key.
    second = cli.json("accounts", "create", "--name", "Acme", "--type", "developer")
    assert second["id"] != district["id"]
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            names = sorted(conn.execute(text("SELECT name FROM accounts")).scalars())
            stored = conn.execute(
                text("SELECT client_secret_enc FROM actors WHERE client_id = :c"),
                {"c": connector["client_id"]},
            ).scalar_one()
    finally:
        engine.dispose()
    assert names == ["Acme", "Springfield USD"]
    # The connector's secret is encrypted with the key in the data dir.
    assert connector["client_secret"] not in stored
    assert Keyring.from_secret(key).decrypt(stored) == connector["client_secret"]


def test_embedded_default_with_a_damaged_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    (data_dir / "secret_key").write_text("short\n")
    result = Cli({"INTEROP_HUB_DATA_DIR": str(data_dir)}).run(
        "accounts", "create", "--name", "X", "--json"
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "damaged" in text_of(result.stderr)
    assert not (data_dir / "interop-hub.db").exists()


def test_production_mode_needs_a_secret(tmp_path: Path) -> None:
    cli = Cli(
        {
            "INTEROP_HUB_MODE": "production",
            "INTEROP_HUB_DATA_DIR": str(tmp_path / "hub"),
            "INTEROP_HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        }
    )
    for args in (("db", "upgrade", "--json"), ("accounts", "create", "--name", "X", "--json")):
        result = cli.run(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "INTEROP_HUB_SECRET_KEY is required in production mode" in text_of(result.stderr)
    assert not (tmp_path / "hub" / "secret_key").exists()


def test_settings_are_read_per_invocation(tmp_path: Path) -> None:
    """Two databases in one process: nothing caches the first one's settings."""
    first = Cli({"INTEROP_HUB_DATA_DIR": str(tmp_path / "one")})
    second = Cli({"INTEROP_HUB_DATA_DIR": str(tmp_path / "two")})
    first.json("accounts", "create", "--name", "First")
    second.json("accounts", "create", "--name", "Second")
    first.json("accounts", "create", "--name", "Third")
    for folder, expected in (("one", ["First", "Third"]), ("two", ["Second"])):
        engine = create_db_engine(f"sqlite:///{tmp_path / folder / 'interop-hub.db'}")
        try:
            with engine.connect() as conn:
                names = sorted(conn.execute(text("SELECT name FROM accounts")).scalars())
        finally:
            engine.dispose()
        assert names == expected
    keys = {(tmp_path / folder / "secret_key").read_text() for folder in ("one", "two")}
    assert len(keys) == 2


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    cli = Cli(
        {
            # nothing listens on port 1: the connection is refused at once
            "INTEROP_HUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "INTEROP_HUB_SECRET_KEY": SECRET,
            "INTEROP_HUB_DATA_DIR": str(tmp_path / "data"),
        }
    )
    result = cli.run("accounts", "create", "--name", "X", "--type", "developer", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "cannot use the database" in text_of(result.stderr)


def test_ingest_and_inspect_from_the_command_line(tmp_path: Path) -> None:
    from bench.generate_district import generate_district

    bundle = tmp_path / "drop"
    generate_district(bundle, students=60, seed=11)
    cli = Cli({"INTEROP_HUB_DATA_DIR": str(tmp_path / "data")})
    district = cli.json("accounts", "create", "--name", "D", "--type", "education_agency")
    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "C")

    done = cli.json("ingest", str(bundle), "--cloud", cloud["id"])
    assert done["state"] == "success"
    assert done["counts"]["objects_added"] > 60
    assert done["counts"]["rows_rejected"] == 0

    shown = cli.json("ingestions", "show", done["id"])
    assert shown["id"] == done["id"]
    assert shown["errors"] == []
    listed = cli.json("ingestions", "list", "--cloud", cloud["id"])
    assert [i["id"] for i in listed["data"]] == [done["id"]]

    queued = cli.json("ingest", str(bundle), "--cloud", cloud["id"], "--queue")
    assert queued["state"] == "preparing"
    worker = cli.run("worker", "--once")
    assert worker.exit_code == 0, worker.stderr
    again = cli.json("ingestions", "show", queued["id"])
    assert again["state"] == "success"
    assert again["counts"]["objects_added"] == 0

    missing = cli.fails("ingest", str(tmp_path / "nowhere"), "--cloud", cloud["id"], status=400)
    assert "does not exist" in missing["message"]
    not_held = cli.fails("ingestions", "approve", done["id"], status=409)
    assert "not held" in not_held["message"]


# --- the task queue -------------------------------------------------------------------------


@dataclass
class QueuedTenant:
    id: str
    client_id: str
    client_secret: str
    operator_key: str


def installed_tenant(cli: Cli, http: TestClient, tmp_path: Path) -> QueuedTenant:
    """A tenant installed (TENANT_INSTALLED queued) in a cloud holding a small district."""
    from bench.generate_district import generate_district

    generate_district(tmp_path / "drop", students=12, seed=5)
    cli.json("db", "upgrade")
    operator = cli.json("accounts", "create", "--name", "Ops", "--type", "operator")
    vendor = cli.json("accounts", "create", "--name", "Acme", "--type", "developer")
    district = cli.json("accounts", "create", "--name", "Springfield USD")
    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "Springfield")
    assert cli.json("ingest", str(tmp_path / "drop"), "--cloud", cloud["id"])["state"] == "success"
    integration_id = create_integration(http, vendor["api_key"])
    tenant = cli.json("tenants", "install", "--cloud", cloud["id"], "--integration", integration_id)
    return QueuedTenant(
        tenant["id"], tenant["client_id"], tenant["client_secret"], operator["api_key"]
    )


def test_tasks_from_the_command_line(
    cli: Cli, http: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = installed_tenant(cli, http, tmp_path)

    state = cli.json("tenants", "state", tenant.id)
    assert state["setup_mode_enabled"] is True
    assert state["synchronization_suspended"] is False
    assert "setup mode" in state["reason"]
    installed = cli.json("tasks", "list", "--tenant", tenant.id)
    assert installed["more"] is False
    [task] = installed["data"]
    assert (task["sequence"], task["type"], task["action"]) == (
        1,
        "lifecycle_event",
        "TENANT_INSTALLED",
    )
    assert (task["deliveries"], task["leased_until"], task["available_at"]) == (0, None, None)
    assert task["tenant_id"] == tenant.id
    # Data is resent only to a tenant that has been activated.
    assert "activated" in cli.fails("tenants", "resend", tenant.id, status=409)["message"]

    active = cli.json("tenants", "activate", tenant.id)
    assert active["status"]["op_state"] == "active"
    state = cli.json("tenants", "state", tenant.id)
    assert state["setup_mode_enabled"] is False
    assert state["reason"] is None
    queued = cli.json("tasks", "list", "--tenant", tenant.id, "--limit", "1000")["data"]
    assert [t["sequence"] for t in queued] == list(range(1, len(queued) + 1))
    assert [t["action"] for t in queued[1:3]] == ["TENANT_ACTIVATED", "SYNC_START"]
    assert queued[-1]["action"] == "SYNC_END"
    students = [t for t in queued if t["object_type"] == "Student"]
    assert len(students) >= 12
    assert all(t["action"] == "ADD" and t["label"] and t["data"] for t in students)
    first = cli.json("tasks", "list", "--tenant", tenant.id, "--limit", "3")
    assert first["data"] == queued[:3]
    assert first["more"] is True

    sent = cli.json("tenants", "resend", tenant.id)
    assert sent == {"tenant_id": tenant.id, "tasks_queued": len(queued) - 2}
    resent = cli.json("tasks", "list", "--tenant", tenant.id, "--limit", "10000")["data"]
    assert len(resent) == len(queued) + sent["tasks_queued"]
    assert {t["origin"] for t in resent[len(queued) :]} == {"resend"}

    # A driver's poll leases the oldest tasks: the list shows it, and leases nothing itself.
    lease = get_token(http, tenant.client_id, tenant.client_secret).json()["access_token"]
    polled = http.get("/v2/interop/data/tasks", headers=bearer(lease)).json()["data"]
    assert polled
    leased = cli.json("tasks", "list", "--tenant", tenant.id, "--limit", str(len(polled) + 1))
    assert [t["deliveries"] for t in leased["data"]] == [1] * len(polled) + [0]
    assert all(t["leased_until"] is not None for t in leased["data"][: len(polled)])
    assert leased["data"][-1]["leased_until"] is None

    # The operator acknowledges, retries and deletes by id.
    done = cli.json("tasks", "ack", task["id"], "--status", "error", "--message", "by hand")
    assert done == {"task_id": task["id"], "status": 200, "message": "error", "app_id": None}
    again = cli.fails("tasks", "ack", task["id"], status=404)
    assert again["code"] == "task_not_outstanding"
    retried = cli.json("tasks", "ack", queued[1]["id"], "--status", "retry")
    assert retried["message"] == "retry"
    shown = cli.json("tasks", "list", "--tenant", tenant.id, "--limit", "1")["data"][0]
    assert shown["id"] == queued[1]["id"]
    assert shown["available_at"] is not None
    assert shown["leased_until"] is None
    assert cli.json("tasks", "delete", queued[2]["id"]) == {
        "task_id": queued[2]["id"],
        "deleted": True,
    }
    assert cli.fails("tasks", "delete", queued[2]["id"], status=404)["code"] == "not_found"

    # The history, newest first, records who did what.
    history = cli.json("tasks", "history", "--tenant", tenant.id)
    assert history["more"] is False
    assert [(h["task_id"], h["status"]) for h in history["data"]] == [
        (queued[2]["id"], "deleted"),
        (queued[1]["id"], "retry"),
        (task["id"], "error"),
    ]
    assert history["data"][2]["message"] == "by hand"
    assert history["data"][2]["action"] == "TENANT_INSTALLED"
    assert {h["acked_by"] for h in history["data"]} == {"account:operator"}
    newest = cli.json("tasks", "history", "--tenant", tenant.id, "--limit", "2")
    assert newest == {"data": history["data"][:2], "more": True}
    # The same history over HTTP.
    over_http = http.get(
        f"/v2/platform/tenants/{tenant.id}/task-history", headers=basic(tenant.operator_key)
    ).json()["data"]
    assert over_http == history["data"]

    # On a terminal: tables, not JSON (on a wide one: a narrow one folds the cells).
    from interop_hub.cli import output

    monkeypatch.setattr(output.console, "width", 200)
    for args, expected in (
        (("tasks", "list", "--tenant", tenant.id, "--limit", "2"), "TENANT_ACTIVATED"),
        (("tasks", "history", "--tenant", tenant.id), "by hand"),
        (("tenants", "state", tenant.id), "setup_mode_enabled"),
        (("tenants", "resend", tenant.id), "tasks_queued"),
        (("tasks", "ack", queued[3]["id"]), "success"),
        (("tasks", "delete", queued[4]["id"]), "deleted"),
    ):
        result = cli.run(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert expected in text_of(result.stdout), args
        assert not result.stdout.lstrip().startswith("{"), args
    # A status the queue does not take from the command line is a usage error.
    assert cli.run("tasks", "ack", queued[5]["id"], "--status", "reauthenticate").exit_code == 2


def test_task_commands_not_found(cli: Cli, http: TestClient, tmp_path: Path) -> None:
    cli.json("db", "upgrade")
    missing = str(uuid.uuid4())
    for args in (
        ("tasks", "list", "--tenant", missing),
        ("tasks", "history", "--tenant", missing),
        ("tasks", "tail", "--tenant", missing, "--once"),
        ("tasks", "ack", missing),
        ("tasks", "delete", missing),
        ("tenants", "state", missing),
        ("tenants", "resend", missing),
    ):
        body = cli.fails(*args, status=404)
        assert missing in body["message"], args
    result = cli.run("tasks", "list", "--tenant", missing)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "404" in result.stderr
    result = cli.run("tasks", "history", "--tenant", missing, "--limit", "0")
    assert result.exit_code == 2


def test_tasks_tail(
    cli: Cli, http: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interop_hub.cli import task_commands

    tenant = installed_tenant(cli, http, tmp_path)

    # --once from the start of the queue: what is queued now.
    result = cli.run("tasks", "tail", "--tenant", tenant.id, "--after", "0", "--once", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [line] = result.stdout.splitlines()
    assert orjson.loads(line)["action"] == "TENANT_INSTALLED"

    # Following: each wait between polls is a moment in which something is queued, until the
    # operator presses Ctrl-C.
    events: Iterator[Callable[[], httpx.Response | None]] = iter(
        [
            lambda: http.post(
                f"/v2/platform/tenants/{tenant.id}/activate", headers=basic(tenant.operator_key)
            ),
            lambda: None,  # a second with nothing new
            lambda: http.post(
                f"/v2/platform/tenants/{tenant.id}/resend", headers=basic(tenant.operator_key)
            ),
        ]
    )
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        happen = next(events, None)
        if happen is None:
            raise KeyboardInterrupt
        response = happen()
        assert response is None or response.status_code == 200, response.text

    monkeypatch.setattr(task_commands, "sleep", wait)
    monkeypatch.setattr(task_commands, "TAIL_BATCH", 5)  # a sync is a burst of several polls
    result = cli.run("tasks", "tail", "--tenant", tenant.id, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert waits == [1.0] * 4
    tasks = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [t["sequence"] for t in tasks] == list(range(2, len(tasks) + 2))
    assert tasks[0]["action"] == "TENANT_ACTIVATED"
    assert [t["origin"] for t in tasks if t["type"] == "sync_event"] == [
        "initial",
        "initial",
        "resend",
        "resend",
    ]

    # --seconds bounds it; without --json it prints a line per task.
    monkeypatch.setattr(task_commands, "sleep", lambda _s: None)
    result = cli.run("tasks", "tail", "--tenant", tenant.id, "--after", "1", "--seconds", "0")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "following tenant" in text_of(result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == len(tasks)
    assert "TENANT_ACTIVATED" in lines[0]
    assert tasks[0]["id"] in lines[0]


# --- the tenant application (the district's side) ---------------------------------------------


APP_AUTHENTICATION = (
    '<Authentication Type="basic"><Property Name="username"/>'
    '<Property Name="password" Secret="true"/></Authentication>'
)
APP_PASSWORD = "Tr0ub4dor&3-secret"


def app_tenant(cli: Cli, http: TestClient) -> tuple[str, dict[str, str]]:
    """A tenant of a version that declares basic credentials; its id and actor headers."""
    cli.json("db", "upgrade")
    vendor = cli.json("accounts", "create", "--name", "Acme", "--type", "developer")
    district = cli.json("accounts", "create", "--name", "Springfield USD")
    cloud = cli.json("clouds", "create", "--account", district["id"], "--name", "Springfield")
    headers = basic(vendor["api_key"])
    integration = http.post(
        "/v2/interop/integrations", json={"name": "acme-lms"}, headers=headers
    ).json()["data"]
    document = full_blueprint("1.0").replace(
        "</Integration>", f"{APP_AUTHENTICATION}</Integration>"
    )
    response = http.post(
        f"/v2/interop/integrations/{integration['id']}/versions",
        content=document,
        headers={**headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    tenant = cli.json(
        "tenants", "install", "--cloud", cloud["id"], "--integration", integration["id"]
    )
    token = get_token(http, tenant["client_id"], tenant["client_secret"]).json()["access_token"]
    return tenant["id"], bearer(token)


def test_the_tenant_application_from_the_command_line(
    cli: Cli, http: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id, actor = app_tenant(cli, http)
    shown = cli.json("tenants", "app", tenant_id)
    assert (shown["auth_type"], shown["auth_state_pending"], shown["deliver_tasks"]) == (
        "basic",
        "unspecified",
        True,
    )

    # Pending credentials from --prop and from a JSON file (kept out of the process list).
    props = tmp_path / "props.json"
    props.write_bytes(orjson.dumps({"password": APP_PASSWORD}))
    opened = cli.json(
        "tenants",
        "app-auth",
        tenant_id,
        "--prop",
        "username=district-7",
        "--props-file",
        str(props),
    )
    assert opened["auth_session_id_pending"] == opened["session_id"]
    assert opened["auth_state_pending"] == "updating"
    assert opened["auth_props_pending"] == {"username": "district-7", "password": "********"}
    queued = cli.json("tasks", "list", "--tenant", tenant_id)["data"]
    assert [t["type"] for t in queued] == ["lifecycle_event", "authenticate"]
    assert queued[1]["data"] == {"username": "********", "password": "********"}

    # Refusals are error envelopes that never repeat a value.
    assert cli.fails("tenants", "app-auth", tenant_id, "--prop", "username", status=400)
    unknown = cli.fails("tenants", "app-auth", tenant_id, "--prop", "pin=1234", status=400)
    assert unknown["code"] == "unknown_property"
    long_secret = "x" * 10_001
    result = cli.run(
        "tenants", "app-auth", tenant_id, "--prop", f"password={long_secret}", "--json"
    )
    assert result.exit_code == 1
    assert long_secret not in result.stdout
    assert cli.fails("tenants", "app-auth", tenant_id, "--props-file", str(tmp_path), status=400)

    # The driver confirms the session over HTTP.
    response = http.patch(
        "/v2/interop/tenant/application",
        json={"auth_state_pending": "confirmed", "auth_message": "ok"},
        headers=actor,
    )
    assert response.status_code == 204, response.text
    confirmed = cli.json("tenants", "app", tenant_id)
    assert confirmed["auth_state"] == "confirmed"
    assert confirmed["auth_props"] == {"username": "district-7", "password": "********"}

    changed = cli.json(
        "tenants", "app-set", tenant_id, "--no-deliver-tasks", "--option", "region=us"
    )
    assert (changed["deliver_tasks"], changed["options"]) == (False, {"region": "us"})
    kept = cli.json("tenants", "app-set", tenant_id, "--validate-tasks")
    assert (kept["deliver_tasks"], kept["validate_tasks"], kept["options"]) == (
        False,
        True,
        {"region": "us"},
    )
    cleared = cli.json("tenants", "app-set", tenant_id, "--deliver-tasks", "--clear-options")
    assert (cleared["deliver_tasks"], cleared["options"]) == (True, {})

    trail = cli.json("tenants", "app-sessions", tenant_id)
    assert trail["more"] is False
    [session] = trail["data"]
    assert (session["id"], session["state"], session["message"]) == (
        opened["session_id"],
        "confirmed",
        "ok",
    )
    assert session["opened_by"] == "account:operator"
    assert session["properties"] == ["password", "username"]

    missing = "00000000-0000-0000-0000-000000000000"
    for command in ("app", "app-sessions"):
        assert cli.fails("tenants", command, missing, status=404)
    assert cli.fails("tenants", "app-auth", missing, "--prop", "username=u", status=404)

    from interop_hub.cli import output

    monkeypatch.setattr(output.console, "width", 200)
    result = cli.run("tenants", "app", tenant_id)
    assert result.exit_code == 0, result.stdout
    assert "auth_state_pending" in text_of(result.stdout)
    assert APP_PASSWORD not in result.stdout
