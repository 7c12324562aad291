"""``kit.ondemand.OnDemand``: what is produced and when, its closing step, and failures that
never pass for a complete sequence."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interop_hub.kit.ondemand import OnDemand


class Producer:
    """Yields ``count`` numbers, recording how far it got; optionally fails at ``fail_at``."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced = 0
        self.closed = 0

    def items(self) -> Iterator[int]:
        for number in range(self.count):
            if number == self.fail_at:
                raise ValueError(f"bad item {number}")
            self.produced += 1
            yield number

    def done(self) -> None:
        self.closed += 1


@given(
    count=st.integers(min_value=0, max_value=3500),
    steps=st.lists(st.sampled_from(["next", "pass", "len", "bool", "index"]), max_size=6),
)
def test_every_consumer_gets_the_whole_sequence_in_order_and_done_runs_once(
    count: int, steps: list[str]
) -> None:
    producer = Producer(count)
    items = OnDemand(producer.items(), done=producer.done)
    early = iter(items)
    taken: list[int] = []
    for step in steps:
        if step == "next":
            taken.extend(islice(early, 1))
        elif step == "pass":
            assert list(items) == list(range(count))
        elif step == "len":
            assert len(items) == count
        elif step == "bool":
            assert bool(items) == (count > 0)
        elif step == "index" and count:
            assert items[count - 1] == count - 1
    taken.extend(early)
    assert taken == list(range(count))
    assert list(items) == list(range(count))
    assert items.complete
    assert producer.closed == 1


def test_nothing_is_produced_until_used_and_truthiness_produces_one_chunk() -> None:
    producer = Producer(OnDemand.CHUNK * 3)
    items = OnDemand(producer.items(), done=producer.done)
    assert producer.produced == 0
    assert items
    assert producer.produced == OnDemand.CHUNK
    assert not items.complete
    assert producer.closed == 0
    items.produce_all()
    assert producer.produced == OnDemand.CHUNK * 3
    assert producer.closed == 1


def test_an_announced_count_answers_len_without_producing() -> None:
    producer = Producer(10)
    items = OnDemand(producer.items(), count=10)
    assert len(items) == 10
    assert producer.produced == 0


def test_a_failure_reaches_the_consumer_and_every_later_use() -> None:
    producer = Producer(OnDemand.CHUNK * 2, fail_at=OnDemand.CHUNK + 5)
    items = OnDemand(producer.items(), done=producer.done)
    with pytest.raises(ValueError, match="bad item"):
        list(items)
    assert not items.complete
    for use in (list, len, bool):
        with pytest.raises(RuntimeError, match="failed earlier"):
            use(items)
    assert producer.closed == 0


def test_a_failing_closing_step_is_not_forgotten() -> None:
    def done() -> None:
        raise OSError("disk gone")

    items = OnDemand(iter(range(3)), done=done)
    with pytest.raises(OSError, match="disk gone"):
        len(items)
    with pytest.raises(RuntimeError, match="failed earlier"):
        list(items)
