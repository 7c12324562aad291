"""A driver runtime: register handlers, and it polls, dispatches in order and acknowledges.

::

    driver = Driver("https://hub.example", api_key=VENDOR_KEY)   # or client_id=, client_secret=

    @driver.on_data("Student", "ADD")
    def add_student(event: DataEvent, ctx: Context) -> AppId:
        return AppId(app.create_student(event.data))     # becomes the ack's $sys.app_id

    @driver.on_lifecycle("TENANT_UNINSTALLED")
    def forget(event: LifecycleEvent, ctx: Context) -> None:
        app.drop_tenant(ctx.tenant_id)

    driver.run()       # until SIGINT or SIGTERM; driver.drain() stops when every queue is empty

With a vendor's API key it discovers the vendor's tenants (``GET /v2/interop/tenants``) and runs
one worker thread per tenant, so tenants proceed concurrently while each one's tasks are handled
strictly in ``sequence`` order; with a tenant's client id and secret it runs that tenant only.

Acknowledgements follow the handler: it returns → ``success`` (with ``$sys.app_id`` when a data
handler returns an :class:`AppId` or a string); it raises :class:`Retry` or returns
:data:`RETRY` → ``retry``; it raises :class:`Reauthenticate` → ``reauthenticate``; it raises
anything else → ``error`` with the exception's message. A task without a handler is acknowledged
``success``: the driver has nothing to do for it. An ``authenticate`` handler checks the
credentials in ``event.data``: returning confirms the session (a returned string is the
message), raising refuses it with the exception's message; the runtime answers the session
(``PATCH /tenant/application``) and acknowledges the task.

Delivery is at least once (a crash or a stop mid-batch brings tasks back after their lease), so
handlers must be idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, TypeVar, Unpack

import httpx

from interop_hub.client.base import Options
from interop_hub.client.errors import Conflict, InteropError
from interop_hub.client.models import (
    AuthenticateEvent,
    DataEvent,
    Event,
    LifecycleEvent,
    SyncEvent,
    Task,
    TaskAck,
    TenantInfo,
)
from interop_hub.client.sync_client import InteropClient

log = logging.getLogger(__name__)

FULL_SYNC_ORIGINS: Final = frozenset({"initial", "resend", "rollover"})
"""Sync origins that carry the tenant's whole state: what it holds and they do not send is gone."""


def is_full_sync(event: SyncEvent | DataEvent) -> bool:
    """Whether the event belongs to a full sync (its ``origin`` says so, also after a restart
    in the middle of one)."""
    return event.origin in FULL_SYNC_ORIGINS


class AppId(str):
    """A data handler's return value: the application's own id for the event's object."""

    __slots__ = ()


class Retry(Exception):
    """Raise it from a handler to have the task delivered again after the hub's backoff."""


class Reauthenticate(Exception):
    """Raise it when the application's credentials stopped working: the hub pauses the tenant's
    delivery until the district has entered new ones and the driver confirmed them."""


class _RetryMarker:
    def __repr__(self) -> str:
        return "RETRY"


RETRY: Final = _RetryMarker()
"""Return it from a handler to answer ``retry`` without raising."""


@dataclass(frozen=True)
class Context:
    """What a handler gets besides the event."""

    tenant_id: uuid.UUID
    client: InteropClient
    """A client with the tenant's own credentials: its query API, its application."""
    task: Task


E = TypeVar("E", bound=Event)
Handler = Callable[[E, Context], object]
H = TypeVar("H", bound=Callable[..., object])
# A decorator returns the handler as it is typed: one handler may take several kinds of event
# (``DataEvent | SyncEvent``) under stacked decorators, each of which checks its own kind.
DataH = TypeVar("DataH", bound=Handler[DataEvent])
LifecycleH = TypeVar("LifecycleH", bound=Handler[LifecycleEvent])
SyncH = TypeVar("SyncH", bound=Handler[SyncEvent])
AuthenticateH = TypeVar("AuthenticateH", bound=Handler[AuthenticateEvent])
Key = tuple[str, str | None, str | None]
"""(task type, topic, action); None matches any."""


@dataclass
class TenantStats:
    """What one tenant's worker did."""

    delivered: int = 0
    acknowledged: Counter[str] = field(default_factory=Counter)
    """Acks the hub accepted, by status."""
    refused: int = 0
    """Acks the hub refused (the task was no longer outstanding: its lease had expired)."""


