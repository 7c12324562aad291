"""A call to the hub as data (sans I/O): method, path, query, body and how to read the answer
(:mod:`~interop_hub.client.answers`).

The operations (:mod:`interop_hub.client.api`) only build :class:`Call` objects; the sync and the
async client send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from interop_hub.client.answers import Page, Reader, nothing, page_of

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Id = uuid.UUID | str
"""An object's id, as a UUID or its text."""


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    url: str
    read: Reader[T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None

    def follow(self, link: str) -> Call[T]:
        """The same call for a ``paging.next`` link (which carries the whole query)."""
        return replace(self, url=link, params=None)


def path(template: str, *ids: Id) -> str:
    """``template`` with each ``{}`` replaced by one of ``ids``, quoted as a path segment."""
    return template.format(*(quote(str(value), safe="") for value in ids))


def interop(template: str, *ids: Id) -> str:
    """A path of the Interop API (``/v2/interop``)."""
    return path("/v2/interop" + template, *ids)


def data_api(template: str, *ids: Id) -> str:
    """A path of the Interop Data API (``/v2/interop/data``)."""
    return path("/v2/interop/data" + template, *ids)


def query(**values: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; ids (and lists of them) as text."""
    params: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Sequence) and not isinstance(value, str):
            params[key] = [str(item) for item in value]
        elif isinstance(value, uuid.UUID):
            params[key] = str(value)
        else:
            params[key] = value
    return params


def paging(page: int | None, page_size: int | None, **values: Any) -> dict[str, Any]:
    return query(page=page, page_size=page_size, **values)


def body(**values: Any) -> dict[str, Any]:
    """A JSON body of the values given (``None``: left out, i.e. unchanged); ids, times and
    models as their JSON."""
    found = {key: value for key, value in values.items() if value is not None}
    result: dict[str, Any] = to_jsonable_python(found, by_alias=True, exclude_none=True)
    return result


def json_of(item: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a model or a mapping (``None`` fields left out, JSON names)."""
    fields = item if isinstance(item, Mapping) else item.model_dump(by_alias=True)
    return body(**fields)


# --- Building calls -----------------------------------------------------------------------------


def get(url: str, read: Reader[T], params: Mapping[str, Any] | None = None) -> Call[T]:
    return Call("GET", url, read, params=params)


def get_page(url: str, model: type[M], params: Mapping[str, Any]) -> Call[Page[M]]:
    return Call("GET", url, page_of(model), params=params)


def delete(url: str) -> Call[None]:
    return Call("DELETE", url, nothing)


def post(url: str, read: Reader[T], json: Any = None) -> Call[T]:
    return Call("POST", url, read, json=json)


def patch(url: str, json: Any) -> Call[None]:
    """A change the hub answers with 204."""
    return Call("PATCH", url, nothing, json=json)


def xml(method: str, url: str, read: Reader[T], document: str | bytes) -> Call[T]:
    """A call with an XML body (a blueprint)."""
    content = document.encode("utf-8") if isinstance(document, str) else document
    return Call(method, url, read, content=content, headers={"Content-Type": "application/xml"})
