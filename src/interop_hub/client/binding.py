"""How one definition of each operation becomes a method of both clients.

An operation is written once, as a method that builds a :class:`~interop_hub.client.calls.Call`
(see :mod:`interop_hub.client.api`), and decorated with :func:`operation`. The decorator makes it
a descriptor: on an :class:`InteropClient` (a :class:`SyncRunner`) it is a method that sends the
call and returns the result; on an :class:`AsyncInteropClient` (an :class:`AsyncRunner`) it is a
coroutine method. :func:`pages` does the same for iterating over a list operation's items
across pages. The overloads of ``__get__`` give both clients exact types (the operation's own
parameters, and ``T``, ``Awaitable[T]``, ``Iterator[T]`` or ``AsyncIterator[T]``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from interop_hub.client.calls import Call, Page

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Builder = Callable[Concatenate[Any, P], Call[T]]


class Named(Protocol):
    __name__: str
    __qualname__: str
    __doc__: str | None


def _named(function: F, like: Named) -> F:
    function.__name__ = like.__name__
    function.__qualname__ = like.__qualname__
    function.__doc__ = like.__doc__
    return function


class SyncRunner(ABC):
    @abstractmethod
    def _run(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""

    @abstractmethod
    def _next_link(self, link: str) -> str:
        """The URL to fetch a ``paging.next`` link at."""

    def _items(self, call: Call[Page[T]]) -> Iterator[T]:
        page = self._run(call)
        yield from page.data
        while page.next is not None:
            page = self._run(call.follow(self._next_link(page.next)))
            yield from page.data


class AsyncRunner(ABC):
    @abstractmethod
    async def _run(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""

    @abstractmethod
    def _next_link(self, link: str) -> str:
        """The URL to fetch a ``paging.next`` link at."""

    async def _items(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        page = await self._run(call)
        for item in page.data:
            yield item
        while page.next is not None:
            page = await self._run(call.follow(self._next_link(page.next)))
            for item in page.data:
                yield item


class Operation(Generic[P, T]):
    __name__: str
    __qualname__: str

    def __init__(self, build: Builder[P, T]) -> None:
        self.build = build
        self.__name__ = build.__name__
        self.__qualname__ = build.__qualname__
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Operation[P, T]: ...
    @overload
    def __get__(self, obj: SyncRunner, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncRunner, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: object, owner: type[Any]) -> object:
        build = self.build
        if isinstance(obj, SyncRunner):
            runner = obj

            def run(*args: P.args, **kwargs: P.kwargs) -> T:
                return runner._run(build(runner, *args, **kwargs))

            return _named(run, build)
        if isinstance(obj, AsyncRunner):
            arunner = obj

            async def arun(*args: P.args, **kwargs: P.kwargs) -> T:
                return await arunner._run(build(arunner, *args, **kwargs))

            return _named(arun, build)
        return self


class Pager(Generic[P, T]):
    """Every item of a list operation, following ``paging.next`` until the last page."""

    __name__: str
    __qualname__: str

    def __init__(self, listing: Operation[P, Page[T]]) -> None:
        self.listing = listing
        self.__name__ = self.__qualname__ = f"iter {listing.__name__}"
        self.__doc__ = f"Every item of {listing.__name__}, page after page (lazily)."

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.__name__ = name
        self.__qualname__ = f"{owner.__qualname__}.{name}"

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Pager[P, T]: ...
    @overload
    def __get__(self, obj: SyncRunner, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, obj: AsyncRunner, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: object, owner: type[Any]) -> object:
        build = self.listing.build
        if isinstance(obj, SyncRunner):
            runner = obj

            def items(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
                return runner._items(build(runner, *args, **kwargs))

            return _named(items, self)
        if isinstance(obj, AsyncRunner):
            arunner = obj

            def aitems(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
                return arunner._items(build(arunner, *args, **kwargs))

            return _named(aitems, self)
        return self


def operation(build: Builder[P, T]) -> Operation[P, T]:
    """Make a call-building method an operation of both clients."""
    return Operation(build)


def pages(listing: Operation[P, Page[T]]) -> Pager[P, T]:
    """An ``iter_*`` method over the items of ``listing``, across pages."""
    return Pager(listing)
