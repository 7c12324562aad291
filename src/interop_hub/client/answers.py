"""Reading the hub's answers: an error status raises the :mod:`~interop_hub.client.errors` class
of its envelope; a success is taken apart by the operation's reader: ``{"data": ...}`` for one
object, ``{"data": [...], "paging": {"next": ...}}`` for a list (a :class:`Page`), a bare integer
for a count, nothing (204) for most changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from interop_hub.client.errors import UnexpectedResponse, error_from_response

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Reader = Callable[[httpx.Response], T]
"""How an operation reads its answer."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and the link to the next page (None on the last)."""

    data: list[T]
    next: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def decoded(response: httpx.Response) -> Any:
    """The JSON of a successful answer (None for an empty one); an error status raises."""
    if response.is_error:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        # orjson, not httpx's json(): a page of 1,000 students (~350 KB) parses in a
        # fraction of the standard library's time; the hub's answers are UTF-8, as JSON must be
        return orjson.loads(response.content)
    except ValueError as exc:  # orjson.JSONDecodeError is one
        raise UnexpectedResponse(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code} with a body that is not JSON"
        ) from exc


def _data(response: httpx.Response) -> Any:
    """The envelope's ``data``. A bare object is taken as it is: some pages of the spec show
    the finds of the Data API without the envelope."""
    body = decoded(response)
    if isinstance(body, dict) and "data" in body:
        return body["data"]
    return body


def _validated(model: type[M], value: Any, response: httpx.Response) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise UnexpectedResponse(
            f"{response.request.method} {response.request.url}: the answer is not a "
            f"{model.__name__}: {exc}"
        ) from exc


def one(model: type[M]) -> Reader[M]:
    def read(response: httpx.Response) -> M:
        return _validated(model, _data(response), response)

    return read


def many(model: type[M]) -> Reader[list[M]]:
    """A list of ``model`` (one object alone counts as a list of one)."""

    def read(response: httpx.Response) -> list[M]:
        value = _data(response)
        items = value if isinstance(value, list) else [value]
        return [_validated(model, item, response) for item in items]

    return read


def page_of(model: type[M]) -> Reader[Page[M]]:
    def read(response: httpx.Response) -> Page[M]:
        body = decoded(response)
        try:
            items, link = body["data"], (body.get("paging") or {}).get("next")
        except (TypeError, KeyError, AttributeError) as exc:
            raise UnexpectedResponse(
                f"{response.request.method} {response.request.url}: the answer is not a list"
            ) from exc
        return Page([_validated(model, item, response) for item in items], link)

    return read


def count(response: httpx.Response) -> int:
    value = _data(response)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnexpectedResponse(f"{response.request.url}: the answer is not a count")
    return value


def nothing(response: httpx.Response) -> None:
    decoded(response)


def anything(response: httpx.Response) -> Any:
    return decoded(response)
