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
import bisect
import codecs
import csv
import hashlib
import itertools
import operator
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Final, TypeAlias, overload

import xxhash

from interop_hub.ingest.oneroster.align import align
from interop_hub.ingest.oneroster.csvrows import UnquotedFile

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


def pack_keys(keys: Iterable[int]) -> bytes:
    """Keys as stored: 8 bytes each, in the machine's byte order (a machine of another order
    reads them back as other keys: every line is then parsed once)."""
    return (keys if isinstance(keys, array.array) else array.array("Q", keys)).tobytes()


@dataclass(frozen=True, slots=True)
class Change:
    """How a file's remembered lines differ from the lines remembered before them (a nightly
    stores this rather than them all; see :class:`~interop_hub.ingest.models.RememberedLines`)."""

    stretches: bytes
    """Packed pairs (``"q"``): a position and a length to copy from the lines before, or -1
    and the number of lines to take next from ``keys`` and ``source_ids``."""
    keys: bytes
    source_ids: list[str]


@dataclass(frozen=True, slots=True)
class Remembered:
    """One file's lines accepted by a collection, in the file's order: their keys and
    ``sourcedId``s."""

    context: str
    keys: bytes
    source_ids: list[str]
    depth: int = 0
    """How many stored changes these lines are made of (0: stored whole)."""
    drift: int = 0
    """How many lines those changes took in."""
    change: Change | None = None
    """How they differ from the lines remembered before (when they were compared with them)."""

    def changed_by(self, change: Change) -> Remembered:
        """These lines as ``change`` (a stored one) makes them."""
        pairs = memoryview(change.stretches).cast("q")
        pieces: list[bytes] = []
        ids: list[str] = []
        taken = 0
        for n in range(0, len(pairs) - 1, 2):
            start, length = pairs[n], pairs[n + 1]
            if start < 0:
                pieces.append(change.keys[taken * 8 : (taken + length) * 8])
                ids += change.source_ids[taken : taken + length]
                taken += length
            else:
                pieces.append(self.keys[start * 8 : (start + length) * 8])
                ids += self.source_ids[start : start + length]
        return Remembered(self.context, b"".join(pieces), ids, self.depth + 1, self.drift + taken)


class Lines(Sequence[bytes]):
    """A line-safe file's physical lines, without their line ends, as slices of the file
    read: one bytes object holds them all, and a line is cut out when it is asked for (a
    nightly asks for a few thousand of 731,000; a list of them all cost 0.2-0.4 s to build and
    about as much memory as the file)."""

    __slots__ = ("_bounds", "_crlf", "_data")

    def __init__(self, data: bytes, bounds: array.array[int], crlf: bool) -> None:
        self._data = data
        self._bounds = bounds
        """Where each line starts, then the length of the data plus one: line ``i`` ends
        one byte (its LF) before line ``i + 1`` starts."""
        self._crlf = crlf
        """Whether a line end may be CRLF (its CR is then cut off too)."""

    @property
    def data(self) -> bytes:
        """The file as read."""
        return self._data

    def start(self, index: int) -> int:
        """Where line ``index`` starts in :attr:`data` (past the end: after the last line)."""
        return self._bounds[index]

    def __len__(self) -> int:
        return len(self._bounds) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("line index out of range")
        line = self._data[self._bounds[index] : self._bounds[index + 1] - 1]
        return line.removesuffix(b"\r") if self._crlf else line


_NO_LINES: Final = Lines(b"", array.array("Q", [0]), False)

_SPLIT_BYTES: Final = 1 << 20
"""The bytes split into lines at a time: a chunk's lines are hashed and let go before the
next chunk is split, so the memory they take is reused rather than grown to the file's size."""


