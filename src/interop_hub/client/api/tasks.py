"""Interop Data API #52–#59: the task queue.

``list_tasks`` leases the caller's next batch (in ``sequence`` order); each task must then be
acknowledged (``ack_task`` or, for a batch, ``ack_tasks``) or it is delivered again after its
lease. The admin operations read, acknowledge and delete without leasing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from interop_hub.client.answers import Page, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import Call, Id, data_api, delete, get, get_page, paging, query
from interop_hub.client.models import AckOutcome, AckResult, AckStatus, Task, TaskAck


def _ack(
    url: str,
    task_id: Id,
    status: AckStatus,
    message: str | None,
    app_id: str | None,
    params: Mapping[str, Any] | None,
) -> Call[AckOutcome]:
    ack = TaskAck(status=status, message=message, app_id=app_id, params=params)
    return Call("PUT", data_api(url, task_id), one(AckOutcome), json=ack.body())


def _acks(url: str, acks: Iterable[TaskAck]) -> Call[AckResult]:
    return Call("PUT", data_api(url), one(AckResult), json=[ack.body() for ack in acks])


class TaskOperations:
    @operation
    def list_tasks(
        self,
        *,
        tenant_id: Id | None = None,
        schema: str | None = None,
        driver: str | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Task]]:
        """#52 List Tasks: lease the next batch (``tenant_id``: of one of a vendor's tenants;
        ``schema``: ``nested`` or ``flat``; ``page_size``: at most this many)."""
        params = query(tenant_id=tenant_id, schema=schema, driver=driver, page_size=page_size)
        return get_page(data_api("/tasks"), Task, params)

    @operation
    def ack_task(
        self,
        task_id: Id,
        status: AckStatus = "success",
        *,
        message: str | None = None,
        app_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Call[AckOutcome]:
        """#53 Acknowledge Task (404 when it is not an outstanding task of the caller's).
        ``app_id``: the application's own id for the task's object."""
        return _ack("/tasks/{}/ack", task_id, status, message, app_id, params)

    @operation
    def ack_tasks(self, acks: Iterable[TaskAck]) -> Call[AckResult]:
        """#54 Acknowledge Tasks: each applies on its own; those that cannot are listed in
        ``failed``. ``task.ack()`` makes a task's TaskAck."""
        return _acks("/tasks/ack", acks)

    @operation
    def list_tasks_admin(
        self,
        *,
        schema: str | None = None,
        driver: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Task]]:
        """#55 List Tasks (Admin): the queue without leasing it, oldest first."""
        params = paging(page, page_size, schema=schema, driver=driver)
        return get_page(data_api("/tasks/admin"), Task, params)

    @operation
    def ack_task_admin(
        self,
        task_id: Id,
        status: AckStatus = "success",
        *,
        message: str | None = None,
        app_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Call[AckOutcome]:
        """#56 Acknowledge Task (Admin): no lease needed."""
        return _ack("/tasks/admin/{}/ack", task_id, status, message, app_id, params)

    @operation
    def ack_tasks_admin(self, acks: Iterable[TaskAck]) -> Call[AckResult]:
        """#57 Acknowledge Tasks (Admin)."""
        return _acks("/tasks/admin/ack", acks)

    @operation
    def find_task(self, task_id: Id, *, schema: str | None = None) -> Call[Task]:
        """#58 Find a Task."""
        return get(data_api("/tasks/admin/{}", task_id), one(Task), query(schema=schema))

    @operation
    def delete_task(self, task_id: Id) -> Call[None]:
        """#59 Delete Task (Admin): remove it unprocessed."""
        return delete(data_api("/tasks/admin/{}", task_id))

    iter_tasks_admin = pages(list_tasks_admin)
