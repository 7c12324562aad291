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


def test_the_namespace_is_the_models_one() -> None:
    assert ids.NAMESPACE == REPOSITORY_NAMESPACE


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
    assert made.bytes == expected.bytes


@settings(max_examples=200)
@given(cloud=st.uuids(), source_id=source_ids)
def test_membership_ids_equal_uuid5(cloud: uuid.UUID, source_id: str) -> None:
    expected = uuid.uuid5(REPOSITORY_NAMESPACE, f"{cloud}/membership/{source_id}")
    assert ids.membership_id(cloud, source_id) == expected == membership_id(cloud, source_id)
    assert ids.IdMaker(cloud, "membership")(source_id) == expected


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