class Driver:
    """Handlers by task type, topic and action, and the loop that feeds them (see the module's
    documentation). ``transport`` and the other options are those of :class:`InteropClient`."""

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        transport: httpx.BaseTransport | None = None,
        poll_interval: float = 5.0,
        discover_interval: float = 60.0,
        page_size: int | None = None,
        **options: Unpack[Options],
    ) -> None:
        self.base_url = base_url
        self.transport = transport
        self.options = options
        self.poll_interval = poll_interval
        self.discover_interval = discover_interval
        self.page_size = page_size
        self.stats: dict[uuid.UUID, TenantStats] = {}
        """By tenant, what the driver did."""
        self._known: dict[uuid.UUID, TenantInfo] = {}
        self._handlers: dict[Key, Callable[[Any, Context], object]] = {}
        self._stopping = threading.Event()

    # --- registering ----------------------------------------------------------------------------

    def on(
        self, task_type: str, *, topic: str | None = None, action: str | None = None
    ) -> Callable[[H], H]:
        """Handle tasks of ``task_type`` (``data_event``, ``grades_export``, ...), of one
        ``topic`` (a data event's ``object_type``) and ``action`` when given. The most specific
        registration wins: topic and action, then topic, then action, then neither."""

        def register(handler: H) -> H:
            self._handlers[(task_type, topic, action)] = handler
            return handler

        return register

    def on_data(
        self, topic: str | None = None, action: str | None = None
    ) -> Callable[[DataH], DataH]:
        """``@driver.on_data("Student", "ADD")``: data events (``ADD``, ``UPDATE``, ``DELETE``)."""
        return self.on("data_event", topic=topic, action=action)

    def on_lifecycle(self, action: str | None = None) -> Callable[[LifecycleH], LifecycleH]:
        """``@driver.on_lifecycle("TENANT_UNINSTALLED")``."""
        return self.on("lifecycle_event", action=action)

    def on_sync(self, action: str | None = None) -> Callable[[SyncH], SyncH]:
        """``@driver.on_sync("SYNC_END")``: the bounds of a sync (see :func:`is_full_sync`)."""
        return self.on("sync_event", action=action)

    def on_authenticate(self, handler: AuthenticateH) -> AuthenticateH:
        """``@driver.on_authenticate``: check the credentials of ``event.data``."""
        return self.on("authenticate")(handler)

    def handler_for(self, task: Task) -> Callable[[Any, Context], object] | None:
        event = task.event
        topic = event.object_type if isinstance(event, DataEvent) else None
        action = getattr(event, "action", None)
        for key in ((topic, action), (topic, None), (None, action), (None, None)):
            found = self._handlers.get((task.type, *key))
            if found is not None:
                return found
        return None

    # --- running --------------------------------------------------------------------------------

    def drain(self) -> dict[uuid.UUID, TenantStats]:
        """Handle every tenant's tasks until its queue answers empty (tenants concurrently);
        returns :attr:`stats`: what was done for each tenant since the driver was made. Tasks
        answered ``retry`` come back after the hub's backoff, i.e. to a later call."""
        with self._workers() as workers:
            self._in_threads(workers, lambda worker: worker.drain())
        return self.stats

    def run(self) -> None:
        """Poll every tenant until :meth:`stop`, SIGINT or SIGTERM; tenants installed meanwhile
        are found every ``discover_interval`` seconds. Stopping finishes the task in hand and
        acknowledges what was handled; the rest of a batch comes back after its lease."""
        with self._signals(), self._workers() as workers:
            threads: dict[uuid.UUID, threading.Thread] = {}
            while not self._stopping.is_set():
                for tenant_id, worker in workers.items():
                    if tenant_id not in threads:
                        threads[tenant_id] = thread = threading.Thread(
                            target=worker.run, name=f"driver-{tenant_id}", daemon=True
                        )
                        thread.start()
                if not self._stopping.wait(self.discover_interval):
                    self._discover(workers)
            for thread in threads.values():
                thread.join()

    def stop(self) -> None:
        self._stopping.set()

    # --- inside -----------------------------------------------------------------------------

    def _client(self, **options: Any) -> InteropClient:
        return InteropClient(self.base_url, transport=self.transport, **options)

    @contextlib.contextmanager
    def _workers(self) -> Iterator[dict[uuid.UUID, _Worker]]:
        self._stopping.clear()
        self._poller = self._client(**self.options)
        workers: dict[uuid.UUID, _Worker] = {}
        try:
            self._discover(workers)
            yield workers
        finally:
            for worker in workers.values():
                if worker.client is not self._poller:
                    worker.client.close()
            self._poller.close()

    def _discover(self, workers: dict[uuid.UUID, _Worker]) -> None:
        """Add a worker for each tenant not seen yet."""
        try:
            found = self._tenants()
        except InteropError as exc:
            log.warning("cannot list the tenants: %s", exc)
            return
        for tenant_id, client, poll_args in found:
            if tenant_id not in workers:
                stats = self.stats.setdefault(tenant_id, TenantStats())
                workers[tenant_id] = _Worker(
                    self, tenant_id, self._poller, client, poll_args, stats, self._stopping
                )

    def _tenants(self) -> list[tuple[uuid.UUID, InteropClient, dict[str, Any]]]:
        """(tenant id, a client with its credentials, how to poll its queue) of every tenant:
        the caller itself (tenant credentials), or each tenant of the vendor's API key (polled
        with the vendor's key, which still works after the tenant's uninstall)."""
        if "api_key" not in self.options:
            return [(self._poller.get_tenant().id, self._poller, {})]
        # An uninstalled tenant is no longer listed, yet its last task (TENANT_UNINSTALLED)
        # waits: a tenant once found is polled until that task is handled.
        self._known.update((info.id, info) for info in self._poller.iter_tenants())
        return [
            (info.id, self._tenant_client(info), {"tenant_id": info.id})
            for info in self._known.values()
        ]

    def _tenant_client(self, info: TenantInfo) -> InteropClient:
        if info.auth is None or info.auth.client_secret is None:
            return self._poller  # no tenant credentials to see: the vendor's own
        return self._client(client_id=info.auth.client_id, client_secret=info.auth.client_secret)

    def _in_threads(self, workers: dict[uuid.UUID, _Worker], job: Callable[[_Worker], Any]) -> None:
        threads = [threading.Thread(target=job, args=(w,)) for w in workers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the driver cleanly (only the main thread can listen)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("stopping (%s): finishing the task in hand", signal.Signals(signum).name)
            self.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class _Worker:
    """One tenant's loop: poll, handle in order, acknowledge."""

    driver: Driver
    tenant_id: uuid.UUID
    poller: InteropClient
    """Polls and acknowledges (the vendor's credentials, or the tenant's)."""
    client: InteropClient
    """The tenant's own credentials, for its handlers."""
    poll_args: dict[str, Any]
    stats: TenantStats
    stopping: threading.Event
    done: bool = False
    """Set after TENANT_UNINSTALLED: the tenant's last task."""

    def run(self) -> None:
        while not self.stopping.is_set() and not self.done:
            if not self.step():
                self.stopping.wait(self.driver.poll_interval)

    def drain(self) -> None:
        while not self.stopping.is_set() and not self.done and self.step():
            pass

    def step(self) -> int:
        """One poll: handle the batch in order and acknowledge it; returns its size."""
        try:
            page = self.poller.list_tasks(page_size=self.driver.page_size, **self.poll_args)
        except InteropError as exc:
            log.warning("tenant %s: cannot poll: %s", self.tenant_id, exc)
            return 0
        batch = list(page.data)
        self.stats.delivered += len(batch)
        acks: list[TaskAck] = []
        for position, task in enumerate(batch):
            if self.stopping.is_set():
                break  # not handled: not acknowledged (its lease brings it back)
            ack = self.handle(task)
            acks.append(ack)
            if _uninstalled(task) and ack.status in ("success", "error"):
                self.done = True  # the tenant's last task
                self.driver._known.pop(self.tenant_id, None)
            if ack.status in ("retry", "reauthenticate"):
                # Nothing after it may be applied first: hand the rest back, in order.
                message = f"released: task {task.sequence} is to be delivered again first"
                acks += [later.ack("retry", message=message) for later in batch[position + 1 :]]
                break
        self.acknowledge(acks)
        return len(batch)

    def handle(self, task: Task) -> TaskAck:
        handler = self.driver.handler_for(task)
        if handler is None:
            return task.ack()
        event = task.event
        try:
            result = handler(event, Context(self.tenant_id, self.client, task))
        except Retry as exc:
            return task.ack("retry", message=str(exc) or None)
        except Reauthenticate as exc:
            return task.ack("reauthenticate", message=str(exc) or None)
        except Exception as exc:
            if isinstance(event, AuthenticateEvent):
                return self.answer(task, event, "error", str(exc) or type(exc).__name__)
            log.exception("tenant %s: task %s failed", self.tenant_id, task.sequence)
            return task.ack("error", message=f"{type(exc).__name__}: {exc}")
        if result is RETRY:
            return task.ack("retry")
        if isinstance(event, AuthenticateEvent):
            message = result if isinstance(result, str) else None
            return self.answer(task, event, "confirmed", message)
        app_id = result if isinstance(result, str) and isinstance(event, DataEvent) else None
        return task.ack(app_id=app_id)

    def answer(
        self, task: Task, event: AuthenticateEvent, state: str, message: str | None
    ) -> TaskAck:
        """Answer the task's authentication session; a session that a newer one superseded
        refuses the answer (409), and the task is done all the same."""
        try:
            body = {
                "auth_state_pending": state,
                "auth_message": message,
                "auth_session_id_pending": event.session_id,  # never answer a newer session
            }
            self.client.request("PATCH", "/v2/interop/tenant/application", json=body)
        except Conflict as exc:
            log.info("tenant %s: session %s: %s", self.tenant_id, event.session_id, exc)
        except InteropError as exc:
            return task.ack("retry", message=f"cannot answer the session: {exc}")
        return task.ack(message=f"{state}: {message}" if message else state)

    def acknowledge(self, acks: list[TaskAck]) -> None:
        if not acks:
            return
        try:
            result = self.poller.ack_tasks(acks)
        except InteropError as exc:
            # Handled but not acknowledged: the lease brings the tasks back (handlers are
            # idempotent), and acknowledging them now could break their order.
            log.warning("tenant %s: cannot acknowledge: %s", self.tenant_id, exc)
            return
        refused = {outcome.task_id for outcome in result.failed}
        self.stats.refused += len(refused)
        self.stats.acknowledged.update(a.status for a in acks if a.task_id not in refused)


def _uninstalled(task: Task) -> bool:
    event = task.event
    return isinstance(event, LifecycleEvent) and event.action == "TENANT_UNINSTALLED"
