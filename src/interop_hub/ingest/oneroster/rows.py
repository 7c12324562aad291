"""The checks every row of every file gets, before any mapping.

A row passes when it can be read, has a ``sourcedId`` not seen before in its file, a valid
``status`` and ``dateLastModified`` (both required in a delta file), its required values, and
valid enumerations, booleans and dates. Enumerations and booleans are matched exactly and,
failing that, ignoring case (``TRUE``, ``SchoolYear``), and then stored in their canonical
spelling. A ``tobedeleted`` row of a delta file is passed on as a deletion without the other
checks; in a bulk file it is simply not part of the state.

This runs once per row of a 190 MB bundle, so it works on the csv module's lists by index,
with one loop of (index, accepted values, fix) checks, and remembers the combinations of
checked values that passed: most rows repeat a few (status, role, primary), and a row whose
combination is known skips those checks. ``dateLastModified`` and date columns are not part
of the combination: an export's timestamps (and birth dates) differ from row to row, which
would make every combination new; a known row checks them against the values already found
good instead (one set lookup each).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from interop_hub.ingest.oneroster.csvrows import BAD_BYTES_SEEN, Refused, Table, unreadable
from interop_hub.ingest.oneroster.files import BOOLEANS, LIST_COLUMNS, STATUSES, FileSpec
from interop_hub.ingest.oneroster.mapping import Fault, split_list
from interop_hub.ingest.records import Bundle, RowError

_KEYS = 100_000
"""At most this many distinct combinations of checked values are remembered per file."""

_GOOD_VALUES = 100_000
"""At most this many valid dates and as many timestamps are remembered per bundle (an export
whose every row has its own timestamp would otherwise keep them all; past the cap a value is
checked again, ~1 µs)."""

Row = tuple[int, str, list[str], bool]
"""(first line, sourcedId, fields, True for a ``tobedeleted`` row of a delta file).

``fields`` has one extra empty field at the end: :func:`column` maps a column the header
lacks to it, so optional columns need no test for presence."""

_Check = tuple[str, int, AbstractSet[str], Callable[[str], str]]

Extras = list[tuple[str, int, int]]
"""The columns that go to ``$ext``: (name, index, how: 0 text, 1 list, 2 boolean)."""


def column(table: Table, name: str) -> int:
    """The index of column ``name`` in a row from :meth:`RowChecker.rows` (missing → the
    extra empty field)."""
    try:
        return table.header.index(name)
    except ValueError:
        return table.width


def unknown_value(value: str, column: str, allowed: AbstractSet[str]) -> str:
    return f"unknown {column} {value!r} (expected one of {', '.join(sorted(allowed))})"


def _folding(column: str, allowed: AbstractSet[str]) -> Callable[[str], str]:
    """The fix for an enumeration value that is not spelled exactly: match ignoring case."""
    folded = {value.lower(): value for value in allowed}

    def fix(value: str) -> str:
        found = folded.get(value.lower())
        if found is None:
            raise Fault(column, unknown_value(value, column, allowed))
        return found

    return fix


def is_date(value: str) -> bool:
    """A calendar date written YYYY-MM-DD."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _stamp_fix(good: set[str]) -> Callable[[str], str]:
    """dateLastModified: an ISO 8601 date-time (``2024-05-01T12:00:00.000Z``) or a date."""

    def fix(value: str) -> str:
        if is_date(value[:10]) and (len(value) == 10 or value[10] in "Tt "):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if len(good) < _GOOD_VALUES:
                    good.add(value)
                return value
        raise Fault("dateLastModified", f"bad date-time {value!r} (expected ISO 8601)")

    return fix


def _date_fix(column: str, good: set[str]) -> Callable[[str], str]:
    def fix(value: str) -> str:
        if not is_date(value):
            raise Fault(column, f"bad date {value!r} (expected YYYY-MM-DD)")
        if len(good) < _GOOD_VALUES:
            good.add(value)
        return value

    return fix


