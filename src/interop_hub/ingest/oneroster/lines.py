"""The lines a file shares with the last collection: what a nightly need not read again.

A district's nightly export is nearly the same files as the night before (issue 3 measures a
night where 2 % of the users changed). Reading and checking every row is most of what a
nightly costs, so the collection remembers, per file, a digest of each line it accepted with
the line's ``sourcedId`` (:class:`Remembered`, stored by :mod:`interop_hub.ingest.memory`).
The next collection digests the raw lines of the file and parses only those it does not
remember; a remembered line gives the record it gave last time, which the Repository still
holds, so it is skipped — unless something outside the line changed what it stands for, which
:class:`~interop_hub.ingest.oneroster.validate.Reader` decides (a referenced object that is
gone, a person's changed demographics).

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final, cast

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
    return f"l1|{code_digest()}|{version}|{stated}|{head}"


def line_keys(lines: list[bytes]) -> list[int]:
    """An 8-byte digest of each line, as an int (BLAKE2b: a changed line never passes for a
    remembered one in practice, 2⁻⁶⁴ per pair)."""
    blake = hashlib.blake2b
    packed = b"".join([blake(line, digest_size=8).digest() for line in lines])
    return memoryview(packed).cast("Q").tolist()


def pack_keys(keys: list[int]) -> bytes:
    """Keys as stored: 8 bytes each, in the machine's byte order (read back by
    :meth:`Remembered.by_key` on a machine of the same order; another order only misses)."""
    return array.array("Q", keys).tobytes()


@dataclass(frozen=True, slots=True)
class Remembered:
    """One file's lines accepted by the last collection: their keys and ``sourcedId``s."""

    context: str
    keys: bytes
    source_ids: list[str]

    def by_key(self) -> dict[int, str]:
        """``sourcedId`` by line key (nothing when what was stored does not add up)."""
        if len(self.keys) != 8 * len(self.source_ids):
            return {}
        keys = memoryview(self.keys).cast("Q").tolist()
        return dict(zip(keys, self.source_ids, strict=True))


@dataclass(slots=True)
class FileLines:
    """A line-safe file as physical lines (without their line ends) and their keys.

    ``lines[i]`` is physical line ``i + 1``; ``header_at`` is the index of the header (the
    first line that is not blank)."""

    context: str
    lines: list[bytes]
    keys: list[int]
    header_at: int

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
    crlf = marks.count(b"\r\n") if returns else 0
    if returns != crlf or _ODD_QUOTES.search(marks):
        return None  # a lone carriage return, or a line with an odd number of quotes
    if not returns:
        lines = data.split(b"\n")
    elif crlf == feeds:
        lines = data.split(b"\r\n")
    else:  # some lines end with CRLF and others with LF alone
        lines = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    header_at = next((i for i, line in enumerate(lines) if line), None)
    if header_at is None:
        return None
    keys = line_keys(lines)
    return FileLines(context(version, modes, lines[header_at]), lines, keys, header_at)


@dataclass(slots=True)
class Comparison:
    """A file's record lines against what the last collection accepted of it.

    ``unchanged``: ``sourcedId`` → line index of each remembered line; ``changed``: the other
    record lines, to parse; ``vanished``: remembered ``sourcedId``s without their line now."""

    unchanged: dict[str, int]
    changed: list[int]
    vanished: set[str] = field(default_factory=set)

    def same(self, lines: FileLines) -> bool:
        """Whether the file's records are the remembered lines, no more and no fewer."""
        return not self.vanished and not any(lines.lines[i] for i in self.changed)

    def force(self, source_ids: set[str]) -> None:
        """Parse the lines of ``source_ids`` after all."""
        moved = [self.unchanged.pop(s) for s in source_ids if s in self.unchanged]
        if moved:
            self.changed = sorted([*self.changed, *moved])


def compare(lines: FileLines, remembered: Remembered) -> Comparison | None:
    """Compare, or None when the file is not read as it was last time (another context), or
    when a remembered line is there twice or a changed line states the ``sourcedId`` of a
    remembered one (which of the two is the duplicate depends on their order: the whole file
    is read again to say)."""
    if remembered.context != lines.context:
        return None
    first = lines.header_at + 1
    found = list(map(remembered.by_key().get, lines.keys[first:]))
    # Mostly remembered lines: both built by C loops, the few changed ones found by index.
    numbered: dict[str | None, int] = dict(zip(found, itertools.count(first)))
    numbered.pop(None, None)
    unchanged = cast(dict[str, int], numbered)
    changed = _indexes_of_none(found, first)  # blank lines too: the parser passes over them
    if len(unchanged) + len(changed) != len(found):
        return None  # a remembered line is there twice
    if changed and not _distinct(lines, changed, unchanged):
        return None
    vanished = set(remembered.source_ids).difference(unchanged)
    return Comparison(unchanged, changed, vanished)


def _indexes_of_none(values: list[str | None], offset: int) -> list[int]:
    """The indexes (plus ``offset``) of the Nones in ``values``."""
    found: list[int] = []
    at = -1
    try:
        while True:
            at = values.index(None, at + 1)
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


def _distinct(lines: FileLines, changed: list[int], unchanged: dict[str, int]) -> bool:
    try:
        return not any(s in unchanged for s in source_ids(lines, changed))
    except (csv.Error, ValueError):
        return False


def decode(line: bytes, *, first: bool = False) -> str:
    """A line as text for :mod:`csv`, bad bytes kept as lone surrogates (only to find a
    ``sourcedId`` here; rows are decoded by :class:`~.csvrows.Table`)."""
    return line.decode("utf-8-sig" if first else "utf-8", "surrogateescape")
