"""The lines a file shares with the last collection: what a nightly need not read again.

A district's nightly export is nearly the same files as the night before (issue 3 measures a
night where 2 % of the users changed). Reading and checking every row is most of what a
nightly costs, so the collection remembers, per file, a 64-bit hash of each line it accepted
with the line's ``sourcedId`` (:class:`Remembered`, stored by :mod:`interop_hub.ingest.remembered`).
The next collection hashes the raw lines of the file and parses only those it does not
remember; a remembered line gives the record it gave last time, which the Repository still
holds, so it is skipped — unless something outside the line changed what it stands for, which
:mod:`.skipping` decides (a referenced object that is gone, a person's changed demographics).

Only a *line-safe* file takes part: every record on one physical line (no quoted line breaks:
no line holds an odd number of quotes), no lone carriage returns. Its lines are compared only
when the file is read the same way as last time (:func:`context`: the reader's own code, the
OneRoster version, every file's mode, the header line); otherwise the whole file is read as
before, and remembered anew.
"""

from __future__ import annotations

import array
import csv
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final, TypeAlias, cast

import xxhash

Keys: TypeAlias = "array.array[int]"
"""Line keys, 8 bytes each (``"Q"``)."""

LINE_FILES: Final = (
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
)
"""The files whose lines are remembered: the large ones whose rows stand alone (a record of
theirs depends on its line, on which objects exist and on the files of :data:`READ_WHOLE`),
and those."""

READ_WHOLE: Final = ("academicSessions", "courses")
"""Remembered files that are still parsed whole: the school years of their records feed the
records of other files (courses, classes). Their lines only say whether they are as last
time."""


@cache
def code_digest() -> str:
    """A digest of the code that turns a line into a Repository row (this reader's modules,
    the records and their normalization): a release that changes it reads every file again
    once (a remembered line might now give another row)."""
    here = Path(__file__).resolve().parent
    sources = [*sorted(here.glob("*.py")), here.parent / "normalize.py", here.parent / "records.py"]
    digest = hashlib.blake2b(digest_size=8)
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def context(version: str, modes: Mapping[str, str], header: bytes) -> str:
    """What must be equal for a line to mean what it meant last time."""
    stated = ",".join(f"{name}={mode}" for name, mode in sorted(modes.items()))
    head = hashlib.blake2b(header, digest_size=8).hexdigest()
    return f"l2|{code_digest()}|{version}|{stated}|{head}"


def line_keys(lines: list[bytes]) -> Keys:
    """A 64-bit hash of each line (XXH3: a changed line passes for a remembered one with a
    chance of 2⁻⁶⁴ per pair; 0.05 s for the 731,000 lines of a 100,000-student district's
    enrollments, where BLAKE2b took 0.35 s). Not a cryptographic hash: whoever writes a line
    could make it collide with another line of the same file, and so only keep that line's old
    values — what writing the line itself does anyway. Kept packed (no Python int a line)."""
    return array.array("Q", map(xxhash.xxh3_64_intdigest, lines))


def pack_keys(keys: Iterable[int]) -> bytes:
    """Keys as stored: 8 bytes each, in the machine's byte order (read back by
    :meth:`Remembered.key_list` on a machine of the same order; another order only misses)."""
    return (keys if isinstance(keys, array.array) else array.array("Q", keys)).tobytes()


@dataclass(frozen=True, slots=True)
class Remembered:
    """One file's lines accepted by the last collection: their keys and ``sourcedId``s."""

    context: str
    keys: bytes
    source_ids: list[str]

    def key_list(self) -> list[int] | None:
        """The keys, in the order of ``source_ids`` (None when what was stored does not add
        up)."""
        if len(self.keys) != 8 * len(self.source_ids):
            return None
        return memoryview(self.keys).cast("Q").tolist()

    def by_key(self) -> dict[int, str]:
        """``sourcedId`` by line key (nothing when what was stored does not add up)."""
        keys = self.key_list()
        return {} if keys is None else dict(zip(keys, self.source_ids, strict=True))