def _index(data: bytes, separator: bytes, *, mixed: bool) -> tuple[Keys, array.array[int]]:
    """The key of each line of ``data`` and where each starts (see :class:`Lines`): lines
    ending with ``separator``; ``mixed``: some of them end with CRLF, the others with LF (the
    separator), and a CR before the LF is cut off before the line is hashed.

    A key is a 64-bit hash of the line (XXH3: a changed line passes for a remembered one with
    a chance of 2⁻⁶⁴ per pair; 0.05 s for the 731,000 lines of a 100,000-student district's
    enrollments, where BLAKE2b took 0.35 s). Not a cryptographic hash: whoever writes a line
    could make it collide with another line of the same file, and so only keep that line's old
    values — what writing the line itself does anyway. Kept packed (no Python int a line)."""
    keys: Keys = array.array("Q")
    bounds: array.array[int] = array.array("Q")
    width = len(separator)
    last = data.rfind(separator)  # the lines up to it are split a chunk at a time
    start = 0
    while start <= last:
        cut = data.rfind(separator, start, min(start + _SPLIT_BYTES, last + width))
        if cut < start:  # one line longer than a chunk
            cut = data.find(separator, start)
        pieces = data[start:cut].split(separator)
        # each line starts where the one before it started, plus its length and line end
        widths = map(operator.add, map(len, pieces), itertools.repeat(width))
        bounds.extend(itertools.accumulate(widths, initial=start))
        bounds.pop()  # that is where the next chunk starts
        if mixed:
            pieces = [piece.removesuffix(b"\r") for piece in pieces]
        keys.extend(map(xxhash.xxh3_64_intdigest, pieces))
        start = cut + width
    rest = data[start:]  # after the last line end: a line too, if only an empty one
    bounds.extend((start, len(data) + 1))
    keys.append(xxhash.xxh3_64_intdigest(rest))
    return keys, bounds


@dataclass(slots=True)
class FileLines:
    """A line-safe file as physical lines (without their line ends) and their keys.

    ``lines[i]`` is physical line ``i + 1``; ``header_at`` is the index of the header (the
    first line that is not blank)."""

    context: str
    lines: Lines
    keys: Keys
    header_at: int
    line_end: bytes | None = None
    """``b"\\n"`` or ``b"\\r\\n"`` when every line ends so; None when they are mixed."""
    unquoted: bool = False
    """Whether no byte of the file is a quote."""

    def whole(self) -> bytes:
        """The file as read, to be parsed whole (its lines are let go: only the keys stay)."""
        data, self.lines = self.lines.data, _NO_LINES
        return data

    def after_header(self) -> tuple[bytes, int]:
        """:meth:`whole`, and where the line after the header starts."""
        start = self.lines.start(self.header_at + 1)
        return self.whole(), start

    def unquoted_file(self) -> UnquotedFile:
        """:meth:`after_header` of a file :attr:`unquoted`, all of whose lines end with
        :attr:`line_end`."""
        assert self.unquoted
        assert self.line_end is not None
        after = len(self.lines) - self.header_at - 1
        after -= not self.lines[-1]  # after the last line end: nothing, not a line
        data, start = self.after_header()
        return UnquotedFile(data, start, self.line_end, after)

    def chosen(self, indexes: list[int]) -> tuple[bytes, Lines, list[int]]:
        """The header, the lines and the indexes of the lines to parse."""
        return self.lines[self.header_at], self.lines, indexes

    def records(self) -> list[int]:
        """The indexes of the record lines: after the header, not blank."""
        lines = self.lines
        return [i for i in range(self.header_at + 1, len(lines)) if lines[i]]


@dataclass(frozen=True, slots=True)
class LineIndex:
    """A file split into lines (:func:`split_file`) without its bytes: what another process
    that split it sends (:mod:`.splitter`), with the size and hash of the bytes it split."""

    size: int
    digest: int
    """``xxh3_64`` of the bytes split."""
    found: FileLines | None
    """Their lines, the bytes left out (None: the file is not line-safe)."""

    @classmethod
    def of(cls, data: bytes, found: FileLines | None) -> LineIndex:
        if found is not None:
            lines = found.lines
            found = replace(found, lines=Lines(b"", lines._bounds, lines._crlf))
        return cls(len(data), xxhash.xxh3_64_intdigest(data), found)

    def matches(self, data: bytes) -> bool:
        """Whether these are the lines of ``data``."""
        return self.size == len(data) and self.digest == xxhash.xxh3_64_intdigest(data)

    def lines_of(self, data: bytes) -> FileLines | None:
        """The lines of ``data`` (which :meth:`matches`), or None if it is not line-safe."""
        if self.found is None:
            return None
        lines = self.found.lines
        return replace(self.found, lines=Lines(data, lines._bounds, lines._crlf))


