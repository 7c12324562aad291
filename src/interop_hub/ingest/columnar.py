"""A cloud's first memberships read a column at a time (pyarrow), when every row is good.

The memberships' loader (:mod:`interop_hub.ingest.loader`) reads a large district's
enrollments.csv into its own table. Row by row, splitting, checking, digesting and encoding a
row costs Python ~6 µs (731,314 rows for 100,000 students: 4.5-6 s of CPU on a machine whose
two cores are both busy until the collection ends). An enrollments.csv in which no byte is a
quote (the usual export: :attr:`~.oneroster.csvrows.Table.unquoted`) is read here instead:
pyarrow's CSV reader splits it, each check runs once per distinct value of its column, and the
rows' ``COPY`` bytes are joined column by column. Per row, only the two hashes stay in Python
(the id's SHA-1 and the digest's XXH3: :class:`~interop_hub.repository.ids.IdMaker`,
:func:`~.normalize.record_digests`).

Only a file whose every row the row-by-row read accepts as written takes this path: no row
rejected, no value respelled (``TRUE``), no ``tobedeleted`` row, no ``$ext`` column, valid UTF-8
without NUL, every physical line a record. Anything else — any doubt — and
:func:`first_memberships` says None: the file is read row by row, which says what is wrong
with which row. For a file it takes, the outcome is that read's: the same bytes for the same
rows (``tests/unit/test_columnar.py`` holds them equal, whatever the file), the rows read, no
errors, the lines taken to remember.
"""

from __future__ import annotations

import array
import csv
import datetime as dt
import math
import struct
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from interop_hub.ingest.copy_rows import MEMBERSHIP_COLUMNS, UUID_FIELD, ReferenceFields
from interop_hub.ingest.normalize import (
    DIGEST_DIGITS,
    DIGEST_PREFIX,
    Normalizer,
    digest_encoding,
    record_digests,
)
from interop_hub.ingest.oneroster.mapping import Fault
from interop_hub.ingest.oneroster.people import Opened, membership_data
from interop_hub.ingest.oneroster.rows import ext_columns
from interop_hub.kit.pgcopy import (
    field_count,
    json_binary,
    text_binary,
    timestamptz_binary,
    uuid_binary,
)
from interop_hub.repository.ids import packed_ids

if TYPE_CHECKING:
    from interop_hub.ingest.oneroster.csvrows import Table
    from interop_hub.ingest.oneroster.files import FileSpec
    from interop_hub.ingest.oneroster.validate import Reader

Piece = tuple[memoryview, int]
"""Rows of ``COPY``'s binary format, joined, and how many."""

BATCH_ROWS = 32_768
"""Rows encoded and sent at a time (~6 MB)."""

_BLOCK_BYTES = 1 << 22
"""The bytes pyarrow parses at a time."""

_TEXT = pa.dictionary(pa.int32(), pa.string())
"""How a column other than ``sourcedId`` is read: its distinct values, and each row's index
into them (a membership's person, section, school, role and dates repeat from row to row)."""

_TAIL = ("schoolSourcedId", "role", "primary", "beginDate", "endDate")
"""The columns of a row's *tail* (see :func:`_pieces`)."""
_TAILS = 2**63
"""At most this many tails may be told apart: the product of their columns' counts of distinct
values (a school, role, primary flag and two dates a row: far fewer in any export)."""


def first_memberships(
    reader: Reader,
    opened: Opened,
    normalizer: Normalizer,
    now: dt.datetime,
    fields: ReferenceFields,
) -> Iterator[Piece] | None:
    """The ``COPY`` rows of the memberships of enrollments.csv, ``opened`` by ``reader`` as a
    bulk file read whole (no reference checked: a loader's first read), in pieces; or None
    when the file must be read row by row (see the module docstring).

    As the rows are sent, the reader's bundle counts them read, its skipping takes their lines,
    and ``fields`` gets the person, section and school each refers to
    (:func:`~.copy_rows.membership_encoder` would have made the same bytes of each row)."""
    spec, table, _ = opened
    if table.unquoted is None or table.numbers is not None or table.dirty():
        return None
    if ext_columns(spec, table):
        return None
    columns = _parse(table)
    if columns is None:
        return None
    if math.prod(len(columns[name].dictionary) for name in _TAIL if name in columns) > _TAILS:
        return None  # the tails' numbers (:func:`_tails`) would not fit in 64 bits
    source_ids: list[str] = columns["sourcedId"].to_pylist()
    if len(set(source_ids)) != len(source_ids) or not _accepted(reader, spec, table, columns):
        return None
    # the file's bytes are not read again: let them go (~140 MB for 100,000 students)
    table.unquoted, table.records = None, iter(())
    return _pieces(reader, table, columns, source_ids, normalizer, now, fields)