@dataclass(slots=True)
class FileLines:
    """A line-safe file as physical lines (without their line ends) and their keys.

    ``lines[i]`` is physical line ``i + 1``; ``header_at`` is the index of the header (the
    first line that is not blank)."""

    context: str
    lines: list[bytes]
    keys: Keys
    header_at: int
    data: bytes | None = None
    """The file as read, until :meth:`whole` or :meth:`chosen` hands it on or drops it."""

    def whole(self) -> bytes:
        """The file as read, to be parsed whole (its lines are let go: only the keys stay)."""
        data, self.data, self.lines = self.data or b"", None, []
        return data

    def chosen(self, indexes: list[int]) -> tuple[bytes, list[bytes], list[int]]:
        """The header, the lines and the indexes of the lines to parse (the file as read is
        let go)."""
        self.data = None
        return self.lines[self.header_at], self.lines, indexes

    def records(self) -> list[int]:
        """The indexes of the record lines: after the header, not blank."""
        lines = self.lines
        return [i for i in range(self.header_at + 1, len(lines)) if lines[i]]


_OTHER_BYTES: Final = bytes(b for b in range(256) if b not in b'"\r\n')
_ODD_QUOTES: Final = re.compile(rb'(?m)^(?:"")*"\r?$')


def split_file(data: bytes, version: str, modes: Mapping[str, str]) -> FileLines | None:
    """``data`` as lines, or None when it is not line-safe (see the module docstring)."""
    # The quotes and line ends alone, about three bytes a line: cheap to look through.
    marks = data.translate(None, _OTHER_BYTES)
    returns, feeds = marks.count(b"\r"), marks.count(b"\n")
    if _ODD_QUOTES.search(marks):
        return None  # a line with an odd number of quotes: a quoted line break
    if not returns:
        lines = data.split(b"\n")
    elif returns == feeds:  # CRLF line ends, unless a CR stands alone somewhere
        lines = data.split(b"\r\n")
        if len(lines) - 1 != returns:
            return None
    else:  # some lines end with CRLF and others with LF alone (CRLF pairs counted in the
        # data: in the marks a lone CR meets the next LF anyway)
        if data.count(b"\r\n") != returns:
            return None
        lines = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    header_at = next((i for i, line in enumerate(lines) if line), None)
    if header_at is None:
        return None
    keys = line_keys(lines)
    return FileLines(context(version, modes, lines[header_at]), lines, keys, header_at, data)


@dataclass(slots=True)
class Comparison:
    """A file's record lines against what the last collection accepted of it.

    ``changed``: the indexes of the lines to parse (those not remembered, blank ones too, and
    the remembered ones :meth:`force` adds); every other record line is skipped. Built from
    keys alone: a file of 730,000 lines need not map each skipped line to its ``sourcedId``
    unless something asks (:attr:`unchanged`)."""

    lines: FileLines
    remembered: Remembered
    keys: list[int]
    """The remembered keys, in the order of ``remembered.source_ids``."""
    changed: list[int]
    vanished_keys: set[int]
    """Remembered keys that no line has now."""
    forced: set[str] = field(default_factory=set)
    forced_keys: set[int] = field(default_factory=set)
    _unchanged: dict[str, int] | None = None
    _vanished: set[str] | None = None

    @property
    def first(self) -> int:
        return self.lines.header_at + 1

    @property
    def count(self) -> int:
        """How many lines are skipped."""
        return len(self.keys) - len(self.vanished_keys) - len(self.forced_keys)

    @property
    def vanished(self) -> set[str]:
        """The remembered ``sourcedId``s whose line is not in the file now."""
        if self._vanished is None:
            gone = self.vanished_keys
            ids = self.remembered.source_ids
            self._vanished = {s for k, s in zip(self.keys, ids, strict=True) if k in gone}
        return self._vanished

    @property
    def unchanged(self) -> dict[str, int]:
        """``sourcedId`` → line index of each skipped line."""
        if self._unchanged is None:
            found = map(self.remembered.by_key().get, self.lines.keys[self.first :])
            numbered: dict[str | None, int] = dict(zip(found, itertools.count(self.first)))
            numbered.pop(None, None)
            for source_id in self.forced:
                numbered.pop(source_id, None)
            self._unchanged = cast(dict[str, int], numbered)
        return self._unchanged

    def skipped(self) -> tuple[list[int], list[str]]:
        """The keys and ``sourcedId``s of the skipped lines."""
        dropped = self.vanished_keys | self.forced_keys
        if not dropped:
            return list(self.keys), list(self.remembered.source_ids)
        kept = [k not in dropped for k in self.keys]
        return (
            list(itertools.compress(self.keys, kept)),
            list(itertools.compress(self.remembered.source_ids, kept)),
        )

    def same(self) -> bool:
        """Whether the file's records are the remembered lines, no more and no fewer."""
        return not self.vanished_keys and not any(self.lines.lines[i] for i in self.changed)

    def force(self, source_ids: AbstractSet[str]) -> None:
        """Parse the lines of ``source_ids`` after all."""
        wanted = source_ids - self.forced
        if not wanted:
            return
        gone = self.vanished_keys
        pairs = zip(self.keys, self.remembered.source_ids, strict=True)
        hit = {k: s for k, s in pairs if s in wanted and k not in gone}
        if not hit:
            return
        self.forced_keys |= hit.keys()
        self.forced |= set(hit.values())
        if self._unchanged is not None:
            for source_id in hit.values():
                self._unchanged.pop(source_id, None)
        keys, first = self.lines.keys, self.first
        moved = [i for i in range(first, len(keys)) if keys[i] in hit]
        self.changed = sorted([*self.changed, *moved])


