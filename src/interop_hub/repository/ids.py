"""Repository ids, computed cheaply: the same UUIDs as :func:`uuid.uuid5`, about 6x faster.

An id is ``uuid5(REPOSITORY_NAMESPACE, f"{cloud_id}/{kind}/{source_id}")`` (memberships:
``f"{cloud_id}/membership/{source_id}"``), as :func:`interop_hub.repository.models.object_id`
and :func:`~interop_hub.repository.models.membership_id` define it. A collection computes one
per row and per reference (about 2M for 100,000 students), and :func:`uuid.uuid5` spends most
of its time outside SHA-1: concatenating the namespace, ``UUID.__init__``'s checks and bit
twiddling. Here the namespace and the ``cloud/kind/`` prefix are hashed once
(:meth:`IdMaker.__init__`); each id copies that state, hashes the source id and builds the
UUID without ``__init__`` (setting its two slots as ``UUID.__init__`` itself does).

``tests/unit/test_repository_ids.py`` proves the equality with :func:`uuid.uuid5`.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

NAMESPACE: Final = uuid.UUID("8d3f2a8e-5b7c-4c61-9e0a-3f7d1c2b4a59")
"""``repository.models.REPOSITORY_NAMESPACE`` (the test checks they are the same)."""

_MASK: Final = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_BITS: Final = (0x5000 << 64) | (0x8000 << 48)  # version 5, RFC 4122 variant
_new = object.__new__
_set = object.__setattr__
_from_bytes = int.from_bytes
_UNKNOWN: Final = uuid.SafeUUID.unknown


class IdMaker:
    """The ids of one ``(cloud, kind)``: ``maker(source_id)`` is the source object's id.

    ``kind`` is an object kind (``person``, ``section``, ...) or ``membership``.
    """

    __slots__ = ("_prefix", "name_prefix")

    def __init__(self, cloud_id: uuid.UUID, kind: str) -> None:
        self.name_prefix = NAMESPACE.bytes + f"{cloud_id}/{kind}/".encode()
        """What SHA-1 hashes before the source id (UTF-8)."""
        self._prefix = hashlib.sha1(self.name_prefix, usedforsecurity=False)

    def __call__(self, source_id: str) -> uuid.UUID:
        h = self._prefix.copy()
        h.update(source_id.encode("utf-8"))
        value: uuid.UUID = _new(uuid.UUID)
        _set(value, "int", (_from_bytes(h.digest()[:16], "big") & _MASK) | _BITS)
        _set(value, "is_safe", _UNKNOWN)
        return value

    def bytes_of(self, source_id: str) -> bytes:
        """``self(source_id).bytes`` without building the UUID (for rows encoded as bytes)."""
        h = self._prefix.copy()
        h.update(source_id.encode("utf-8"))
        return ((_from_bytes(h.digest()[:16], "big") & _MASK) | _BITS).to_bytes(16, "big")


_VERSION: Final = bytes((b & 0x0F) | 0x50 for b in range(256))
_VARIANT: Final = bytes((b & 0x3F) | 0x80 for b in range(256))
"""Byte 6 and byte 8 of a version 5 UUID from those of its SHA-1 (RFC 4122)."""


def packed_ids(names: list[bytes]) -> bytearray:
    """The bytes of the UUID of each name (an :attr:`IdMaker.name_prefix` and a source id's
    UTF-8), 16 each, end to end: what :meth:`IdMaker.bytes_of` makes of each source id, the
    version and variant bits set on all at once (a column of ids at a time,
    :mod:`interop_hub.ingest.columnar`; the hashes still take a call each)."""
    sha1 = hashlib.sha1
    hashes = b"".join([sha1(name, usedforsecurity=False).digest() for name in names])
    packed = bytearray(16 * len(names))
    for at in range(16):  # the first 16 bytes of each 20-byte hash
        packed[at::16] = hashes[at::20]
    packed[6::16] = packed[6::16].translate(_VERSION)
    packed[8::16] = packed[8::16].translate(_VARIANT)
    return packed


class CachedIds:
    """:class:`IdMaker` per kind with a cache: a collection names the same person or section
    once per membership. Holds one entry per distinct source id asked for (one collection's)."""

    __slots__ = ("_caches", "_cloud_id", "_makers")

    def __init__(self, cloud_id: uuid.UUID) -> None:
        self._cloud_id = cloud_id
        self._makers: dict[str, IdMaker] = {}
        self._caches: dict[str, dict[str, uuid.UUID]] = {}

    def maker(self, kind: str) -> IdMaker:
        found = self._makers.get(kind)
        if found is None:
            found = self._makers[kind] = IdMaker(self._cloud_id, kind)
        return found

    def cache(self, kind: str) -> dict[str, uuid.UUID]:
        """The (live) cache of ``kind``: source id → id; fill misses with :meth:`get`."""
        found = self._caches.get(kind)
        if found is None:
            found = self._caches[kind] = {}
        return found

    def get(self, kind: str, source_id: str) -> uuid.UUID:
        cache = self.cache(kind)
        found = cache.get(source_id)
        if found is None:
            found = cache[source_id] = self.maker(kind)(source_id)
        return found


def object_id(cloud_id: uuid.UUID, kind: str, source_id: str) -> uuid.UUID:
    """The same as ``repository.models.object_id`` (uncached; use :class:`CachedIds` in loops)."""
    return IdMaker(cloud_id, kind)(source_id)


def membership_id(cloud_id: uuid.UUID, source_id: str) -> uuid.UUID:
    """The same as ``repository.models.membership_id``."""
    return IdMaker(cloud_id, "membership")(source_id)
