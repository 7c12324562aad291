"""The async client against the app in-process (``httpx.ASGITransport``): a tenant drains its
queue and reads its roster with ``async for`` across pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from interop_hub.app import create_app
from interop_hub.client import AsyncInteropClient, NotFound
from interop_hub.client.models import DataEvent, Task
from interop_hub.runtime import Hub
from tests.client.conftest import BASE_URL, STUDENTS, Accounts, Connect, install


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"the SDK slept {seconds} s against the app in-process")


def test_a_tenant_with_the_async_client(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)
    transport = httpx.ASGITransport(app=create_app(hub))

    async def main() -> tuple[list[Task], list[str]]:
        async with AsyncInteropClient(
            BASE_URL,
            transport=transport,
            sleep=no_sleep,
            client_id=site.client_id,
            client_secret=site.client_secret,
        ) as tenant:
            assert (await tenant.get_tenant()).id == site.tenant_id
            received: list[Task] = []
            while batch := await tenant.list_tasks(page_size=9):
                await tenant.ack_tasks(task.ack() for task in batch)
                received += batch
            names = [
                f"{s.name.first} {s.name.last}"
                async for s in tenant.iter_students(page_size=5)
                if s.name is not None
            ]
            with pytest.raises(NotFound):
                await tenant.find_section(site.tenant_id)
            return received, names

    tasks, names = asyncio.run(main())
    students = [t.event for t in tasks if isinstance(t.event, DataEvent)]
    assert len([e for e in students if e.object_type == "Student"]) == STUDENTS
    assert len(names) == STUDENTS
    assert {e.label for e in students if e.object_type == "Student"} == set(names)
