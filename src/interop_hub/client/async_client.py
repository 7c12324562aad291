"""The asyncio client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar, Unpack

import httpx

from interop_hub.client.api import Operations
from interop_hub.client.base import ClientBase, Options, build_request
from interop_hub.client.binding import AsyncRunner
from interop_hub.client.calls import Call
from interop_hub.client.errors import InteropError

T = TypeVar("T")


class AsyncInteropClient(ClientBase, AsyncRunner, Operations):
    """The same operations as :class:`~interop_hub.client.InteropClient`, as coroutines, and
    ``iter_*`` as async iterators::

        async with AsyncInteropClient(url, client_id=..., client_secret=...) as hub:
            async for student in hub.iter_students():
                ...

    ``transport`` replaces the network (e.g. ``httpx.ASGITransport(app)``); ``sleep`` the
    waits between retries.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **options: Unpack[Options],
    ) -> None:
        super().__init__(base_url, options)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, **self._http_options)

    async def _run(self, call: Call[T]) -> T:
        request = build_request(self._http, call)
        attempts = self.retry.start(call.method)
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                await self._sleep(attempts.after_error(exc))
                continue
            except httpx.HTTPError as exc:
                raise InteropError(f"{type(exc).__name__}: {exc}") from exc
            delay = attempts.after_response(response)
            if delay is None:
                return call.read(response)
            await self._sleep(delay)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
