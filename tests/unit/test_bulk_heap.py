"""kit.gc.BulkHeap: the collector off while a step builds, then kept off what it built."""

from __future__ import annotations

import gc

from interop_hub.kit.gc import BulkHeap


def test_the_collector_is_off_then_runs_again_without_what_was_built() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with BulkHeap() as heap:
        assert not gc.isenabled()
        built = [{"n": n} for n in range(1000)]
        heap.resume()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(built)
        heap.resume()  # again: nothing more to freeze
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_leaving_without_resuming_restores_the_collector_as_it_was() -> None:
    gc.disable()
    try:
        with BulkHeap():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off: it stays off
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