class RowChecker:
    """Checks the rows of a bundle's files, recording rejected rows on the bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.good_dates: set[str] = set()
        self.good_stamps: set[str] = set()

    def error(self, spec: FileSpec, line: int, column: str | None, reason: str, sid: str) -> None:
        self.bundle.errors.append(RowError(spec.file, line, column, reason, sid or None))

    def column_checks(self, spec: FileSpec, table: Table) -> tuple[list[_Check], list[_Check]]:
        """(the status and dateLastModified checks, the checks of the file's own columns):
        each ``(column, index, accepted values, fix)``, where ``fix`` respells a value not
        accepted as is, or raises :class:`Fault` (a value it finds good it adds to the
        accepted, for dates)."""
        header = table.header
        base: list[_Check] = [
            ("status", column(table, "status"), STATUSES, _folding("status", STATUSES)),
            (
                "dateLastModified",
                column(table, "dateLastModified"),
                self.good_stamps,
                _stamp_fix(self.good_stamps),
            ),
        ]
        checks: list[_Check] = [
            (c, header.index(c), allowed, _folding(c, allowed))
            for c, allowed in spec.enums.items()
            if c in header
        ]
        checks += [
            (c, header.index(c), BOOLEANS, _folding(c, BOOLEANS)) for c in spec.bools if c in header
        ]
        checks += [
            (c, header.index(c), self.good_dates, _date_fix(c, self.good_dates))
            for c in spec.dates
            if c in header
        ]
        return [check for check in base if check[1] < table.width], checks

    def rows(self, spec: FileSpec, table: Table, delta: bool) -> Iterator[Row]:
        """The rows of ``table`` that pass; the others become errors on the bundle."""
        width, error = table.width, self.error
        sid_at, status_at = column(table, "sourcedId"), column(table, "status")
        stamp_at = column(table, "dateLastModified")
        base, checks = self.column_checks(spec, table)
        required = [table.header.index(c) for c in spec.required]
        # itemgetter of one index returns the value itself, not a 1-tuple: repeat a lone one
        get_required = itemgetter(*required, *required[:1]) if required else None
        seen: set[str] = set()
        # the checked columns' values but dateLastModified and dates (see the module);
        # combinations that passed unchanged go in ``good``
        stamp = next((c for c in base if c[2] is self.good_stamps), None)
        dates = [c for c in checks if c[2] is self.good_dates]
        keyed = [c for c in (*base, *checks) if c is not stamp and c not in dates]
        checked = itemgetter(*(at for _, at, _, _ in keyed), width)
        good: set[tuple[str, ...]] = set()
        bad_at_open, read = table.bad_at_open, 0
        numbers = table.numbers  # a table of chosen lines: their physical lines
        records = table.records  # a table of an unquoted file: a line an item, counted
        if records is None:
            reader = table.reader
            last = reader.line_num
            pull: Callable[[], list[str]] = reader.__next__
        else:
            last = table.header_line
            pull = records.__next__
        try:
            while True:
                try:
                    fields = pull()
                except StopIteration:
                    return
                except csv.Error as exc:
                    read += 1
                    problem = unreadable(exc)
                    at = last + 1 if numbers is None else numbers[reader.line_num - 1]
                    error(spec, at, problem.column, problem.reason, "")
                    last = reader.line_num
                    continue
                if records is None:
                    start = last + 1 if numbers is None else numbers[reader.line_num - 1]
                    last = reader.line_num
                else:
                    last += 1
                    start = last
                if not fields:
                    if isinstance(fields, Refused):  # a line csv refused
                        read += 1
                        problem = unreadable(fields.error)
                        error(spec, start, problem.column, problem.reason, "")
                    continue
                read += 1
                if len(fields) != width or BAD_BYTES_SEEN[0] != bad_at_open:
                    trouble = table.problem(fields)
                    if trouble is not None:
                        sid = fields[sid_at] if sid_at < len(fields) else ""
                        error(spec, start, trouble.column, trouble.reason, sid)
                        continue
                fields.append("")
                sid = fields[sid_at]
                try:
                    if not sid:
                        raise Fault("sourcedId", "missing required field")
                    before = len(seen)
                    seen.add(sid)
                    if len(seen) == before:
                        raise Fault("sourcedId", "duplicate sourcedId (an earlier row has it)")
                    key = checked(fields)
                    if key not in good:
                        if self._values(fields, base, checks, delta, status_at, stamp_at):
                            if delta:
                                yield start, sid, fields, True
                            continue
                        if len(good) < _KEYS and checked(fields) == key:
                            good.add(key)
                    else:  # the rest of _values, in its order; status is known and not empty
                        if stamp is not None:
                            value = fields[stamp_at]
                            if value and value not in stamp[2]:
                                stamp[3](value)
                        if delta and not fields[stamp_at]:
                            raise Fault("dateLastModified", "missing required field")
                        for _, at, accepted, fix in dates:
                            value = fields[at]
                            if value and value not in accepted:
                                fix(value)
                    if get_required is not None and "" in get_required(fields):
                        name = next(c for c in spec.required if not fields[table.header.index(c)])
                        raise Fault(name, "missing required field")
                except Fault as fault:
                    error(spec, start, fault.column, fault.reason, sid)
                    continue
                yield start, sid, fields, False
        finally:
            self.bundle.rows_read += read

    @staticmethod
    def _values(
        fields: list[str],
        base: list[_Check],
        checks: list[_Check],
        delta: bool,
        status_at: int,
        stamp_at: int,
    ) -> bool:
        """Check (and respell) the row's checked values; True for a ``tobedeleted`` row, whose
        other values are not checked. Raises :class:`Fault`."""
        for _, at, accepted, fix in base:
            value = fields[at]
            if value and value not in accepted:
                fields[at] = fix(value)
        if delta and not (fields[status_at] and fields[stamp_at]):
            raise Fault(
                "dateLastModified" if fields[status_at] else "status", "missing required field"
            )
        if fields[status_at] == "tobedeleted":
            return True
        for _, at, accepted, fix in checks:
            value = fields[at]
            if value and value not in accepted:
                fields[at] = fix(value)
        return False


def ext_columns(spec: FileSpec, table: Table) -> Extras:
    """The columns of ``table`` that go to ``$ext`` (see :mod:`.files`)."""
    return [
        (name, column(table, name), 1 if name in LIST_COLUMNS else 2 if name in spec.bools else 0)
        for name in table.header
        if name not in spec.consumed
    ]


def ext(extras: Extras, fields: list[str], into: dict[str, Any]) -> dict[str, Any]:
    """``into`` with the row's non-empty ``$ext`` columns added."""
    for name, at, how in extras:
        value = fields[at]
        if value:
            into[name] = value if how == 0 else split_list(value) if how == 1 else value == "true"
    return into
