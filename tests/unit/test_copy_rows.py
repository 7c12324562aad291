"""A first collection's memberships and objects (with their links) encoded straight from their
records are byte for byte the rows :func:`membership_rows`, :func:`object_rows` and
:func:`link_rows` encode after building them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from interop_hub.ingest.copy_rows import (
    first_membership_rows,
    first_object_rows,
    link_rows,
    membership_rows,
    object_rows,
)
from interop_hub.ingest.normalize import Normalizer, membership_digest, object_digest
from interop_hub.ingest.records import Ref, SourceMembership, SourceObject

NOW = dt.datetime(2026, 11, 30, 5, 30, 1, 123456, tzinfo=dt.UTC)
ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)
SHARED: list[dict[str, Any]] = [  # the reader shares equal data dicts between rows
    {"primary": True, "begin_date": "2026-09-01", "end_date": None, "$ext": {}},
    {"primary": False, "begin_date": None, "end_date": None, "$ext": {}},
]
own_data = st.builds(
    lambda primary, begin, ext: {
        "primary": primary,
        "begin_date": begin,
        "end_date": None,
        "$ext": ext,
    },
    st.booleans(),
    st.none() | st.just("2026-01-05"),
    st.dictionaries(st.sampled_from(["metadata.a", "metadata.é"]), ids, max_size=2),
)
memberships = st.builds(
    SourceMembership,
    source_id=ids,
    person_source_id=st.sampled_from(["p1", "p2", "p\u00e9", "p3"]),
    section_source_id=st.sampled_from(["c1", "c2"]) | ids,
    school_source_id=st.none() | st.just("") | st.sampled_from(["s1", "s2"]),
    role=st.sampled_from(["student", "teacher", "aide"]),
    data=st.sampled_from(SHARED) | own_data,
)


@settings(max_examples=150)
@given(cloud_id=st.uuids(), records=st.lists(memberships, max_size=40))
def test_rows_encoded_from_records_equal_rows_encoded_from_built_rows(
    cloud_id: uuid.UUID, records: list[SourceMembership]
) -> None:
    pairs = [(record, membership_digest(record)) for record in records]
    built = Normalizer(cloud_id)
    expected = list(membership_rows(cloud_id, [built.membership_row(r, d) for r, d in pairs], NOW))
    assert list(first_membership_rows(Normalizer(cloud_id), iter(pairs), NOW)) == expected


refs = st.builds(
    Ref,
    rel=st.sampled_from(["orgs", "agents", "terms", "parent"]),
    kind=st.sampled_from(["org", "person", "term"]),
    source_id=st.sampled_from(["o1", "o2", "p\u00e9"]) | ids,
)
objects = st.builds(
    SourceObject,
    kind=st.sampled_from(["org", "person", "section", "term"]),
    source_id=ids,
    subtype=st.none() | st.sampled_from(["student", "school", "org", "person"]),
    label=st.text(max_size=3) | st.text(min_size=398, max_size=405),
    school_year=st.none() | st.integers(1990, 2040),
    data=st.sampled_from(SHARED) | own_data,
    # the same reference twice is one link
    refs=st.lists(refs, max_size=4).map(lambda found: tuple(found + found[:1])),
)


@settings(max_examples=150)
@given(cloud_id=st.uuids(), records=st.lists(objects, max_size=30))
def test_objects_and_links_encoded_from_records_equal_those_encoded_from_built_rows(
    cloud_id: uuid.UUID, records: list[SourceObject]
) -> None:
    pairs = [(record, object_digest(record)) for record in records]
    built = Normalizer(cloud_id)
    rows = [built.object_row(r, d) for r, d in pairs]
    links: list[bytes] = []
    encoded = list(first_object_rows(Normalizer(cloud_id), iter(pairs), NOW, links))
    assert encoded == list(object_rows(cloud_id, rows, NOW))
    assert sorted(links) == sorted(link_rows(cloud_id, rows))
    assert len(links) == sum(len(row.links) for row in rows)
