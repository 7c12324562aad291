"""A cloud's first collection on PostgreSQL reads enrollments.csv while it writes the
memberships (``service._read``, ``defer_memberships``): when it does, and that its outcome —
rows, row errors, counts, remembered lines, a hold — is that of a collection that read every
file first."""

from __future__ import annotations

import csv
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district, generate_nightly
from fastapi.testclient import TestClient
from sqlalchemy import select

from interop_hub.ingest import planning
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion, IngestionError
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.ondemand import OnDemand
from interop_hub.repository.models import RepoMembership, membership_id
from interop_hub.runtime import Hub
from interop_hub.worker import run_pending
from tests.conftest import Database
from tests.factories import make_world
from tests.factories import run_collection as collect

STUDENTS = 60


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A district with rejected rows in enrollments.csv and in the files read after it."""
    out = tmp_path_factory.mktemp("deferred") / "night1"
    generate_district(out, students=STUDENTS, seed=11)
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "beginDate", "2024-02-30", 2, 5))
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "userSourcedId", "nobody", 7))
    rewrite(out, "demographics", lambda rows: _spoil(rows, "sourcedId", "ghost", 1))
    return out


@pytest.fixture(scope="module")
def next_night(district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deferred") / "night2"
    generate_nightly(district, out, seed=12, change_rate=0.05)
    return out


def rewrite(
    folder: Path, name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]
) -> None:
    path = folder / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or ()), list(reader)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(change(rows))


def _spoil(rows: list[dict[str, str]], column: str, value: str, *at: int) -> list[dict[str, str]]:
    for index in at:
        rows[index][column] = value
    return rows


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read of a bundle by the service deferred the memberships."""
    seen: list[bool] = []
    real = read_bundle

    def reading(*args: Any, **kwargs: Any) -> Any:
        seen.append(bool(kwargs.get("defer_memberships")))
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "read_bundle", reading)
    return seen


def new_cloud(client: TestClient, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


def outcome(hub: Hub, done: Ingestion) -> dict[str, Any]:
    """What a collection recorded and what the cloud holds after it (ids aside: they are the
    cloud's own)."""
    with transaction(hub.sessions) as session:
        ingestion = session.get(Ingestion, done.id)
        assert ingestion is not None
        errors = session.execute(
            select(IngestionError.file, IngestionError.line, IngestionError.reason)
            .where(IngestionError.ingestion_id == done.id)
            .order_by(IngestionError.id)
        ).all()
        members = session.execute(
            select(RepoMembership.source_id, RepoMembership.digest).where(
                RepoMembership.cloud_id == ingestion.cloud_id
            )
        ).all()
        return {
            "state": ingestion.state,
            "counts": (
                ingestion.rows_read,
                ingestion.rows_rejected,
                ingestion.objects_added,
                ingestion.objects_updated,
                ingestion.objects_deleted,
            ),
            "skipped": ingestion.details.get("lines_skipped"),
            "errors": [tuple(e) for e in errors],
            "memberships": sorted(tuple(m) for m in members),
        }


def test_only_a_first_collection_on_postgresql_defers_and_gives_the_same_outcome(
    client: TestClient,
    hub: Hub,
    database: Database,
    district: Path,
    next_night: Path,
    reads: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deferring = database.backend == "postgresql"
    first = new_cloud(client, hub)
    deferred = [outcome(hub, collect(hub, first, d)) for d in (district, next_night)]
    assert reads == [deferring, False]  # the nightly has memberships and remembered lines

    monkeypatch.setattr(ingest, "nothing_of", lambda session, cloud_id, kind: False)
    second = new_cloud(client, hub)
    at_once = [outcome(hub, collect(hub, second, d)) for d in (district, next_night)]
    assert reads[2:] == [False, False]

    assert deferred == at_once
    initial = deferred[0]
    assert initial["state"] == "success"
    assert ("enrollments.csv", 4, "bad date '2024-02-30' (expected YYYY-MM-DD)") in initial[
        "errors"
    ]
    files = [file for file, _, _ in initial["errors"]]
    assert files == sorted(files, key=["enrollments.csv", "demographics.csv"].index)
    assert deferred[1]["skipped"]  # the nightly skipped lines the first one remembered


def delta_bundle(source: Path, target: Path) -> Path:
    """``source`` without enrollments, every other file delta (so nothing is remembered)."""
    shutil.copytree(source, target)
    (target / "enrollments.csv").unlink()
    for path in target.glob("*.csv"):
        if path.name != "manifest.csv":
            rewrite(
                target,
                path.stem,
                lambda rows: [
                    {**r, "status": "active", "dateLastModified": "2024-09-01T00:00:00Z"}
                    for r in rows
                ],
            )
    manifest = (target / "manifest.csv").read_text(encoding="utf-8")
    manifest = manifest.replace(",bulk", ",delta").replace("file.enrollments,delta", "")
    (target / "manifest.csv").write_text(manifest, encoding="utf-8")
    return target


def test_a_held_first_collection_of_memberships_records_every_row_error(
    client: TestClient,
    hub: Hub,
    database: Database,
    district: Path,
    tmp_path: Path,
    reads: list[bool],
) -> None:
    cloud = new_cloud(client, hub)
    assert collect(hub, cloud, delta_bundle(district, tmp_path / "objects")).state == "success"
    shrunk = tmp_path / "shrunk"
    shutil.copytree(district, shrunk)
    rewrite(shrunk, "classes", lambda rows: rows[: len(rows) // 3])
    enrollments = read_bundle(district).memberships
    with (shrunk / "classes.csv").open(encoding="utf-8", newline="") as handle:
        kept = {row["sourcedId"] for row in csv.DictReader(handle)}

    held = collect(hub, cloud, shrunk)
    assert held.state == "scheduled"
    assert held.mass_change_pending
    assert reads[-1] == (database.backend == "postgresql")
    unknown_class = [m for m in enrollments if m.section_source_id not in kept]
    assert held.rows_rejected == len(unknown_class) + 4  # and the district's own 4
    assert held.objects_added == len(enrollments) - len(unknown_class)

    with write_transaction(hub.sessions) as session:
        ingest.approve(session, held.id)
    assert run_pending(hub) == 1
    with transaction(hub.sessions) as session:
        done = session.get(Ingestion, held.id)
        assert done is not None
        assert done.state == "success"
        stored = session.scalars(
            select(RepoMembership.source_id).where(RepoMembership.cloud_id == cloud)
        ).all()
    assert sorted(stored) == sorted(m.source_id for m in enrollments if m.section_source_id in kept)


def test_memberships_deferred_for_a_cloud_that_has_some_by_now_keep_rejected_rows(
    client: TestClient, hub: Hub, district: Path, tmp_path: Path
) -> None:
    """A bundle read deferred, as for a cloud without memberships, planned once another
    collection gave it some: a row rejected now must not delete the membership it had."""
    cloud = new_cloud(client, hub)
    assert collect(hub, cloud, district).state == "success"
    spoiled = tmp_path / "spoiled"
    shutil.copytree(district, spoiled)
    rewrite(spoiled, "enrollments", lambda rows: _spoil(rows, "role", "wizard", 0))
    first = read_bundle(district).memberships[0].source_id

    bundle = read_bundle(spoiled, defer_memberships=True)
    assert isinstance(bundle.memberships, OnDemand)
    with transaction(hub.sessions) as session:
        plan = planning.plan_collection(session, cloud, bundle)
    assert bundle.memberships.complete
    assert membership_id(cloud, first) not in plan.memberships.deletes
    assert any(e.source_id == first and e.column == "role" for e in bundle.errors)
    assert plan.counts() == (0, 0, 0)
