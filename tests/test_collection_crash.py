"""A collection killed with SIGKILL in the middle of writing changes nothing; the worker then
marks it failed, and running it again succeeds (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path
from typing import cast

import pytest
from bench.generate_district import generate_district, generate_nightly
from sqlalchemy import Table, func, select, text

from interop_hub.clouds.schemas import CloudCreate
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.settings import Settings
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.runtime import Hub, build_hub
from interop_hub.worker import run_pending
from tests.conftest import TEST_SECRET

MEMBERSHIPS = cast(Table, RepoMembership.__table__)


def _collect_until_killed(
    url: str, data_dir: str, ingestion_id: str, marker: str, loader_min: int | None = None
) -> None:
    """Child process: claim and run the collection, stopping for good once persons are being
    written (the parent kills it there, with the transaction open). ``loader_min``: the
    setting ``loader_min_enrollments_bytes``, if not the default."""
    settings = Settings(database_url=url, secret_key=TEST_SECRET, data_dir=Path(data_dir))
    if loader_min is not None:
        settings = settings.model_copy(update={"loader_min_enrollments_bytes": loader_min})
    hub = build_hub(settings)
    with write_transaction(hub.sessions) as session:
        assert ingest.claim(session, uuid.UUID(ingestion_id), hub.now())

    def progress(phase: str) -> None:
        if phase == "writing person":
            Path(marker).write_text(phase, encoding="utf-8")
            time.sleep(120)

    ingest.run(hub, uuid.UUID(ingestion_id), progress)


def _counts(hub: Hub, cloud_id: uuid.UUID) -> tuple[int, int, int]:
    with transaction(hub.sessions) as session:
        objects = session.scalar(
            select(func.count()).select_from(RepoObject).where(RepoObject.cloud_id == cloud_id)
        )
        members = session.scalar(
            select(func.count())
            .select_from(RepoMembership)
            .where(RepoMembership.cloud_id == cloud_id)
        )
        digests = session.scalar(
            select(func.count())
            .select_from(RepoObject)
            .where(RepoObject.cloud_id == cloud_id, RepoObject.updated_at > RepoObject.created_at)
        )
    return int(objects or 0), int(members or 0), int(digests or 0)


def _queue(hub: Hub, cloud_id: uuid.UUID, source: Path) -> uuid.UUID:
    with write_transaction(hub.sessions) as session:
        return ingest.queue_ingestion(session, cloud_id, str(source), now=hub.now()).id


def _state(hub: Hub, ingestion_id: uuid.UUID) -> Ingestion:
    with transaction(hub.sessions) as session:
        found = session.get(Ingestion, ingestion_id)
        assert found is not None
        return found


def test_killed_collection_changes_nothing_and_can_run_again(own_hub: Hub, tmp_path: Path) -> None:
    hub = own_hub
    first, second = tmp_path / "night1", tmp_path / "night2"
    generate_district(first, students=300, seed=5)
    generate_nightly(first, second, seed=6, change_rate=0.05)
    with write_transaction(hub.sessions) as session:
        account = platform.create_account(
            session, AccountCreate(name="District", type="education_agency")
        )
        cloud_id = platform.create_cloud(session, account.id, CloudCreate(name="Crash")).id

    initial = _queue(hub, cloud_id, first)
    with write_transaction(hub.sessions) as session:
        assert ingest.claim(session, initial, hub.now())
    assert ingest.run(hub, initial).state == "success"
    before = _counts(hub, cloud_id)

    nightly = _queue(hub, cloud_id, second)
    child = _writing(hub, nightly, tmp_path / "writing")
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL

    assert _counts(hub, cloud_id) == before
    assert _state(hub, nightly).state == "executing"

    assert run_pending(hub) == 0  # the worker notices the dead run
    failed = _state(hub, nightly)
    assert failed.state == "failed"
    assert failed.message is not None
    assert "stopped before it finished" in failed.message
    assert _counts(hub, cloud_id) == before

    again = _queue(hub, cloud_id, second)
    assert run_pending(hub) == 1
    done = _state(hub, again)
    assert done.state == "success", done.message
    assert done.objects_added > 0
    assert done.objects_updated > 0
    assert done.objects_deleted > 0
    assert _counts(hub, cloud_id) != before


def _writing(
    hub: Hub, ingestion_id: uuid.UUID, marker: Path, loader_min: int | None = None
) -> multiprocessing.process.BaseProcess:
    """A child process running the collection, once it writes persons (it waits there)."""
    child = multiprocessing.get_context("spawn").Process(
        target=_collect_until_killed,
        args=(
            hub.settings.database_url,
            str(hub.settings.data_dir),
            str(ingestion_id),
            str(marker),
            loader_min,
        ),
    )
    child.start()
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.is_alive(), "the collecting process ended before it started writing"
        assert time.monotonic() < deadline, "the collecting process never started writing"
        time.sleep(0.05)
    return child


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8")
    return [int(child) for child in listed.split()]


def _wait_gone(pid: int, seconds: float = 60) -> None:
    """Wait until process ``pid`` has exited (a zombie counts as gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        if "\nState:\tZ" in status:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still running")


def test_killed_first_collection_with_a_loader_leaves_nothing(own_hub: Hub, tmp_path: Path) -> None:
    """A cloud's first collection, its memberships read and written by a loader process
    (PostgreSQL; SQLite collects without one): killed while it writes persons, it leaves no
    row, no partition and, once its loader noticed and the worker came by, no table."""
    hub = own_hub
    bundle = tmp_path / "night1"
    generate_district(bundle, students=300, seed=5)
    with write_transaction(hub.sessions) as session:
        account = platform.create_account(
            session, AccountCreate(name="District", type="education_agency")
        )
        cloud_id = platform.create_cloud(session, account.id, CloudCreate(name="Crash")).id
    initial = _queue(hub, cloud_id, bundle)
    child = _writing(hub, initial, tmp_path / "writing", loader_min=0)
    assert child.pid is not None
    postgresql = hub.engine.dialect.name == "postgresql"
    loaders = _children(child.pid)
    assert len(loaders) == (1 if postgresql else 0)
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    for loader in loaders:
        _wait_gone(loader)

    assert _counts(hub, cloud_id) == (0, 0, 0)
    assert run_pending(hub) == 0  # the worker notices the dead run, drops what it left
    assert _state(hub, initial).state == "failed"
    with transaction(hub.sessions) as session:
        assert partitions.has_partition(session, MEMBERSHIPS, cloud_id) is not postgresql
        if postgresql:
            left = session.scalars(
                text("SELECT relname FROM pg_class WHERE relname LIKE 'repo_memberships_load%'")
            ).all()
            assert left == []

    again = _queue(hub, cloud_id, bundle)
    assert run_pending(hub) == 1
    assert _state(hub, again).state == "success"
    assert _counts(hub, cloud_id)[1] > 0


@pytest.fixture(autouse=True)
def _no_leftover_children() -> object:
    yield None
    for child in multiprocessing.active_children():
        child.kill()
