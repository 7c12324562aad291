"""Interop Data API #52–#59: the task queue (HTTP only).

A driver's two requests — a poll without parameters and a batch of plain ``success`` acks —
take a fast path (:class:`FastPathRoute`): one thread hop, no dependency solving, no model per
ack. Every other request to those routes goes through FastAPI as declared, with the same
answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from interop_hub.auth.dependencies import (
    HubDep,
    PrincipalDep,
    SessionDep,
    get_principal,
    hub_of,
    request_session,
)
from interop_hub.auth.principal import Principal
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope
from interop_hub.kit.errors import BadRequest, NotFound
from interop_hub.kit.paging import page_request_from
from interop_hub.runtime import Hub
from interop_hub.tasks import service
from interop_hub.tasks.schemas import AckIn, AckOutcome, AckResult, plain_successes
from interop_hub.tasks.service import DRIVERS, Poll
from interop_hub.tasks.shapes import DEFAULT_SCHEMA, SCHEMAS

FastPath = Callable[[Request], Awaitable[Response | None]]
FAST_PATHS: dict[Callable[..., Any], FastPath] = {}
"""Route endpoint → its fast path: a response, or None to go through FastAPI."""


class FastPathRoute(APIRoute):
    """A route that tries its endpoint's fast path (:data:`FAST_PATHS`) first. FastAPI spends
    ~1.5 ms per request of a driver (on the benchmark's machine) solving a route's dependencies
    and moving between threads (the session's start and end, the principal, the endpoint):
    as much as the hub's own work for a batch of 100."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()
        endpoint = self.endpoint  # its fast path is registered after the route is made

        async def handler(request: Request) -> Response:
            fast = FAST_PATHS.get(endpoint)
            response = None if fast is None else await fast(request)
            return response if response is not None else await declared(request)

        return handler


router = APIRouter(
    prefix="/v2/interop/data", tags=["Interop Data API: tasks"], route_class=FastPathRoute
)
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {**ERROR_RESPONSES[401], "description": "Not a tenant's or its vendor's credentials"},
}
Schema = Annotated[
    str | None, Query(description=f"Task schema: {', '.join(SCHEMAS)} (default nested)")
]
Driver = Annotated[
    str | None, Query(description=f"Only tasks routed to this driver: {', '.join(DRIVERS)}")
]
MAX_ACKS = 10_000


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status_code=status,
        media_type="application/json",
    )


@router.get(
    "/tasks",
    operation_id="listTasks",
    summary="List Tasks: the next batch for the authenticated actor",
    response_model=ListEnvelope[dict[str, Any]],
    responses=RESPONSES,
)
def list_tasks(
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    tenant_id: Annotated[uuid.UUID | None, Query(description="Only this tenant's tasks")] = None,
    schema: Schema = None,
    driver: Driver = None,
    page: Annotated[int, Query(ge=0, description="Ignored: the managed queue has no pages")] = 0,
    page_size: Annotated[
        int | None, Query(ge=1, description="At most this many tasks (the server caps it)")
    ] = None,
) -> Response:
    """Lease the oldest unacknowledged tasks, in sequence order; acknowledge each to remove it.
    Tasks not acknowledged before the lease ends (``INTEROP_HUB_TASK_LEASE_SECONDS``) are
    delivered again."""
    poll = Poll(
        tenant_id=tenant_id,
        schema=service.check_schema(schema),
        types=service.check_driver(driver),
        limit=page_size or hub.settings.task_batch_size,
    )
    tasks = service.next_batch(session, principal, poll, hub.settings, hub.now(), hub.keyring)
    return _json({"data": tasks, "paging": {"next": None}})


async def _fast_poll(request: Request) -> Response | None:
    """A poll without parameters: the default schema, every driver's tasks, the server's
    batch size."""
    if request.url.query:
        return None
    return await run_in_threadpool(_poll, request)


def _poll(request: Request) -> Response:
    hub = hub_of(request)
    poll = Poll(None, DEFAULT_SCHEMA, None, hub.settings.task_batch_size)
    with request_session(request) as session:
        principal = get_principal(request, session, hub)
        tasks = service.next_batch(session, principal, poll, hub.settings, hub.now(), hub.keyring)
    return _json({"data": tasks, "paging": {"next": None}})


FAST_PATHS[list_tasks] = _fast_poll


def _batch(acks: list[AckIn]) -> list[AckIn]:
    if len(acks) > MAX_ACKS:
        raise BadRequest(f"At most {MAX_ACKS} acknowledgements per request.")
    missing = [index for index, ack in enumerate(acks) if ack.task_id is None]
    if missing:
        raise BadRequest(
            "task_id is required in each acknowledgement of a batch.",
            code="task_id_required",
            details={"indexes": missing},
        )
    return acks


def _single(task_id: uuid.UUID, ack: AckIn) -> AckIn:
    if ack.task_id is not None and ack.task_id != task_id:
        raise BadRequest(
            f"The body's task_id {ack.task_id} is not the task of the path ({task_id})."
        )
    return ack.model_copy(update={"task_id": task_id})


