"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar, Unpack

import httpx

from interop_hub.client.api import Operations
from interop_hub.client.base import ClientBase, Options, build_request
from interop_hub.client.binding import SyncRunner
from interop_hub.client.calls import Call
from interop_hub.client.errors import InteropError

T = TypeVar("T")


class InteropClient(ClientBase, SyncRunner, Operations):
    """A client of one hub, with one set of credentials::

        with InteropClient("https://hub.example", client_id=..., client_secret=...) as hub:
            for task in hub.list_tasks():
                ...
                hub.ack_task(task.id)
            for student in hub.iter_students():
                print(student.name)

    ``transport`` replaces the network (e.g. an :class:`httpx.MockTransport`); ``sleep`` the
    waits between retries. See :class:`~interop_hub.client.base.Options` for the rest.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **options: Unpack[Options],
    ) -> None:
        super().__init__(base_url, options)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self._http_options)

    def _run(self, call: Call[T]) -> T:
        request = build_request(self._http, call)
        attempts = self.retry.start(call.method)
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                self._sleep(attempts.after_error(exc))
                continue
            except httpx.HTTPError as exc:
                raise InteropError(f"{type(exc).__name__}: {exc}") from exc
            delay = attempts.after_response(response)
            if delay is None:
                return call.read(response)
            self._sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
