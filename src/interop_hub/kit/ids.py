"""Identifiers.

Management objects get time-ordered UUIDs (version 7, RFC 9562) so that ordering by id is
ordering by creation, which is what keyset paging needs.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_id() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Within one process the ids only grow, even for several in the same millisecond (the
    122 significant bits are bumped past the previous id's), so ordering by id is ordering by
    creation.
    """
    global _last
    millis = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    compact = (millis << 74) | int.from_bytes(os.urandom(10), "big") >> 6
    with _lock:
        if compact <= _last:
            compact = _last + 1
        _last = compact
    rand_a = (compact >> 62) & 0xFFF
    rand_b = compact & ((1 << 62) - 1)
    return uuid.UUID(int=(compact >> 74) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)
