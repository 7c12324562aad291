"""Lining up a file's line keys with the keys remembered from the last collection.

A nightly export is last night's file with a few lines changed, added or dropped, nearly
always in the same order. So the keys (8 bytes each, one per line) are walked side by side:
equal stretches are found by comparing whole slices of bytes (``memcmp``, no Python object
per line), and after a difference the walk looks a short way ahead in either file for where
they agree again. What the walk leaves over — every line of a file written in another order —
is matched by key in a dictionary, which costs what the leftovers number, not the file.

The result says, for each line, whether it is a remembered one (and which) or new; a line
present twice is matched at most once (the other occurrence counts as new).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

KEY: Final = 8
"""Bytes per key."""

LOOKAHEAD: Final = 256
"""How many keys ahead the walk looks for where the files agree again after a difference."""

LOST: Final = 64
"""Lookaheads in a row that find nothing after which the walk stops: the file is in another
order (the dictionary matches the rest at once)."""

_FIRST_STEP: Final = 32
"""Keys compared at once first; doubled while they are equal."""

_LARGEST_STEP: Final = 1 << 14


@dataclass(frozen=True, slots=True)
class Alignment:
    """Which of ``now``'s keys are remembered ones, by position (both counted from 0)."""

    runs: list[tuple[int, int, int]]
    """``(now, remembered, length)``: equal stretches, by position in ``now``; a remembered
    line found elsewhere is a stretch of one."""
    new: list[int]
    """The positions in ``now`` of keys not remembered (or remembered and met already), in
    order."""
    vanished: list[int]
    """The remembered positions that no key of ``now`` matched."""


def align(now: bytes, remembered: bytes) -> Alignment:
    """Line ``now`` up with ``remembered`` (both packed keys; see the module docstring)."""
    n, m = len(now) // KEY, len(remembered) // KEY
    runs: list[tuple[int, int, int]] = []
    extra_now: list[int] = []
    extra_before: list[int] = []
    budget = max(1024, (n + m) // 32)  # lookaheads before the walk gives the rest to the dict
    lost = 0  # lookaheads in a row that found nothing either way
    i = j = 0
    while i < n and j < m and budget and lost < LOST:
        length = _common(now, i, remembered, j, min(n - i, m - j))
        if length:
            runs.append((i, j, length))
            i += length
            j += length
            lost = 0
            continue
        budget -= 1
        ahead = _find(remembered, now[i * KEY : (i + 1) * KEY], j + 1, min(m, j + LOOKAHEAD))
        if ahead >= 0:  # remembered lines dropped (or moved) before this one
            extra_before.extend(range(j, ahead))
            j = ahead
            continue
        ahead = _find(now, remembered[j * KEY : (j + 1) * KEY], i + 1, min(n, i + LOOKAHEAD))
        if ahead >= 0:  # lines added before a remembered one
            extra_now.extend(range(i, ahead))
            i = ahead
            continue
        extra_now.append(i)  # a line changed where it stands
        extra_before.append(j)
        i += 1
        j += 1
        lost += 1
    extra_now.extend(range(i, n))
    extra_before.extend(range(j, m))
    new, vanished = _match_by_key(now, remembered, extra_now, extra_before, runs)
    return Alignment(runs, new, vanished)


def _common(a: bytes, i: int, b: bytes, j: int, limit: int) -> int:
    """How many keys of ``a`` from ``i`` equal those of ``b`` from ``j`` (at most ``limit``)."""
    done, step = 0, _FIRST_STEP
    while done < limit:
        size = min(step, limit - done)
        x = a[(i + done) * KEY : (i + done + size) * KEY]
        y = b[(j + done) * KEY : (j + done + size) * KEY]
        if x == y:
            done += size
            step = min(step * 2, _LARGEST_STEP)
            continue
        # the lowest differing bit of the two slices read as little-endian numbers is in
        # their first differing byte
        diff = int.from_bytes(x, "little") ^ int.from_bytes(y, "little")
        return done + ((diff & -diff).bit_length() - 1) // (8 * KEY)
    return done


def _find(keys: bytes, key: bytes, start: int, end: int) -> int:
    """The position of ``key`` among ``keys[start:end]``, or -1."""
    at = keys.find(key, start * KEY, end * KEY)
    while at >= 0 and at % KEY:  # found across two keys
        at = keys.find(key, at + 1, end * KEY)
    return -1 if at < 0 else at // KEY


def _match_by_key(
    now: bytes,
    remembered: bytes,
    extra_now: list[int],
    extra_before: list[int],
    runs: list[tuple[int, int, int]],
) -> tuple[list[int], list[int]]:
    """Match the keys the walk left over by value: a moved line becomes a stretch of one in
    ``runs`` (kept ordered by position in ``now``); returns the new and the vanished."""
    if not extra_now or not extra_before:
        return extra_now, extra_before
    now_keys = memoryview(now).cast("Q")
    before_keys = memoryview(remembered).cast("Q")
    waiting = {before_keys[p]: p for p in extra_before}
    new: list[int] = []
    moved: list[tuple[int, int, int]] = []
    for i in extra_now:
        p = waiting.pop(now_keys[i], None)
        if p is None:
            new.append(i)
        else:
            moved.append((i, p, 1))
    if moved:
        runs.extend(moved)
        runs.sort()
    return new, sorted(waiting.values())
