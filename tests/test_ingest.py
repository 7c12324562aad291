"""Collections into the Repository, on SQLite and PostgreSQL: counts, stable ids, change sets,
the mass-change hold, failures that change nothing, and the ingestion API."""

from __future__ import annotations

import csv
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district, generate_nightly
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from interop_hub.ingest import service as ingest
from interop_hub.ingest.changes import change_set
from interop_hub.ingest.models import Ingestion, RepoChange
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.repository.models import RepoMembership, RepoObject, object_id
from interop_hub.runtime import Hub
from interop_hub.worker import run_pending
from tests.factories import data, error, install, make_world, token
from tests.factories import run_collection as collect

STUDENTS = 120


@pytest.fixture(scope="session")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("district") / "night1"
    generate_district(out, students=STUDENTS, seed=7)
    return out


@pytest.fixture(scope="session")
def next_night(district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("district") / "night2"
    generate_nightly(district, out, seed=8, change_rate=0.05)
    return out


def counts(hub: Hub, cloud_id: uuid.UUID) -> dict[str, int]:
    with transaction(hub.sessions) as session:
        rows = session.execute(
            select(RepoObject.kind, func.count())
            .where(RepoObject.cloud_id == cloud_id)
            .group_by(RepoObject.kind)
        ).all()
        members = session.scalar(
            select(func.count())
            .select_from(RepoMembership)
            .where(RepoMembership.cloud_id == cloud_id)
        )
    return {**dict(rows), "membership": int(members or 0)}


def file_rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def cloud(client: TestClient, hub: Hub) -> uuid.UUID:
    world = make_world(client, hub)
    return uuid.UUID(world.cloud_id)


def test_initial_collection_fills_the_repository(
    hub: Hub, cloud: uuid.UUID, district: Path
) -> None:
    done = collect(hub, cloud, district)
    assert done.state == "success", done.message
    users = file_rows(district, "users")
    enrollments = file_rows(district, "enrollments")
    found = counts(hub, cloud)
    assert found["person"] == len(users)
    assert found["section"] == len(file_rows(district, "classes"))
    assert found["membership"] == len(enrollments)
    assert done.rows_rejected == 0
    assert done.objects_added == sum(found.values())
    assert done.objects_updated == done.objects_deleted == 0
    with transaction(hub.sessions) as session:
        changes = list(change_set(session, done.id))
    assert len(changes) == done.objects_added
    first = changes[0]
    assert first.kind == "org"
    assert first.action == "ADD"


def test_same_bundle_again_changes_nothing_and_ids_are_stable(
    hub: Hub, cloud: uuid.UUID, district: Path
) -> None:
    collect(hub, cloud, district)
    student = next(u for u in file_rows(district, "users") if u["role"] == "student")
    with transaction(hub.sessions) as session:
        before = session.get(RepoObject, (object_id(cloud, "person", student["sourcedId"]), cloud))
        assert before is not None
        first_id, created = before.id, before.created_at
    again = collect(hub, cloud, district)
    assert again.state == "success"
    assert (again.objects_added, again.objects_updated, again.objects_deleted) == (0, 0, 0)
    with transaction(hub.sessions) as session:
        after = session.get(RepoObject, (first_id, cloud))
        assert after is not None
        assert after.created_at == created
        assert after.source_id == student["sourcedId"]


def test_nightly_change_set_has_prior_values(
    hub: Hub, cloud: uuid.UUID, district: Path, next_night: Path
) -> None:
    hub.settings.mass_change_threshold = 1.0
    collect(hub, cloud, district)
    night = collect(hub, cloud, next_night)
    assert night.state == "success", night.message
    assert night.objects_added > 0
    assert night.objects_updated > 0
    assert night.objects_deleted > 0
    assert counts(hub, cloud)["person"] == len(file_rows(next_night, "users"))
    with transaction(hub.sessions) as session:
        changes = session.scalars(
            select(RepoChange).where(RepoChange.ingestion_id == night.id).order_by(RepoChange.seq)
        ).all()
    updates = [c for c in changes if c.action == "UPDATE"]
    assert updates
    assert all(c.prior for c in updates)
    deletes = [c for c in changes if c.action == "DELETE"]
    assert deletes
    assert all(c.prior for c in deletes)
    # adds and updates before deletes; deletes of memberships before deletes of persons
    actions = [c.action for c in changes]
    after_first_delete = actions[actions.index("DELETE") :]
    assert set(after_first_delete) == {"DELETE"}
    kinds_deleted = [c.kind for c in deletes]
    if "membership" in kinds_deleted and "person" in kinds_deleted:
        assert kinds_deleted.index("membership") < kinds_deleted.index("person")
    # a changed person's prior values are the ones it had
    changed = next(c for c in updates if c.kind == "person")
    with transaction(hub.sessions) as session:
        now = session.get(RepoObject, (changed.object_id, cloud))
    assert now is not None
    assert changed.prior is not None
    for key, prior in changed.prior.items():
        if not key.startswith("$"):
            assert now.data.get(key) != prior


def test_a_mass_change_is_held_until_approved(
    hub: Hub, cloud: uuid.UUID, district: Path, tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    shrunk = tmp_path / "shrunk"
    shutil.copytree(district, shrunk)
    rows = file_rows(district, "enrollments")
    with (shrunk / "enrollments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[: len(rows) // 3])
    before = counts(hub, cloud)

    held = collect(hub, cloud, shrunk)
    assert held.state == "scheduled"
    assert held.mass_change_pending
    assert held.message is not None
    assert "approve" in held.message
    assert counts(hub, cloud) == before

    with write_transaction(hub.sessions) as session:
        ingest.approve(session, held.id)
    assert run_pending(hub) == 1
    with transaction(hub.sessions) as session:
        done = session.get(Ingestion, held.id)
        assert done is not None
        assert done.state == "success"
        assert not done.mass_change_pending
    assert counts(hub, cloud)["membership"] == len(rows) // 3


def test_a_rejected_mass_change_changes_nothing(
    hub: Hub, cloud: uuid.UUID, district: Path, tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    empty = tmp_path / "empty"
    shutil.copytree(district, empty)
    (empty / "enrollments.csv").write_text(
        (district / "enrollments.csv").read_text(encoding="utf-8").splitlines()[0] + "\n",
        encoding="utf-8",
    )
    before = counts(hub, cloud)
    held = collect(hub, cloud, empty)
    assert held.state == "scheduled"
    with write_transaction(hub.sessions) as session:
        rejected = ingest.reject(session, held.id, hub.now())
        assert rejected.state == "cancelled"
    assert run_pending(hub) == 0
    assert counts(hub, cloud) == before


def test_an_unreadable_bundle_fails_and_changes_nothing(
    hub: Hub, cloud: uuid.UUID, district: Path, tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    before = counts(hub, cloud)
    broken = tmp_path / "broken"
    shutil.copytree(district, broken)
    (broken / "manifest.csv").unlink()
    failed = collect(hub, cloud, broken)
    assert failed.state == "failed"
    assert failed.message is not None
    assert "manifest" in failed.message
    assert counts(hub, cloud) == before


def test_rejected_rows_are_recorded_and_good_rows_go_in(
    client: TestClient, hub: Hub, district: Path, tmp_path: Path
) -> None:
    world = make_world(client, hub)
    cloud = uuid.UUID(world.cloud_id)
    bad = tmp_path / "bad"
    shutil.copytree(district, bad)
    users = file_rows(district, "users")
    users[3]["role"] = "wizard"
    with (bad / "users.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(users[0]))
        writer.writeheader()
        writer.writerows(users)
    done = collect(hub, cloud, bad)
    assert done.state == "success"
    assert done.rows_rejected >= 1
    assert counts(hub, cloud)["person"] == len(users) - 1

    errors = data(
        client.get(f"/v2/interop/ingestions/{done.id}/errors", headers=world.district.headers)
    )
    role_error = next(e for e in errors if e["file"] == "users.csv" and e["line"] == 5)
    assert role_error["column"] == "role"
    assert "wizard" in role_error["reason"]
    assert role_error["source_id"] == users[3]["sourcedId"]


def test_ingestions_api_is_scoped_to_the_cloud(
    client: TestClient, hub: Hub, district: Path
) -> None:
    world = make_world(client, hub)
    done = collect(hub, uuid.UUID(world.cloud_id), district)
    mine = world.district.headers
    listed = data(client.get("/v2/interop/ingestions", headers=mine))
    assert [i["id"] for i in listed] == [str(done.id)]
    assert client.get("/v2/interop/ingestions/count", headers=mine).json() == 1
    found = data(client.get(f"/v2/interop/ingestions/{done.id}", headers=mine))
    assert found["state"] == "success"
    assert found["has_pending_task"] is False
    assert found["counts"]["objects_added"] == done.objects_added

    other = world.other_district.headers
    assert data(client.get("/v2/interop/ingestions", headers=other)) == []
    assert client.get("/v2/interop/ingestions/count", headers=other).json() == 0
    error(client.get(f"/v2/interop/ingestions/{done.id}", headers=other), 404)
    error(client.get(f"/v2/interop/ingestions/{done.id}/errors", headers=other), 404)
    error(client.get(f"/v2/interop/ingestions/{uuid.uuid4()}", headers=mine), 404)
    error(client.get("/v2/interop/ingestions/not-a-uuid", headers=mine), 400)
    error(client.get("/v2/interop/ingestions"), 401)

    tenant = install(client, world)
    actor = {
        "Authorization": f"Bearer {token(client, tenant['client_id'], tenant['client_secret'])}"
    }
    assert [i["id"] for i in data(client.get("/v2/interop/ingestions", headers=actor))] == [
        str(done.id)
    ]


def test_operator_uploads_a_zip_and_a_worker_collects_it(
    client: TestClient, hub: Hub, district: Path, tmp_path: Path
) -> None:
    world = make_world(client, hub)
    archive = Path(shutil.make_archive(str(tmp_path / "bundle"), "zip", district))
    ops = world.operator.headers
    queued = data(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/ingestions",
            content=archive.read_bytes(),
            headers={**ops, "Content-Type": "application/zip"},
        ),
        202,
    )
    assert queued["state"] == "preparing"
    assert queued["has_pending_task"] is True
    assert run_pending(hub) == 1
    done = data(client.get(f"/v2/interop/ingestions/{queued['id']}", headers=ops))
    assert done["state"] == "success"
    assert done["counts"]["objects_added"] == sum(counts(hub, uuid.UUID(world.cloud_id)).values())


def test_upload_that_is_not_a_zip_is_refused(client: TestClient, hub: Hub) -> None:
    world = make_world(client, hub)
    failure = error(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/ingestions",
            content=b"sourcedId,status\n",
            headers={**world.operator.headers, "Content-Type": "application/zip"},
        ),
        400,
    )
    assert "zip" in failure["message"]
    assert data(client.get("/v2/interop/ingestions", headers=world.operator.headers)) == []


def test_start_with_a_missing_source_is_refused(client: TestClient, hub: Hub) -> None:
    world = make_world(client, hub)
    failure = error(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/ingestions",
            json={"source": "/nonexistent/drop"},
            headers=world.operator.headers,
        ),
        400,
    )
    assert "does not exist" in failure["message"]
    none: Any = error(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/ingestions", headers=world.operator.headers
        ),
        400,
    )
    assert "connector" in none["message"]
