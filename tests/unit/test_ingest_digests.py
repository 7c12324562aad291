"""Digests: record digests see every field and reference; legacy digests are exactly what
earlier versions stored (their formula is written out here as it was)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
import xxhash

from interop_hub.ingest.normalize import (
    Normalizer,
    is_record_digest,
    legacy_membership_digest,
    legacy_object_digest,
    membership_digest,
    object_digest,
)
from interop_hub.ingest.records import Ref, SourceMembership, SourceObject
from interop_hub.repository.models import membership_id, object_id

CLOUD = uuid.UUID("01234567-89ab-7def-8123-456789abcdef")


def _old_digest(value: Any) -> str:
    """``normalize._digest`` before record digests."""
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def section() -> SourceObject:
    return SourceObject(
        "section",
        "sec-1",
        None,
        "Algebra",
        2025,
        {"title": "Algebra", "local_id": "A1", "$ext": {"grades": ["09", "10"], "n": 3}},
        (
            Ref("terms", "term", "t2"),
            Ref("course", "course", "c1"),
            Ref("terms", "term", "t1"),
            Ref("org", "org", "school-1"),
            Ref("terms", "term", "t2"),  # named twice: one link
        ),
    )


def test_legacy_object_digest_is_the_old_formula() -> None:
    record = section()
    row = Normalizer(CLOUD).object_row(record, object_digest(record))
    t1, t2 = object_id(CLOUD, "term", "t1"), object_id(CLOUD, "term", "t2")
    links = [
        ["course", str(object_id(CLOUD, "course", "c1")), 0],
        ["org", str(object_id(CLOUD, "org", "school-1")), 0],
        ["terms", str(t2), 0],
        ["terms", str(t1), 1],
    ]
    assert row.id == object_id(CLOUD, "section", "sec-1")
    assert [[rel, str(to), pos] for rel, to, pos in row.links] == links
    assert legacy_object_digest(row) == _old_digest([None, "Algebra", 2025, record.data, links])


def test_legacy_membership_digest_is_the_old_formula() -> None:
    for school in ("school-1", None):
        record = SourceMembership(
            "e1", "p1", "sec-1", school, "student", {"primary": False, "$ext": {}}
        )
        row = Normalizer(CLOUD).membership_row(record, membership_digest(record))
        school_id = object_id(CLOUD, "org", school) if school else None
        assert row.id == membership_id(CLOUD, "e1")
        assert (row.person_id, row.school_id) == (object_id(CLOUD, "person", "p1"), school_id)
        old = [
            str(object_id(CLOUD, "person", "p1")),
            str(object_id(CLOUD, "section", "sec-1")),
            str(school_id),
            "student",
            record.data,
        ]
        assert legacy_membership_digest(row) == _old_digest(old)


def test_record_digests_fit_the_column_and_are_never_legacy() -> None:
    digests = [
        object_digest(section()),
        membership_digest(SourceMembership("e1", "p1", "s1", None, "student", {})),
    ]
    for digest in digests:
        assert len(digest) == 32
        assert is_record_digest(digest)
    assert not is_record_digest(_old_digest([1]))


def test_record_digests_see_every_field_and_reference_but_not_dict_order() -> None:
    base = section()
    variants = [
        SourceObject(**{**_fields(base), "subtype": "x"}),
        SourceObject(**{**_fields(base), "label": "Algebra II"}),
        SourceObject(**{**_fields(base), "school_year": 2026}),
        SourceObject(**{**_fields(base), "data": {**base.data, "local_id": "A2"}}),
        SourceObject(**{**_fields(base), "refs": base.refs[1:]}),  # t2 now after t1
        SourceObject(**{**_fields(base), "refs": (*base.refs, Ref("terms", "term", "t3"))}),
        SourceObject(**{**_fields(base), "refs": (Ref("terms", "course", "t2"), *base.refs)}),
    ]
    digests = {object_digest(v) for v in variants}
    assert len(digests) == len(variants)
    assert object_digest(base) not in digests
    reordered = {key: base.data[key] for key in reversed(list(base.data))}
    # the order of different relationships is not part of the row: only positions within one
    same = SourceObject(
        **{
            **_fields(base),
            "data": reordered,
            "refs": (base.refs[3], base.refs[0], base.refs[2], base.refs[1], base.refs[4]),
        }
    )
    assert object_digest(same) == object_digest(base)


def _fields(record: SourceObject) -> dict[str, Any]:
    return {name: getattr(record, name) for name in SourceObject.__dataclass_fields__}


def test_record_digests_are_the_formula_with_any_keys_and_take_keys_that_are_not_strings() -> None:
    """Digests hash the sorted JSON of the statement: the same bytes as the ``OPT_NON_STR_KEYS``
    encoding they were first made with (dropped for speed), even for a key that is not one."""

    def formula(value: Any) -> str:
        encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return "r2" + xxhash.xxh3_128_hexdigest(encoded)[:30]

    record = section()
    expected = formula(["", "Algebra", 2025, record.data, []])
    plain = SourceObject("section", "sec-1", "", "Algebra", 2025, record.data, ())
    assert object_digest(plain) == expected
    odd: dict[Any, Any] = {"title": "Algebra", 7: "seven", "$ext": {}}  # a key no reader makes
    assert object_digest(SourceObject(**{**_fields(plain), "data": odd})) == formula(
        ["", "Algebra", 2025, odd, []]
    )
    data: dict[Any, Any] = {"primary": False, 1: 2}
    member = SourceMembership("e1", "p1", "s1", None, "student", data)
    assert membership_digest(member) == formula(["p1", "s1", None, "student", member.data])
