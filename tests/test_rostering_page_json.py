"""The JSON of a whole-cloud list's page (``rostering.service.list_json``), on SQLite and
PostgreSQL.

A page that is all stored text served as it is (an unscoped reader's stored projections, or the
renderings it sees whole) reads only each row's id and text (``rostering.pages.spliced``);
anything else is made as ``list_page`` makes it. Either way the bytes must be exactly those of
``list_page``'s page, for every reader, page after page, with the same next links, and whatever
is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.paging import PageRequest, decode_cursor
from interop_hub.repository.models import RepoObject
from interop_hub.rostering import pages
from interop_hub.rostering import service as rostering
from interop_hub.rostering.models import PayloadView
from interop_hub.runtime import Hub
from interop_hub.tasks import payloads
from interop_hub.tasks.models import TaskPayload
from interop_hub.tasks.projection import TenantView, Topic
from tests.test_rostering_projections import plain, three_states
from tests.test_rostering_stored import LISTS, District, bundle, changed, district, reader

__all__ = ["district", "plain"]  # the fixtures
READERS = ("connector", "whole", "names", "scoped", "plain")
SPLICED = ("connector", "whole", "names")
"""The readers whose student pages are all stored text served as it is, once the renderings
pass has run (the others are scoped)."""


def request(page: int, cursor: str | None, size: int) -> PageRequest:
    return PageRequest(
        page=page,
        page_size=size,
        cursor=None if cursor is None else decode_cursor(cursor),
        base_url="http://hub/list",
        query={"page_size": [str(size)]},
    )


def walk(
    session: Session, who: rostering.Reader, kind: str, subtype: str | None, size: int
) -> Iterator[tuple[bytes, bytes]]:
    """Each page by cursor, to the end, then the second by number: (``list_json``, the page of
    ``list_page`` as JSON)."""
    cursor: str | None = None
    while True:
        paging = request(0, cursor, size)
        found = rostering.list_json(session, who, paging, kind, subtype)
        expected = rostering.list_page(session, who, paging, kind, subtype)
        yield found, rostering.page_json(expected)
        if expected.next is None:
            break
        cursor = expected.next.rsplit("cursor=", 1)[1]
    numbered = request(1, None, size)
    found = rostering.list_json(session, who, numbered, kind, subtype)
    yield found, rostering.page_json(rostering.list_page(session, who, numbered, kind, subtype))


def assert_same_pages(session: Session, who: rostering.Reader) -> list[Any]:
    """Every list, by pages of 1 to 4 objects: ``list_json`` is ``list_page`` byte for byte;
    returns the students (by pages of 2)."""
    students: list[Any] = []
    for kind, subtype in LISTS:
        for size in (1, 2, 3, 4):
            for found, expected in walk(session, who, kind, subtype, size):
                assert found == expected, (kind, subtype, size)
                if (kind, subtype, size) == ("person", "student", 2):
                    students.append(orjson.loads(found))
    return students


@pytest.mark.parametrize("name", READERS)
def test_page_json_is_the_page_byte_for_byte(hub: Hub, plain: District, name: str) -> None:
    for round_ in three_states(hub, plain):
        with transaction(hub.sessions) as session:
            who = reader(session, plain, name)
            students = assert_same_pages(session, who)
        firsts = [s["name"]["first"] for page in students[:-1] for s in page["data"]]
        assert firsts
        assert all(first.endswith("-renamed") for first in firsts) == (round_ > 0)


@pytest.fixture
def spliced_pages(monkeypatch: pytest.MonkeyPatch) -> list[pages.Spliced]:
    """What :func:`pages.spliced` returned, call after call."""
    found: list[pages.Spliced] = []
    original = pages.spliced

    def spy(*args: Any) -> pages.Spliced:
        result = original(*args)
        found.append(result)
        return result

    monkeypatch.setattr(pages, "spliced", spy)
    return found


@pytest.mark.parametrize("name", SPLICED)
def test_stored_texts_are_read_as_ids_and_texts(
    hub: Hub, plain: District, name: str, spliced_pages: list[pages.Spliced]
) -> None:
    """Once every student has its stored text, no page of them is read as ``list_page`` reads
    it."""
    with transaction(hub.sessions) as session:
        who = reader(session, plain, name)
        for found, expected in walk(session, who, "person", "student", 2):
            assert found == expected
    assert [page.texts is not None for page in spliced_pages] == [True, True, True]
    assert [page.after is not None for page in spliced_pages] == [True, False, False]


def test_a_page_with_an_unstored_object_is_read_as_before(
    hub: Hub, plain: District, spliced_pages: list[pages.Spliced]
) -> None:
    """Students renamed and not yet rendered again: the texts are refused, and the page served
    is the one of their live renderings."""
    plain.collect(hub, changed(bundle()), refresh=False)
    with transaction(hub.sessions) as session:
        who = reader(session, plain, "names")
        first = request(0, None, 10)
        body = orjson.loads(rostering.list_json(session, who, first, "person", "student"))
    assert sorted(s["name"]["first"] for s in body["data"]) == ["A-renamed", "C-renamed"]
    assert body["paging"]["next"] is None
    assert [page.texts for page in spliced_pages] == [None]


def tamper(hub: Hub, plain: District, source_id: str, text: str) -> None:
    """Replace the stored text of the current rendering of ``source_id``."""
    with write_transaction(hub.sessions) as session:
        oid = session.scalars(
            select(RepoObject.id).where(
                RepoObject.cloud_id == plain.cloud_id, RepoObject.source_id == source_id
            )
        ).one()
        epoch = payloads.epoch_of(session, plain.cloud_id)
        current = payloads.current(session, plain.cloud_id, epoch, None)[oid]
        session.execute(
            update(TaskPayload).where(TaskPayload.id == current).values(body=orjson.loads(text))
        )


def test_a_rendering_naming_a_dropped_rollup_is_projected(hub: Hub, plain: District) -> None:
    """A topic that keeps every attribute but ``$teachers`` (and other roll-ups a Student's
    JSON has none of) is served the renderings as they are, unless one names the roll-up (a
    body stored some other way): that one is projected, on either path."""
    view = TenantView({("person", "student"): Topic("Student", ("*", "$schools", "$sections"))}, {})
    who = rostering.Reader(plain.cloud_id, view)
    assert who.view_key("person", "student") is None  # no stored projection: the renderings
    with transaction(hub.sessions) as session:
        body = rostering.list_json(session, who, request(0, None, 10), "person", "student")
    assert b'"$teachers"' not in body
    students = orjson.loads(body)["data"]
    original = next(s for s in students if s["$sys"]["source_id"]["sis"] == "u2")
    tamper(hub, plain, "u2", orjson.dumps({**original, "$teachers": []}).decode())
    with transaction(hub.sessions) as session:
        walked = list(walk(session, who, "person", "student", 10))
    assert all(found == expected for found, expected in walked)
    first = orjson.loads(walked[0][0])["data"]
    assert [s["$sys"]["id"] for s in first] == [s["$sys"]["id"] for s in students]
    assert all("$teachers" not in s for s in first)
    assert next(s for s in first if s["$sys"]["source_id"]["sis"] == "u2") == original


@pytest.mark.parametrize("name", ["connector", "names"])
def test_a_stored_text_that_is_no_object_is_served_as_list_page_serves_it(
    hub: Hub, plain: District, name: str, spliced_pages: list[pages.Spliced]
) -> None:
    """A stored rendering (read by the connector) or projection (read by the names-only
    tenant) that is not a JSON object (not one the hub writes) is not taken as it is: the page
    is made as ``list_page`` makes it."""
    if name == "connector":
        tamper(hub, plain, "u2", "[1,2]")
    else:
        with write_transaction(hub.sessions) as session:
            session.execute(update(PayloadView).values(body="[1,2]"))
    with transaction(hub.sessions) as session:
        who = reader(session, plain, name)
        walked = list(walk(session, who, "person", "student", 10))
    assert all(found == expected for found, expected in walked)
    assert [page.texts for page in spliced_pages] == [None, []]  # (the second page is empty)
    assert [1, 2] in orjson.loads(walked[0][0])["data"]
