"""``ingest.diff.plan``: a first collection's rows built on demand, the same rows as built at
once, each record built once whatever reads them and in whatever order — or its records taken
by a writer, then never built."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from interop_hub.ingest.diff import Builder, FirstAdds, plan
from interop_hub.kit.ondemand import OnDemand


@dataclass(frozen=True)
class FakeRow:
    id: uuid.UUID
    digest: str
    source_id: str


class Counting:
    """A builder that counts what it builds."""

    def __init__(self) -> None:
        self.built: list[str] = []

    def row(self, record: str, digest: str) -> FakeRow:
        self.built.append(record)
        return FakeRow(uuid.uuid5(uuid.NAMESPACE_OID, record), digest, record)

    def builder(self) -> Builder[str, FakeRow]:
        return Builder(
            self.row,
            lambda record: f"r1{record}",  # the version before's digest of each record
            lambda row: "legacy",
            lambda s: uuid.uuid5(uuid.NAMESPACE_OID, s),
        )


def incoming(count: int) -> Iterator[tuple[str, str, str]]:
    for number in range(count):
        yield f"s{number}", f"d{number}", f"s{number}"


COUNT = OnDemand.CHUNK * 2 + 7


def test_a_first_collection_builds_its_rows_on_demand_as_they_would_be_built_at_once() -> None:
    eager, lazy = Counting(), Counting()
    at_once = [eager.row(record, digest) for _, digest, record in incoming(COUNT)]
    deferred = plan({}, incoming(COUNT), lazy.builder(), count=COUNT, full_state=True)
    assert isinstance(deferred.adds, FirstAdds)
    assert len(deferred.adds) == COUNT
    assert lazy.built == []  # nothing built yet
    first = iter(deferred.adds)
    assert next(first).source_id == "s0"
    assert len(lazy.built) == OnDemand.CHUNK  # a chunk at a time
    # A second reader while the first is half-way: both see every row once, in order.
    assert list(deferred.adds) == at_once
    assert [row.source_id for row in first] == [f"s{n}" for n in range(1, COUNT)]
    assert deferred.adds[COUNT - 1] == at_once[COUNT - 1]
    assert lazy.built == eager.built  # each record built once
    assert deferred.updates == deferred.deletes == []


def test_indexing_builds_everything_first() -> None:
    lazy = Counting()
    adds = plan({}, incoming(COUNT), lazy.builder(), count=COUNT, full_state=True).adds
    assert adds[-1].source_id == f"s{COUNT - 1}"
    assert len(lazy.built) == COUNT
    assert [row.source_id for row in adds[:2]] == ["s0", "s1"]


def test_a_miscounted_first_collection_is_an_error_not_a_short_write() -> None:
    adds = plan({}, incoming(5), Counting().builder(), count=6, full_state=True).adds
    with pytest.raises(RuntimeError, match="5 items produced, 6 announced"):
        list(adds)


def test_a_first_collection_of_unknown_size_counts_its_rows_once_built() -> None:
    lazy = Counting()
    adds = plan({}, incoming(COUNT), lazy.builder(), count=None, full_state=True).adds
    assert adds  # truthiness builds one chunk, not all
    assert len(lazy.built) == OnDemand.CHUNK
    assert len(adds) == COUNT
    assert len(lazy.built) == COUNT


@pytest.mark.parametrize("count", [COUNT, None])
def test_a_writer_takes_a_first_collections_records_and_no_row_is_ever_built(
    count: int | None,
) -> None:
    lazy = Counting()
    adds = plan({}, incoming(COUNT), lazy.builder(), count=count, full_state=True).adds
    assert isinstance(adds, FirstAdds)
    records = adds.take_records()
    assert records is not None
    assert adds.take_records() is None  # once
    assert next(records) == ("s0", "d0")
    with pytest.raises(RuntimeError, match="still being taken"):
        len(adds)  # not known until all are taken
    assert list(records) == [(f"s{n}", f"d{n}") for n in range(1, COUNT)]
    assert len(adds) == COUNT
    assert adds
    assert lazy.built == []
    # The rows were never built: reading them is an error, never an empty or short sequence.
    with pytest.raises(RuntimeError, match="have no rows"):
        list(adds)
    with pytest.raises(RuntimeError, match="have no rows"):
        adds[0]


def test_taking_fewer_records_than_announced_is_an_error_not_a_short_write() -> None:
    adds = plan({}, incoming(5), Counting().builder(), count=6, full_state=True).adds
    assert isinstance(adds, FirstAdds)
    records = adds.take_records()
    assert records is not None
    with pytest.raises(RuntimeError, match="5 records taken, 6 announced"):
        list(records)
    with pytest.raises(RuntimeError, match="still being taken"):
        len(adds)


def test_once_a_row_is_built_the_records_cannot_be_taken() -> None:
    lazy = Counting()
    adds = plan({}, incoming(COUNT), lazy.builder(), count=None, full_state=True).adds
    assert isinstance(adds, FirstAdds)
    assert adds  # builds a chunk
    assert adds.take_records() is None
    assert [row.source_id for row in adds] == [f"s{n}" for n in range(COUNT)]


def test_taking_no_records_leaves_an_empty_sequence() -> None:
    adds = plan({}, incoming(0), Counting().builder(), count=0, full_state=True).adds
    assert isinstance(adds, FirstAdds)
    records = adds.take_records()
    assert records is not None
    assert list(records) == []
    assert len(adds) == 0
    assert not adds


def test_a_later_collection_builds_only_new_and_changed_rows_at_once() -> None:
    lazy = Counting()
    current = {"s0": "d0", "s1": "old", "gone": "d9"}
    found = plan(current, incoming(3), lazy.builder(), count=3, full_state=True)
    assert isinstance(found.adds, list)
    assert [row.source_id for row in found.adds] == ["s2"]
    assert [row.source_id for row in found.updates] == ["s1"]
    assert found.deletes == [uuid.uuid5(uuid.NAMESPACE_OID, "gone")]
    assert lazy.built == ["s1", "s2"]


def test_a_digest_of_the_version_before_is_compared_on_the_record_and_left_as_it_is() -> None:
    counting = Counting()
    current = {"same": "r1same", "changed": "r1changed-before", "mine": "r2old", "legacy": "ab"}
    incoming = [
        ("same", "r2same", "same"),  # the version before's digest of it: unchanged
        ("changed", "r2changed", "changed"),
        ("mine", "r2new", "mine"),
        ("legacy", "r2legacy", "legacy"),  # the legacy digest of its row is "legacy", not "ab"
    ]
    result = plan(current, iter(incoming), counting.builder(), count=4, full_state=True)
    assert [row.source_id for row in result.updates] == ["changed", "mine", "legacy"]
    assert counting.built == ["changed", "mine", "legacy"]  # "same" was never built
    assert result.unchanged_legacy == []  # nor is its digest replaced
    assert list(result.adds) == []
    assert result.deletes == []