_BOM: Final = codecs.BOM_UTF8
_OTHER_BYTES: Final = bytes(b for b in range(256) if b not in b'"\r\n')
_ODD_QUOTES: Final = re.compile(rb'(?m)^(?:"")*"\r?$')


def split_file(data: bytes, version: str, modes: Mapping[str, str]) -> FileLines | None:
    """``data`` as lines, or None when it is not line-safe (see the module docstring)."""
    # The quotes and line ends alone, about three bytes a line: cheap to look through.
    marks = data.translate(None, _OTHER_BYTES)
    returns, feeds = marks.count(b"\r"), marks.count(b"\n")
    if _ODD_QUOTES.search(marks):
        return None  # a line with an odd number of quotes: a quoted line break
    crlf = returns > 0 and returns == feeds  # CRLF line ends, unless a CR stands alone
    mixed = bool(returns) and not crlf  # some lines end with LF alone, others with CRLF
    if mixed and data.count(b"\r\n") != returns:
        return None  # a CR alone: csv ends a record there (in the marks it meets the next LF)
    # mixed: split at LF, cut the CRs off
    keys, bounds = _index(data, b"\r\n" if crlf else b"\n", mixed=mixed)
    if crlf and len(keys) - 1 != returns:
        return None  # as many CRs as LFs, but not all in pairs (then fewer CRLFs were found)
    lines = Lines(data, bounds, crlf=returns > 0)
    # the first line that is not blank (a byte order mark alone is blank: csv never sees it)
    header_at = next((i for i in range(len(lines)) if lines[i] and lines[i] != _BOM), None)
    if header_at is None:
        return None
    line_end = None if mixed else b"\r\n" if crlf else b"\n"
    unquoted = len(marks) == returns + feeds
    return FileLines(
        context(version, modes, lines[header_at]), lines, keys, header_at, line_end, unquoted
    )


@dataclass(slots=True)
class Comparison:
    """A file's record lines against what the last collection accepted of it.

    ``changed``: the indexes of the lines to parse (those not remembered, blank ones too, and
    the remembered ones :meth:`force` adds); every other record line is skipped. Built from
    the keys alone, stretch by stretch (:mod:`.align`): a file of 730,000 lines is not mapped
    line by line to ``sourcedId``s unless something asks (:attr:`unchanged`)."""

    lines: FileLines
    remembered: Remembered
    runs: list[tuple[int, int, int]]
    """``(line index, remembered position, length)``: the remembered lines found, by line
    index (those forced since are still inside; see ``forced_at``)."""
    changed: list[int]
    vanished_at: list[int]
    """The remembered positions no line has now."""
    forced_at: set[int] = field(default_factory=set)
    """The remembered positions of the lines :meth:`force` added to ``changed``."""
    forced: set[str] = field(default_factory=set)
    _unchanged: set[str] | None = None
    _vanished: set[str] | None = None
    _by_position: list[tuple[int, int, int]] | None = None

    @property
    def count(self) -> int:
        """How many lines are skipped."""
        return sum(length for _, _, length in self.runs) - len(self.forced_at)

    @property
    def vanished(self) -> set[str]:
        """The remembered ``sourcedId``s whose line is not in the file now."""
        if self._vanished is None:
            ids = self.remembered.source_ids
            self._vanished = {ids[p] for p in self.vanished_at}
        return self._vanished

    @property
    def unchanged(self) -> set[str]:
        """The ``sourcedId``s of the skipped lines."""
        if self._unchanged is None:
            ids = self.remembered.source_ids
            found = set(itertools.chain.from_iterable(ids[j : j + n] for _, j, n in self.runs))
            self._unchanged = found - self.forced
        return self._unchanged

    def not_skipped(self) -> set[str]:
        """The remembered ``sourcedId``s whose line is not skipped (gone, or parsed after
        all)."""
        return self.vanished | self.forced

    def skipped_runs(self) -> list[tuple[int, int, int]]:
        """The stretches of skipped lines (``runs`` without the forced lines), by line
        index."""
        if not self.forced_at:
            return self.runs
        forced = sorted(self.forced_at)
        found: list[tuple[int, int, int]] = []
        for i, j, n in self.runs:
            start = j
            for p in forced[bisect.bisect_left(forced, j) : bisect.bisect_left(forced, j + n)]:
                if p > start:
                    found.append((i + start - j, start, p - start))
                start = p + 1
            if start < j + n:
                found.append((i + start - j, start, j + n - start))
        return found

    def same(self) -> bool:
        """Whether the file's records are the remembered lines, no more and no fewer."""
        return not self.vanished_at and not any(self.lines.lines[i] for i in self.changed)

    def force(self, source_ids: AbstractSet[str]) -> None:
        """Parse the lines of ``source_ids`` after all."""
        wanted = source_ids - self.forced
        if not wanted:
            return
        ids = self.remembered.source_ids
        positions = itertools.compress(range(len(ids)), map(wanted.__contains__, ids))
        gone = set(self.vanished_at)
        hit = [p for p in positions if p not in gone and p not in self.forced_at]
        if not hit:
            return
        self.forced_at.update(hit)
        named = {ids[p] for p in hit}
        self.forced |= named
        if self._unchanged is not None:
            self._unchanged -= named
        self.changed = sorted([*self.changed, *map(self._line_of, hit)])

    def _line_of(self, position: int) -> int:
        """The index of the line found for a remembered position (one not vanished)."""
        if self._by_position is None:
            self._by_position = sorted((j, i, n) for i, j, n in self.runs)
        at = bisect.bisect_right(self._by_position, (position, sys.maxsize, 0)) - 1
        j, i, _ = self._by_position[at]
        return i + position - j


