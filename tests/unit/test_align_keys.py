"""Lining up line keys with remembered ones (pure): what the walk and the dictionary find."""

from __future__ import annotations

import array
import random

import pytest

from interop_hub.ingest.oneroster.align import LOOKAHEAD, align


def packed(keys: list[int]) -> bytes:
    return array.array("Q", keys).tobytes()


def matched(now: list[int], before: list[int]) -> tuple[dict[int, int], list[int], list[int]]:
    """Position in ``now`` → remembered position, the new ones, the vanished ones."""
    found = align(packed(now), packed(before))
    pairs: dict[int, int] = {}
    for i, j, n in found.runs:
        assert n > 0
        assert now[i : i + n] == before[j : j + n]
        for k in range(n):
            pairs[i + k] = j + k
    assert [i for i, _, _ in found.runs] == sorted(i for i, _, _ in found.runs)
    return pairs, found.new, found.vanished


def check(now: list[int], before: list[int]) -> tuple[dict[int, int], list[int], list[int]]:
    """Every key of ``now`` is matched or new, every remembered one matched or vanished,
    each at most once; a key is new only when no remembered occurrence of it is left."""
    pairs, new, vanished = matched(now, before)
    assert sorted([*pairs, *new]) == list(range(len(now)))
    assert sorted([*pairs.values(), *vanished]) == list(range(len(before)))
    left = {before[p] for p in vanished}
    assert all(now[i] not in left for i in new)
    return pairs, new, vanished


def test_equal_files_are_one_stretch() -> None:
    keys = list(range(1, 10_001))
    found = align(packed(keys), packed(keys))
    assert found.runs == [(0, 0, 10_000)]
    assert found.new == found.vanished == []


def test_changed_added_and_dropped_lines() -> None:
    before = list(range(100, 200))
    now = [*before[:10], 999, *before[11:50], 555, 556, *before[50:90], *before[95:]]
    pairs, new, vanished = check(now, before)
    assert [now[i] for i in new] == [999, 555, 556]
    assert [before[p] for p in vanished] == [110, 190, 191, 192, 193, 194]
    assert pairs[0] == 0
    assert pairs[len(now) - 1] == len(before) - 1


def test_a_line_moved_far_away_is_still_matched() -> None:
    before = list(range(1, 5 * LOOKAHEAD))
    now = [*before[1:], before[0]]
    pairs, new, vanished = check(now, before)
    assert new == vanished == []
    assert pairs[len(now) - 1] == 0


def test_a_repeated_key_is_matched_once() -> None:
    before = [1, 2, 3, 4]
    now = [1, 2, 3, 2, 4]
    _, new, vanished = check(now, before)
    assert len(new) == 1
    assert now[new[0]] == 2
    assert vanished == []


@pytest.mark.parametrize("seed", range(8))
def test_random_edits_and_shuffles(seed: int) -> None:
    rng = random.Random(seed)
    before = rng.sample(range(1, 1 << 62), 3000)
    now = list(before)
    for _ in range(rng.randrange(0, 300)):
        at = rng.randrange(len(now) + 1)
        action = rng.random()
        if action < 0.4 and now:
            del now[min(at, len(now) - 1)]
        elif action < 0.7:
            now.insert(at, rng.randrange(1, 1 << 62))
        elif action < 0.9 and now:
            now[min(at, len(now) - 1)] = rng.randrange(1, 1 << 62)
        else:
            now.insert(at, rng.choice(before))  # a repeated or moved line
    if seed % 4 == 3:
        rng.shuffle(now)
    check(now, before)
