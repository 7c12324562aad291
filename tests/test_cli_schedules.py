"""``interop-hub schedules``: a cloud's collection schedules from the command line, on SQLite and
on PostgreSQL (the ``cli`` fixture of test_cli gives each test a database of its own)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.test_cli import Cli, cli, database_url, text_of

__all__ = ["cli", "database_url"]


@pytest.fixture(autouse=True)
def _migrated(cli: Cli) -> None:
    assert cli.run("db", "upgrade").exit_code == 0


def _cloud(cli: Cli) -> str:
    district = cli.json("accounts", "create", "--name", "D", "--type", "education_agency")
    cloud: str = cli.json("clouds", "create", "--account", district["id"], "--name", "C")["id"]
    return cloud


def test_schedules_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    cloud = _cloud(cli)
    assert cli.json("schedules", "list", "--cloud", cloud) == {"data": [], "more": False}

    created = cli.json("schedules", "create", "--cloud", cloud, "--hour", "3")
    assert (created["hour"], created["days"], created["type"]) == (3, "daily", "collection")
    assert created["enabled"] is True
    assert created["cloud_id"] == cloud
    schedule = created["id"]

    clash = cli.fails("schedules", "create", "--cloud", cloud, "--hour", "3", status=409)
    assert clash["details"] == {"schedule_id": schedule, "hour": 3}
    cli.fails("schedules", "create", "--cloud", cloud, "--hour", "24", status=400)
    other = cli.json("schedules", "create", "--cloud", cloud, "--hour", "15")

    listed = cli.json("schedules", "list", "--cloud", cloud)
    assert sorted(s["id"] for s in listed["data"]) == sorted([schedule, other["id"]])
    assert cli.json("schedules", "show", schedule, "--cloud", cloud) == created

    assert cli.json("schedules", "disable", schedule, "--cloud", cloud)["enabled"] is False
    disabled = cli.fails("schedules", "run", schedule, "--cloud", cloud, status=409)
    assert disabled["code"] == "schedule_disabled"
    assert cli.json("schedules", "enable", schedule, "--cloud", cloud)["enabled"] is True

    # No connector: nothing to collect from.
    cli.fails("schedules", "run", schedule, "--cloud", cloud, status=400)
    cli.json("connectors", "create", "--cloud", cloud, "--source", str(tmp_path))
    queued = cli.json("schedules", "run", schedule, "--cloud", cloud)
    assert queued["cloud_id"] == cloud
    assert queued["state"] == "preparing"
    shown = cli.json("ingestions", "show", queued["id"])
    assert shown["id"] == queued["id"]
    assert cli.json("schedules", "show", schedule, "--cloud", cloud)["last_executed_at"]
    pending = cli.fails("schedules", "run", schedule, "--cloud", cloud, status=409)
    assert pending["code"] == "ingestion_pending"

    assert cli.json("schedules", "delete", schedule, "--cloud", cloud) == {
        "schedule_id": schedule,
        "deleted": True,
    }
    cli.fails("schedules", "show", schedule, "--cloud", cloud, status=404)
    listed = cli.json("schedules", "list", "--cloud", cloud)
    assert [s["id"] for s in listed["data"]] == [other["id"]]


def test_schedules_not_found(cli: Cli) -> None:
    cloud = _cloud(cli)
    other_cloud = _cloud(cli)
    schedule = cli.json("schedules", "create", "--cloud", cloud, "--hour", "7")["id"]
    missing = str(uuid.uuid4())
    cli.fails("schedules", "list", "--cloud", missing, status=404)
    cli.fails("schedules", "create", "--cloud", missing, "--hour", "1", status=404)
    for command in ("show", "enable", "disable", "run", "delete"):
        cli.fails("schedules", command, missing, "--cloud", cloud, status=404)
        # Another cloud's schedule is not found either.
        cli.fails("schedules", command, schedule, "--cloud", other_cloud, status=404)
    assert cli.json("schedules", "show", schedule, "--cloud", cloud)["enabled"] is True


def test_schedules_tables(cli: Cli) -> None:
    cloud = _cloud(cli)
    created = cli.json("schedules", "create", "--cloud", cloud, "--hour", "5")
    listed = cli.run("schedules", "list", "--cloud", cloud)
    assert listed.exit_code == 0, listed.stderr
    assert created["id"] in listed.stdout
    assert "05:00" in listed.stdout
    missing = cli.run("schedules", "show", str(uuid.uuid4()), "--cloud", cloud)
    assert missing.exit_code == 1
    assert "404" in text_of(missing.stderr)