def _parse(table: Table) -> dict[str, Any] | None:
    """The file's records by column (``sourcedId`` as text, the others as :data:`_TEXT`), or
    None unless each physical line after the header is one record of as many fields as the
    header has, in UTF-8."""
    assert table.unquoted is not None
    found = table.unquoted
    header = table.header
    types = dict.fromkeys(header, _TEXT)
    types["sourcedId"] = pa.string()
    try:
        parsed = pacsv.read_csv(
            pa.py_buffer(memoryview(found.data)[found.start :]),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=_BLOCK_BYTES, column_names=header
            ),
            parse_options=pacsv.ParseOptions(
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,  # a blank line is a row of empty fields: refused
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError):  # bad bytes, a row of other width, no rows
        return None
    if parsed.num_rows != found.lines:
        return None
    # each block of the file was given its own distinct values: one set for the whole column
    parsed = parsed.unify_dictionaries()
    return {name: parsed.column(name).combine_chunks() for name in header}


def _accepted(reader: Reader, spec: FileSpec, table: Table, columns: dict[str, Any]) -> bool:
    """Whether the row-by-row read accepts every row as written (see
    :meth:`~.oneroster.rows.RowChecker.rows`): each check runs on its column's distinct
    values."""
    distinct = {
        name: columns[name].dictionary.to_pylist() for name in table.header if name != "sourcedId"
    }
    limit = csv.field_size_limit()  # csv refuses a longer field (read row by row: an error)
    if pc.max(pc.binary_length(columns["sourcedId"])).as_py() > limit:
        return False
    if any(len(value) > limit for values in distinct.values() for value in values):
        return False
    if pc.any(pc.equal(columns["sourcedId"], "")).as_py():
        return False
    if any("" in distinct.get(name, ()) for name in spec.required):  # sourcedId: above
        return False
    base, checks = reader.checker.column_checks(spec, table)
    for name, at, accepted, fix in (*base, *checks):
        for value in distinct[table.header[at]]:
            if name == "status" and value == "tobedeleted":
                return False  # a row of a bulk file that is not part of its state
            if value and value not in accepted:
                try:
                    if fix(value) != value:
                        return False  # respelled
                except Fault:
                    return False
    return True


def _pieces(
    reader: Reader,
    table: Table,
    columns: dict[str, Any],
    source_ids: list[str],
    normalizer: Normalizer,
    now: dt.datetime,
    fields: ReferenceFields,
) -> Iterator[Piece]:
    """Encode the rows (as :func:`~.copy_rows.membership_encoder` does), a batch at a time.

    A row is its id, its source id and the bytes of three distinct values, each made once: its
    person's (after the timestamps), its section's, and its *tail*'s — the school, role,
    primary, beginDate and endDate, which few rows do not share (a school's enrollments of one
    term). Its digest's encoding is made of three such pieces too."""
    ids = normalizer.ids
    person_id, section_id = ids.maker("person").bytes_of, ids.maker("section").bytes_of
    persons = columns["userSourcedId"].dictionary.to_pylist()
    sections = columns["classSourcedId"].dictionary.to_pylist()
    person_fields = [UUID_FIELD + person_id(s) for s in persons]
    section_fields = [UUID_FIELD + section_id(s) for s in sections]
    fields.persons.update(zip(persons, person_fields, strict=True))
    fields.sections.update(zip(sections, section_fields, strict=True))
    tail_codes, tails = _tails(columns, table)
    tail_fields, tail_digested = _tail_pieces(tails, normalizer, fields)
    stamps = timestamptz_binary(now) * 2
    # the row: [start, id, head, length, source id, person, section, tail, length, digest]
    person_codes = columns["userSourcedId"].indices
    section_codes = columns["classSourcedId"].indices
    person_parts = _PerRow([stamps + f for f in person_fields], person_codes)
    section_parts = _PerRow(section_fields, section_codes)
    tail_parts = _PerRow(tail_fields, tail_codes)
    # a digest encodes [person, section, school, role, data]: these three, joined by ","
    person_digested = _PerRow([b"[" + orjson.dumps(s) for s in persons], person_codes)
    section_digested = _PerRow(list(map(orjson.dumps, sections)), section_codes)
    tail_digested_parts = _PerRow(tail_digested, tail_codes)
    start = _scalar(field_count(len(MEMBERSHIP_COLUMNS)) + UUID_FIELD)
    head = _scalar(uuid_binary(normalizer.cloud_id))
    digest_length = _scalar(_length(len(DIGEST_PREFIX) + DIGEST_DIGITS))
    named = _scalar(normalizer.membership_id.name_prefix)
    comma = _scalar(b",")
    encoded_ids = columns["sourcedId"].cast(pa.binary())
    lengths = pc.dictionary_encode(pc.binary_length(encoded_ids))
    length_parts = _PerRow(list(map(_length, lengths.dictionary.to_pylist())), lengths.indices)
    taken = reader.skipping.taken.get("enrollments")
    first_line = table.header_line  # the index of the first record's line
    total = len(source_ids)
    for offset in range(0, total, BATCH_ROWS):
        count = min(BATCH_ROWS, total - offset)
        sids = encoded_ids.slice(offset, count)
        names = pc.binary_join_element_wise(named, sids, _EMPTY)
        encodings = pc.binary_join_element_wise(
            person_digested.taken(offset, count),
            section_digested.taken(offset, count),
            tail_digested_parts.taken(offset, count),
            comma,
        )
        digests = pa.array(record_digests(encodings.to_pylist()), pa.string())
        joined = pc.binary_join_element_wise(
            start,
            _uuid5(names.to_pylist()),
            head,
            length_parts.taken(offset, count),
            sids,
            person_parts.taken(offset, count),
            section_parts.taken(offset, count),
            tail_parts.taken(offset, count),
            digest_length,
            digests.cast(pa.binary()),
            _EMPTY,
        )
        reader.bundle.rows_read += count
        if taken is not None:
            at = first_line + offset
            taken.indexes.extend(array.array("q", range(at, at + count)))
            taken.ids.extend(source_ids[offset : offset + count])
        yield _payload(joined), count


