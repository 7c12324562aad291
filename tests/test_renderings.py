"""The renderings stored after a collection (``interop_hub.tasks.renderings``), on SQLite and
PostgreSQL: the worker runs the pass after each ingestion and when it starts, ``interop-hub
ingest --wait`` after its run, and an error in the pass never fails the ingestion."""

from __future__ import annotations

import logging
import signal
import uuid
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from interop_hub import worker
from interop_hub.cli import ingest_commands
from interop_hub.demo.district import generate_district, generate_nightly
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.repository.models import RepoObject
from interop_hub.runtime import Hub
from interop_hub.tasks import payloads, render, renderings
from interop_hub.worker import run_pending
from tests.factories import make_world

STUDENTS = 40


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("renderings")
    generate_district(root / "night1", students=STUDENTS, seed=11)
    generate_nightly(root / "night1", root / "night2", seed=12, change_rate=0.1)
    return root / "night1", root / "night2"


@pytest.fixture
def cloud(client: TestClient, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


def queue(hub: Hub, cloud_id: uuid.UUID, source: Path) -> uuid.UUID:
    with write_transaction(hub.sessions) as session:
        return ingest.queue_ingestion(session, cloud_id, str(source), now=hub.now()).id


def assert_all_rendered(hub: Hub, cloud_id: uuid.UUID) -> None:
    """Every object has a current payload, and it is the object rendered live."""
    with transaction(hub.sessions) as session:
        ids = session.scalars(select(RepoObject.id).where(RepoObject.cloud_id == cloud_id)).all()
        assert ids
        epoch = payloads.epoch_of(session, cloud_id)
        current = payloads.current(session, cloud_id, epoch, ids)
        assert set(current) == set(ids)
        bodies = payloads.bodies(session, list(current.values()))
        live = {item.id: item.raw for item in render.object_bytes(session, cloud_id, ids)}
        stored = {i: orjson.dumps(bodies[p], option=orjson.OPT_UTC_Z) for i, p in current.items()}
        assert stored == live


def test_the_worker_stores_the_renderings_after_each_ingestion(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path]
) -> None:
    queue(hub, cloud, nights[0])
    assert run_pending(hub) == 1
    assert_all_rendered(hub, cloud)
    queue(hub, cloud, nights[1])
    assert run_pending(hub) == 1
    assert_all_rendered(hub, cloud)
    with transaction(hub.sessions) as session:
        assert renderings.unrendered(session, cloud) == []


def test_a_failing_pass_is_logged_and_the_ingestion_stands(
    hub: Hub,
    cloud: uuid.UUID,
    nights: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_hub: Hub, _cloud: uuid.UUID, chunk: int = renderings.CHUNK) -> int:
        raise RuntimeError("rendering broke")

    monkeypatch.setattr(renderings, "refresh", broken)
    ingestion_id = queue(hub, cloud, nights[0])
    with caplog.at_level(logging.ERROR, logger=renderings.log.name):
        assert run_pending(hub) == 1
    assert "storing the renderings" in caplog.text
    with transaction(hub.sessions) as session:
        done = session.get(Ingestion, ingestion_id)
        assert done is not None
        assert done.state == "success"
        assert session.scalar(
            select(func.count()).select_from(RepoObject).where(RepoObject.cloud_id == cloud)
        )
        assert renderings.unrendered(session, cloud)  # served live until the next pass
    monkeypatch.undo()
    assert renderings.refresh_all(hub) > 0  # as a worker starting does
    assert_all_rendered(hub, cloud)


def test_a_failed_ingestion_runs_no_pass(
    hub: Hub,
    cloud: uuid.UUID,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[uuid.UUID] = []

    def counted(_hub: Hub, cloud_id: uuid.UUID) -> int:
        calls.append(cloud_id)
        return 0

    monkeypatch.setattr(renderings, "refresh_quietly", counted)
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "orgs.csv").write_text("not,a,roster\n", encoding="utf-8")
    ingestion_id = queue(hub, cloud, unreadable)
    assert run_pending(hub) == 1
    with transaction(hub.sessions) as session:
        done = session.get(Ingestion, ingestion_id)
        assert done is not None
        assert done.state == "failed"
    assert calls == []


def test_ingest_wait_renders_for_the_query_api(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path]
) -> None:
    ingestion_id = queue(hub, cloud, nights[0])
    done = ingest_commands._run_now(hub, ingestion_id, show_progress=True)
    assert done.state == "success"
    assert_all_rendered(hub, cloud)


def test_a_starting_worker_finishes_what_a_pass_left(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the collection's commit and the end of its pass leaves objects without
    a rendering; ``serve_forever`` stores them before its first round."""
    ingestion_id = queue(hub, cloud, nights[0])
    with write_transaction(hub.sessions) as session:
        assert ingest.claim(session, ingestion_id, hub.now())
    assert ingest.run(hub, ingestion_id).state == "success"  # no pass: as if it crashed
    with transaction(hub.sessions) as session:
        assert renderings.unrendered(session, cloud)

    class Stop(BaseException):
        pass

    def first_round(_hub: Hub) -> int:
        assert_all_rendered(hub, cloud)  # already, before any round
        raise Stop

    monkeypatch.setattr(signal, "signal", lambda *_args: None)
    monkeypatch.setattr(worker, "run_pending", first_round)
    with pytest.raises(Stop):
        worker.serve_forever(hub, poll_seconds=0.01)
