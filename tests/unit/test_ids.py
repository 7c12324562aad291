from __future__ import annotations

import uuid

from interop_hub.kit.ids import new_id


def test_ids_are_version_7_and_grow_within_a_millisecond() -> None:
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)


def test_id_timestamp_is_the_current_millisecond() -> None:
    import time

    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    # the bump past the previous id can only move it forward by a few ticks at most
    assert before <= value.int >> 80 <= after + 1
