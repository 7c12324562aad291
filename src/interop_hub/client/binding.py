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

import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from interop_hub.client.answers import Page
from interop_hub.client.calls import Call

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Builder = Callable[Concatenate[Any, P], Call[T]]


class Named(Protocol):
    __name__: str
    __qualname__: str
    __doc__: str | None


def _named(function: F, like: Named, signature: inspect.Signature) -> F:
    """``function`` with the name, the documentation and (for ``help()``) the signature of
    what it stands for."""
    function.__name__ = like.__name__
    function.__qualname__ = like.__qualname__
    function.__doc__ = like.__doc__
    function.__dict__["__signature__"] = signature
    return function


def _without_self(build: Callable[..., Any], returns: Any) -> inspect.Signature:
    signature = inspect.signature(build)
    parameters = list(signature.parameters.values())[1:]
    return signature.replace(parameters=parameters, return_annotation=returns)


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
        self.signature = _without_self(build, inspect.Signature.empty)

    def __repr__(self) -> str:
        return f"<operation {self.__qualname__}{self.signature}>"

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

            return _named(run, build, self.signature)
        if isinstance(obj, AsyncRunner):
            arunner = obj

            async def arun(*args: P.args, **kwargs: P.kwargs) -> T:
                return await arunner._run(build(arunner, *args, **kwargs))

            return _named(arun, build, self.signature)
        return self


class Pager(Generic[P, T]):
    """Every item of a list operation, following ``paging.next`` until the last page."""

    __name__: str
    __qualname__: str

    def __init__(self, listing: Operation[P, Page[T]]) -> None:
        self.listing = listing
        self.__name__ = self.__qualname__ = f"iter {listing.__name__}"
        self.__doc__ = f"Every item of {listing.__name__}, page after page (lazily)."
        self.signature = listing.signature

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

            return _named(items, self, self.signature)
        if isinstance(obj, AsyncRunner):
            arunner = obj

            def aitems(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
                return arunner._items(build(arunner, *args, **kwargs))

            return _named(aitems, self, self.signature)
        return self


def operation(build: Builder[P, T]) -> Operation[P, T]:
    """Make a call-building method an operation of both clients."""
    return Operation(build)


def pages(listing: Operation[P, Page[T]]) -> Pager[P, T]:
    """An ``iter_*`` method over the items of ``listing``, across pages."""
    return Pager(listing)
