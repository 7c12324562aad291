"""A collection killed with SIGKILL in the middle of writing changes nothing; the worker then
marks it failed, and running it again succeeds (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from bench.generate_district import generate_district, generate_nightly
from sqlalchemy import func, select

from interop_hub.clouds.schemas import CloudCreate
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.settings import Settings
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.runtime import Hub, build_hub
from interop_hub.worker import run_pending
from tests.conftest import TEST_SECRET


def _collect_until_killed(url: str, data_dir: str, ingestion_id: str, marker: str) -> None:
    """Child process: claim and run the collection, stopping for good once persons are being
    written (the parent kills it there, with the transaction open)."""
    hub = build_hub(Settings(database_url=url, secret_key=TEST_SECRET, data_dir=Path(data_dir)))
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
    marker = tmp_path / "writing"
    child = multiprocessing.get_context("spawn").Process(
        target=_collect_until_killed,
        args=(hub.settings.database_url, str(hub.settings.data_dir), str(nightly), str(marker)),
    )
    child.start()
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.is_alive(), "the collecting process ended before it started writing"
        assert time.monotonic() < deadline, "the collecting process never started writing"
        time.sleep(0.05)
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


@pytest.fixture(autouse=True)
def _no_leftover_children() -> object:
    yield None
    for child in multiprocessing.active_children():
        child.kill()