@dataclass(frozen=True)
class Acks:
    """Acknowledging for the caller, as the four ack routes do."""

    session: Session
    hub: Hub
    principal: Principal

    def _apply(self, acks: list[AckIn], admin: bool) -> list[AckOutcome]:
        settings, now = self.hub.settings, self.hub.now()
        return service.acknowledge(self.session, self.principal, acks, settings, now, admin=admin)

    def one(self, task_id: uuid.UUID, ack: AckIn, *, admin: bool) -> Response:
        outcome = self._apply([_single(task_id, ack)], admin)[0]
        if outcome.status == 404:
            raise NotFound(outcome.message, code="task_not_outstanding")
        return _json({"data": outcome.model_dump(mode="json")})

    def batch(self, acks: list[AckIn], *, admin: bool) -> Response:
        outcomes = self._apply(_batch(acks), admin)
        failed = [o for o in outcomes if o.status != 200]
        result = AckResult(acknowledged=len(outcomes) - len(failed), failed=failed)
        return _json({"data": result.model_dump(mode="json")})


async def _acks(session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Acks:
    """``async``: it only builds the dataclass (no thread hop)."""
    return Acks(session, hub, principal)


AcksDep = Annotated[Acks, Depends(_acks)]
OneAck = Annotated[AckIn, Body(description="A TaskAck", default_factory=AckIn)]
ManyAcks = Annotated[list[AckIn], Body(description="TaskAcks; each needs its task_id")]


# Registered before /tasks/{id}/ack, whose pattern would take "admin" for an id.
@router.put(
    "/tasks/admin/ack",
    operation_id="ackTasksAdmin",
    summary="Acknowledge Tasks (Admin)",
    response_model=DataEnvelope[AckResult],
    responses=RESPONSES,
)
def ack_tasks_admin(acks: AcksDep, body: ManyAcks) -> Response:
    return acks.batch(body, admin=True)


@router.put(
    "/tasks/admin/{id}/ack",
    operation_id="ackTaskAdmin",
    summary="Acknowledge Task (Admin)",
    response_model=DataEnvelope[AckOutcome],
    responses=RESPONSES,
)
def ack_task_admin(id: uuid.UUID, acks: AcksDep, body: OneAck) -> Response:
    return acks.one(id, body, admin=True)


@router.put(
    "/tasks/ack",
    operation_id="ackTasks",
    summary="Acknowledge Tasks",
    response_model=DataEnvelope[AckResult],
    responses=RESPONSES,
)
def ack_tasks(acks: AcksDep, body: ManyAcks) -> Response:
    """Each ack applies on its own: one for a task that is not yours or not outstanding is
    listed in ``failed`` (status 404) and the others still apply."""
    return acks.batch(body, admin=False)


async def _fast_ack(request: Request) -> Response | None:
    """A JSON batch of plain ``success`` acks (:func:`plain_successes`)."""
    if request.headers.get("content-type", "").partition(";")[0].strip() != "application/json":
        return None
    ids = plain_successes(await request.body(), MAX_ACKS)  # kept for FastAPI, if not plain
    if ids is None:
        return None
    return await run_in_threadpool(_ack_successes, request, ids)


def _ack_successes(request: Request, ids: list[str]) -> Response:
    hub = hub_of(request)
    with request_session(request) as session:
        return ack_successes(Acks(session, hub, get_principal(request, session, hub)), ids)


def ack_successes(acks: Acks, ids: list[str]) -> Response:
    """What ``PUT /tasks/ack`` answers to a batch of plain ``success`` acks of ``ids``."""
    hub = acks.hub
    applied, failed = service.acknowledge_successes(
        acks.session, acks.principal, ids, hub.settings, hub.now()
    )
    result = AckResult(acknowledged=applied, failed=failed)
    return _json({"data": result.model_dump(mode="json")})


FAST_PATHS[ack_tasks] = _fast_ack


@router.put(
    "/tasks/{id}/ack",
    operation_id="ackTask",
    summary="Acknowledge Task",
    response_model=DataEnvelope[AckOutcome],
    responses=RESPONSES,
)
def ack_task(id: uuid.UUID, acks: AcksDep, body: OneAck) -> Response:
    return acks.one(id, body, admin=False)


@router.get(
    "/tasks/admin",
    operation_id="listTasksAdmin",
    summary="List Tasks (Admin)",
    response_model=ListEnvelope[dict[str, Any]],
    responses=RESPONSES,
)
def list_tasks_admin(
    request: Request,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    schema: Schema = None,
    driver: Driver = None,
    page: Annotated[int, Query(ge=0, le=2**31 - 1, description="Page number, 0-based")] = 0,
    page_size: Annotated[
        int | None, Query(ge=1, description="Page size (default and cap: MAX_TASK_PAGE_SIZE)")
    ] = None,
    cursor: Annotated[str | None, Query(description="Keyset cursor from paging.next")] = None,
) -> Response:
    """The caller's queued tasks without leasing them, oldest first (page 0 holds the oldest)."""
    paging = page_request_from(request, page, page_size, cursor, hub.settings.max_task_page_size)
    found = service.admin_list(
        session,
        principal,
        service.check_schema(schema),
        service.check_driver(driver),
        paging,
        hub.keyring,
    )
    return _json({"data": found.items, "paging": {"next": found.next}})


@router.get(
    "/tasks/admin/{id}",
    operation_id="findTask",
    summary="Find a Task",
    response_model=DataEnvelope[dict[str, Any]],
    responses=RESPONSES,
)
def find_task(
    id: uuid.UUID, session: SessionDep, hub: HubDep, principal: PrincipalDep, schema: Schema = None
) -> Response:
    found = service.admin_find(session, principal, id, service.check_schema(schema), hub.keyring)
    return _json({"data": found})


@router.delete(
    "/tasks/admin/{id}",
    operation_id="deleteTask",
    summary="Delete Task (Admin)",
    status_code=204,
    responses=RESPONSES,
)
def delete_task(
    id: uuid.UUID, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> Response:
    service.admin_delete(session, principal, id, hub.now())
    return Response(status_code=204)