def compare(lines: FileLines, remembered: Remembered) -> Comparison | None:
    """Compare, or None when the file is not read as it was last time (another context), or
    when a remembered line is there twice or a changed line states the ``sourcedId`` of a
    remembered one (which of the two is the duplicate depends on their order: the whole file
    is read again to say)."""
    if remembered.context != lines.context:
        return None
    keys = remembered.key_list()
    if keys is None:
        return None  # what was stored does not add up
    known = set(keys)
    if len(known) != len(keys):
        return None
    first = lines.header_at + 1
    now = lines.keys[first:]
    present = list(map(known.__contains__, now))  # C loops: most lines are remembered
    changed = _indexes_of(present, False, first)  # blank lines too: the parser passes over them
    vanished = known.difference(now)
    if len(present) - len(changed) != len(keys) - len(vanished):
        return None  # a remembered line is there twice
    comparison = Comparison(lines, remembered, keys, changed, vanished)
    if changed and not _distinct(comparison):
        return None
    return comparison


def _indexes_of(values: list[bool], target: bool, offset: int) -> list[int]:
    """The indexes (plus ``offset``) of the ``target``s in ``values``."""
    found: list[int] = []
    at = -1
    try:
        while True:
            at = values.index(target, at + 1)
            found.append(at + offset)
    except ValueError:
        return found


def source_ids(lines: FileLines, indexes: list[int]) -> list[str]:
    """The ``sourcedId`` of each line of ``indexes`` ("" where it has none)."""
    header = next(csv.reader([decode(lines.lines[lines.header_at], first=True)]))
    at = [name.strip() for name in header].index("sourcedId")
    found = []
    for fields in csv.reader([decode(lines.lines[i]) for i in indexes]):
        found.append(fields[at] if at < len(fields) else "")
    return found


def _distinct(comparison: Comparison) -> bool:
    """Whether no changed line states the ``sourcedId`` of a skipped one."""
    try:
        stated = set(source_ids(comparison.lines, comparison.changed))
    except (csv.Error, ValueError):
        return False
    stated.discard("")
    remembered = {s for s in comparison.remembered.source_ids if s in stated}
    return not (remembered - comparison.vanished)


def decode(line: bytes, *, first: bool = False) -> str:
    """A line as text for :mod:`csv`, bad bytes kept as lone surrogates (only to find a
    ``sourcedId`` here; rows are decoded by :class:`~.csvrows.Table`)."""
    return line.decode("utf-8-sig" if first else "utf-8", "surrogateescape")
