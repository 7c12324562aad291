"""The SDK over real HTTP: a ``uvicorn`` server process on a free loopback port (SQLite), the
sync client for the set-up and the tenant's queue, the async client for its roster; then, with
the server gone, connection errors retried and reported as a TransportError."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from bench import bench_collection as bench

from interop_hub.client import AsyncInteropClient, InteropClient, NotFound, TransportError
from interop_hub.client.models import Person
from interop_hub.runtime import build_hub
from tests.client.conftest import STUDENTS, install, make_accounts


def test_the_sdk_against_a_server_process(tmp_path: Path, district_dir: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    data_dir = tmp_path / "hub-data"
    bench.prepare_database(database_url, data_dir)
    hub = build_hub(bench.bench_settings(database_url, data_dir))
    sleeps: list[float] = []
    try:
        accounts = make_accounts(hub)
        with bench.serve(database_url, data_dir, tmp_path / "server.log") as base_url:
            connect = partial(InteropClient, base_url, timeout=30)
            site = install(connect, accounts, hub, district_dir)
            tenant = InteropClient(
                base_url,
                client_id=site.client_id,
                client_secret=site.client_secret,
                sleep=sleeps.append,
                max_retries=2,
            )
            handled = 0
            while batch := tenant.list_tasks(page_size=20):
                result = tenant.ack_tasks(task.ack() for task in batch)
                assert result.failed == []
                handled += len(batch)
            assert handled > STUDENTS
            with pytest.raises(NotFound):
                tenant.find_course(site.tenant_id)
            students = asyncio.run(read_students(base_url, site.client_id, site.client_secret))
            assert len(students) == STUDENTS == len({s.id for s in students})
            assert students == list(tenant.iter_students(page_size=4))
        assert sleeps == []
        # The server is gone: the call is tried three times, then reported.
        with pytest.raises(TransportError):
            tenant.get_tenant()
        assert len(sleeps) == 2
        tenant.close()
    finally:
        hub.engine.dispose()


async def read_students(base_url: str, client_id: str, client_secret: str) -> list[Person]:
    async with AsyncInteropClient(
        base_url, client_id=client_id, client_secret=client_secret
    ) as tenant:
        first = await tenant.list_students(page_size=5)
        assert first.next is not None
        assert first.next.startswith(base_url)
        return [student async for student in tenant.iter_students(page_size=5)]