_EMPTY = pa.scalar(b"", pa.binary())
_length = struct.Struct("!i").pack
"""A field's length word."""


def _scalar(value: bytes) -> Any:
    return pa.scalar(value, pa.binary())


def _tails(columns: dict[str, Any], table: Table) -> tuple[Any, list[tuple[str, ...]]]:
    """Each row's tail, as an index into the distinct tails (a column the file lacks is
    empty): the indexes of its columns' values combined into one number a row, then encoded."""
    count = len(columns["sourcedId"])
    combined = pa.nulls(count, pa.int64()).fill_null(0)
    valued: list[list[str]] = []
    for name in _TAIL:
        if name not in table.header:
            valued.append([""])
            continue
        column = columns[name]
        valued.append(column.dictionary.to_pylist())
        combined = pc.add(pc.multiply(combined, len(valued[-1])), column.indices.cast(pa.int64()))
    encoded = pc.dictionary_encode(combined)
    tails = []
    for number in encoded.dictionary.to_pylist():
        indexes = []
        for values in reversed(valued):
            number, index = divmod(number, len(values))
            indexes.append(values[index])
        tails.append(tuple(reversed(indexes)))
    return encoded.indices, tails


def _tail_pieces(
    tails: list[tuple[str, ...]], normalizer: Normalizer, fields: ReferenceFields
) -> tuple[list[bytes], list[bytes]]:
    """Of each distinct tail, its fields in a row (school, role, data) and its piece of a
    digest's encoding; ``fields`` gets the schools."""
    org_id = normalizer.ids.maker("org").bytes_of
    schools = fields.schools
    row_pieces: list[bytes] = []
    digest_pieces: list[bytes] = []
    for school, role, primary, begin, end in tails:
        school_field = schools.get(school)
        if school_field is None:
            school_field = schools[school] = UUID_FIELD + org_id(school)
        data = membership_data(primary, begin, end, {})
        row_pieces.append(school_field + text_binary(role) + json_binary(data))
        digest_pieces.append(
            b",".join((orjson.dumps(school), orjson.dumps(role), digest_encoding(data) + b"]"))
        )
    return row_pieces, digest_pieces


class _PerRow:
    """Bytes per distinct value (``made[i]`` for each row whose code is ``i``), taken per row
    a batch at a time."""

    def __init__(self, made: Sequence[bytes], codes: Any) -> None:
        self.made, self.codes = pa.array(made, pa.binary()), codes

    def taken(self, offset: int, count: int) -> Any:
        return pc.take(self.made, self.codes.slice(offset, count))


def _uuid5(names: list[bytes]) -> Any:
    """The UUIDs of ``names`` (:func:`~interop_hub.repository.ids.packed_ids`), a column."""
    fixed = pa.Array.from_buffers(
        pa.binary(16), len(names), [None, pa.py_buffer(packed_ids(names))]
    )
    return fixed.cast(pa.binary())


def _payload(joined: Any) -> memoryview:
    """The bytes of ``joined`` (rows), end to end, without a copy."""
    _, offsets, data = joined.buffers()
    ends = memoryview(offsets).cast("i")
    return memoryview(data)[ends[joined.offset] : ends[joined.offset + len(joined)]]
