"""The response envelope of DESIGN §9, as pydantic models (for OpenAPI) and as helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from interop_hub.kit.paging import Page

T = TypeVar("T")
S = TypeVar("S")


class Paging(BaseModel):
    next: str | None = None


class DataEnvelope(BaseModel, Generic[T]):
    data: T


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    paging: Paging


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    ext_message: str | None = None
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def one(item: T) -> DataEnvelope[T]:
    return DataEnvelope[T](data=item)


def many(page: Page[S], convert: Callable[[S], T]) -> ListEnvelope[T]:
    return ListEnvelope[T](
        data=[convert(item) for item in page.items], paging=Paging(next=page.next)
    )


def listing(items: Iterable[T], next_link: str | None = None) -> ListEnvelope[T]:
    return ListEnvelope[T](data=list(items), paging=Paging(next=next_link))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (400, "Bad request: the input is not valid"),
        (401, "Missing, wrong, expired or malformed credentials"),
        (404, "Not found, or not visible to the caller"),
    )
}
