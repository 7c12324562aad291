"""Paging of DESIGN §9: ``page`` (0-based) and ``page_size`` (defaults to the maximum, capped),
with ``paging.next`` a working link that carries a keyset cursor, so deep pages cost what the
first one does.

A cursor is opaque to clients: base64url of the JSON list of the last row's sort-key values.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request
from sqlalchemy import Row, Select, TypeDecorator, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from interop_hub.kit.errors import BadRequest

T = TypeVar("T")

MAX_PAGE = 2**31 - 1
"""The largest ``page`` number (a 32-bit integer, as the API pages declare it)."""
PAGING_PARAMS = frozenset({"page", "page_size", "cursor"})


@dataclass(frozen=True)
class PageRequest:
    page: int
    page_size: int
    cursor: list[Any] | None
    base_url: str
    query: dict[str, list[str]]

    def next_link(self, last_key: Sequence[Any]) -> str:
        params = {k: v for k, v in self.query.items() if k not in ("page", "page_size", "cursor")}
        params["page"] = [str(self.page + 1)]
        params["page_size"] = [str(self.page_size)]
        params["cursor"] = [encode_cursor(last_key)]
        return f"{self.base_url}?{urlencode(params, doseq=True)}"


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode("ascii").rstrip("=")


def decode_cursor(token: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The cursor is not one this server issued.", code="invalid_cursor"
        ) from exc
    if not isinstance(value, list) or not value:
        raise BadRequest("The cursor is not one this server issued.", code="invalid_cursor")
    return value


def page_request_from(
    request: Request, page: int, page_size: int | None, cursor: str | None, maximum: int
) -> PageRequest:
    size = maximum if page_size is None else min(page_size, maximum)
    base = request.app.state.public_base_url or str(request.base_url).rstrip("/")
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return PageRequest(
        page=page,
        page_size=size,
        cursor=decode_cursor(cursor) if cursor else None,
        base_url=base + request.url.path,
        query=query,
    )


def plain_paging(request: Request) -> tuple[int, int | None, str | None] | None:
    """``page``, ``page_size`` and ``cursor`` when each appears at most once and the numbers
    are ones :func:`paging_params` would accept (decimal digits in range); None otherwise (a
    fast path then leaves the request to FastAPI, which answers as declared)."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in PAGING_PARAMS:
            if key in found:
                return None
            found[key] = value
    page_text, size_text = found.get("page", "0"), found.get("page_size")
    if not page_text.isdigit() or int(page_text) > MAX_PAGE:
        return None
    if size_text is not None and (not size_text.isdigit() or int(size_text) < 1):
        return None
    return int(page_text), None if size_text is None else int(size_text), found.get("cursor")


def paging_params(
    request: Request,
    page: int = Query(0, ge=0, le=MAX_PAGE, description="Page number, 0-based"),
    page_size: int | None = Query(
        None, ge=1, description="Page size; defaults to the maximum page size and is capped by it"
    ),
    cursor: str | None = Query(None, description="Keyset cursor from a previous paging.next"),
) -> PageRequest:
    return page_request_from(request, page, page_size, cursor, request.app.state.max_page_size)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None


def paginate(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    req: PageRequest,
    *,
    descending: bool = False,
) -> Page[Any]:
    """Run ``stmt`` ordered by ``keys`` (unique together; ascending, or all descending for a
    newest-first list), one page of it: its first column's values.

    With a cursor the page starts after the cursor's row; without one, at ``page * page_size``.
    """
    rows = list(session.scalars(_keyset(stmt, keys, req, descending)))
    return page_of(rows, keys, req)


def paginate_rows(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    req: PageRequest,
    *,
    descending: bool = False,
    wrap: Callable[[Select[Any]], Select[Any]] | None = None,
) -> Page[Row[Any]]:
    """:func:`paginate`, a page of whole rows (``stmt`` selects the ``keys`` by their names);
    ``wrap`` makes the statement that is run of the page's (ordered, started and limited), e.g.
    to select from it."""
    page = _keyset(stmt, keys, req, descending)
    rows = list(session.execute(page if wrap is None else wrap(page)))
    return page_of(rows, keys, req)


def _keyset(
    stmt: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    req: PageRequest,
    descending: bool,
) -> Select[Any]:
    stmt = stmt.order_by(*(key.desc() for key in keys) if descending else keys)
    values, offset = page_start(keys, req)
    if values is not None:
        left: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
        # Each value bound as its column's type, as a plain comparison would bind it.
        bound = [literal(value, key.type) for key, value in zip(keys, values, strict=True)]
        right: Any = values[0] if len(keys) == 1 else tuple_(*bound)
        stmt = stmt.where(left < right if descending else left > right)
    elif offset:
        stmt = stmt.offset(offset)
    return stmt.limit(req.page_size + 1)


def page_start(
    keys: Sequence[InstrumentedAttribute[Any]], req: PageRequest
) -> tuple[list[Any] | None, int]:
    """Where a page starts: after the cursor's values (as the keys' types), or, without a
    cursor (None), at an offset. A cursor of another list is refused."""
    if req.cursor is None:
        return None, req.page * req.page_size
    if len(req.cursor) != len(keys):
        raise BadRequest("The cursor does not belong to this list.", code="invalid_cursor")
    return [_coerce(key, value) for key, value in zip(keys, req.cursor, strict=True)], 0


def page_of(
    rows: list[Any], keys: Sequence[InstrumentedAttribute[Any]], req: PageRequest
) -> Page[Any]:
    """The page of ``rows`` (up to one more than its size, in order), its next link carrying
    the last row's ``keys``."""
    more = len(rows) > req.page_size
    rows = rows[: req.page_size]
    next_link = None
    if more:
        last = rows[-1]
        next_link = req.next_link([getattr(last, key.key) for key in keys])
    return Page(items=rows, next=next_link)


def _coerce(key: InstrumentedAttribute[Any], value: Any) -> Any:
    python_type: type[Any] | None
    column_type = key.type
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime: what it stores
        column_type = column_type.impl_instance
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        python_type = None
    try:
        if python_type is uuid.UUID:
            return uuid.UUID(str(value))
        if python_type is dt.datetime:  # the cursor holds it in ISO 8601, with its offset
            moment = dt.datetime.fromisoformat(str(value))
            if moment.tzinfo is None:
                raise ValueError("a timestamp without its offset")
            return moment
    except ValueError as exc:
        raise BadRequest(
            "The cursor is not one this server issued.", code="invalid_cursor"
        ) from exc
    return value
