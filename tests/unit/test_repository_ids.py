"""The Repository's fast ids are exactly the ``uuid.uuid5`` ids the models define."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interop_hub.repository import ids
from interop_hub.repository.models import REPOSITORY_NAMESPACE, membership_id, object_id

KINDS = ("org", "term", "course", "person", "section", "grading_category")
source_ids = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)


def test_the_namespace_never_changes() -> None:
    # Every stored $sys.id derives from it: another value would give every object a new id.
    namespace = uuid.UUID("8d3f2a8e-5b7c-4c61-9e0a-3f7d1c2b4a59")
    assert REPOSITORY_NAMESPACE == ids.NAMESPACE == namespace
    # ... and a known id stays what it was when the first Repository was written.
    cloud = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert object_id(cloud, "person", "s1") == uuid.UUID("eee964d5-ebaf-51c0-8b4f-1299297f3127")


@settings(max_examples=300)
@given(cloud=st.uuids(), kind=st.sampled_from(KINDS), source_id=source_ids)
def test_object_ids_equal_uuid5(cloud: uuid.UUID, kind: str, source_id: str) -> None:
    expected = uuid.uuid5(REPOSITORY_NAMESPACE, f"{cloud}/{kind}/{source_id}")
    made = ids.IdMaker(cloud, kind)(source_id)
    assert made == expected == object_id(cloud, kind, source_id)
    assert ids.object_id(cloud, kind, source_id) == expected
    assert ids.CachedIds(cloud).get(kind, source_id) == expected
    # a full UUID: the same text, hash, version and variant, and it orders and pickles alike
    assert str(made) == str(expected)
    assert hash(made) == hash(expected)
    assert made.version == 5
    assert made.variant == uuid.RFC_4122
    assert made.is_safe == expected.is_safe
    assert uuid.UUID(str(made)) == made
    assert made.bytes == expected.bytes == ids.IdMaker(cloud, kind).bytes_of(source_id)


@settings(max_examples=200)
@given(cloud=st.uuids(), source_id=source_ids)
def test_membership_ids_equal_uuid5(cloud: uuid.UUID, source_id: str) -> None:
    expected = uuid.uuid5(REPOSITORY_NAMESPACE, f"{cloud}/membership/{source_id}")
    assert ids.membership_id(cloud, source_id) == expected == membership_id(cloud, source_id)
    assert ids.IdMaker(cloud, "membership")(source_id) == expected
    assert ids.IdMaker(cloud, "membership").bytes_of(source_id) == expected.bytes
    named = ids.IdMaker(cloud, "membership").name_prefix + source_id.encode()
    assert ids.packed_ids([named, named]) == expected.bytes * 2


def test_a_maker_is_reusable_and_the_cache_returns_the_same_object() -> None:
    cloud = uuid.uuid4()
    make = ids.IdMaker(cloud, "person")
    names = [f"user-{i}" for i in range(2_000)] + ["", "é/ü", "a" * 300]
    assert [make(n) for n in names] == [object_id(cloud, "person", n) for n in names]
    cached = ids.CachedIds(cloud)
    first = cached.get("section", "s1")
    assert cached.get("section", "s1") is first
    assert cached.cache("section") == {"s1": first}
    assert cached.get("person", "s1") != first  # the kind is part of the id


def test_source_ids_that_are_not_unicode_fail_alike() -> None:
    cloud = uuid.uuid4()
    with pytest.raises(UnicodeEncodeError):
        uuid.uuid5(REPOSITORY_NAMESPACE, f"{cloud}/person/\udcff")
    with pytest.raises(UnicodeEncodeError):
        ids.IdMaker(cloud, "person")("\udcff")