def compare(lines: FileLines, remembered: Remembered) -> Comparison | None:
    """Compare, or None when the file is not read as it was last time (another context), or
    when a changed line states the ``sourcedId`` of a remembered one that is skipped (a line
    there twice, or two lines of one ``sourcedId``: which is the duplicate depends on their
    order, so the whole file is read again to say)."""
    if remembered.context != lines.context:
        return None
    if len(remembered.keys) != 8 * len(remembered.source_ids):
        return None  # what was stored does not add up
    first = lines.header_at + 1
    found = align(lines.keys[first:].tobytes(), remembered.keys)
    runs = [(i + first, j, n) for i, j, n in found.runs]
    changed = [i + first for i in found.new]  # blank lines too: the parser passes over them
    comparison = Comparison(lines, remembered, runs, changed, found.vanished)
    if changed and not _distinct(comparison):
        return None
    return comparison


def remember(
    lines: FileLines,
    indexes: Sequence[int],
    ids: list[str],
    comparison: Comparison | None,
) -> Remembered:
    """What the next collection may skip of a file, in the file's order: the lines parsed and
    accepted now (``indexes``, ascending, and their ``ids``) and the lines skipped now (with
    a comparison, also as a :class:`Change` of the lines it compared with)."""
    keys = lines.keys
    if comparison is None:
        if indexes and indexes[-1] - indexes[0] + 1 == len(indexes):  # one stretch of lines
            kept = keys[indexes[0] : indexes[-1] + 1]
        else:
            kept = array.array("Q", map(keys.__getitem__, indexes))
        return Remembered(lines.context, pack_keys(kept), list(ids))
    stretches = array.array("q")
    added = array.array("Q")
    taken = 0
    for i, j, n in comparison.skipped_runs():
        upto = bisect.bisect_left(indexes, i, taken)
        if upto > taken:  # lines parsed now, before this stretch of skipped ones
            added.extend(map(keys.__getitem__, indexes[taken:upto]))
            stretches.extend((-1, upto - taken))
            taken = upto
        stretches.extend((j, n))
    if taken < len(indexes):
        added.extend(map(keys.__getitem__, indexes[taken:]))
        stretches.extend((-1, len(indexes) - taken))
    change = Change(stretches.tobytes(), added.tobytes(), list(ids))
    # the lines whole are what the next load makes of the stored change: made the same way
    return replace(comparison.remembered.changed_by(change), change=change)


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
    return not (stated.intersection(comparison.remembered.source_ids) - comparison.vanished)


def decode(line: bytes, *, first: bool = False) -> str:
    """A line as text for :mod:`csv`, bad bytes kept as lone surrogates (only to find a
    ``sourcedId`` here; rows are decoded by :class:`~.csvrows.Table`)."""
    return line.decode("utf-8-sig" if first else "utf-8", "surrogateescape")
