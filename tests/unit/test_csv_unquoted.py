"""A whole line-safe file with no quote, split at its commas (``Table.of_unquoted``), gives the
rows the csv module gives reading the same file: the same fields on the same lines, the same
problems."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from interop_hub.ingest.oneroster import csvrows
from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.oneroster.lines import split_file

HEADER = b"id,name,role"  # short enough for the small field limit below

# bytes a field may hold in an unquoted file: no comma, quote or line end; with a byte that is
# not UTF-8 and a NUL, which make their row a problem
byte = st.sampled_from([b"a", b"7", b"-", b" ", b"\xc3\xa9", b"\xff", b"\x00"])
field = st.lists(byte, max_size=8)
line = st.lists(field.map(b"".join), min_size=0, max_size=4).map(b",".join)


@contextmanager
def field_limit(limit: int) -> Iterator[None]:
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def rows(table: Table) -> list[tuple[int, list[str], str | None]]:
    return [(n, fields, p.reason if p is not None else None) for n, fields, p in table.rows()]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line, max_size=25),
    crlf=st.booleans(),
    bom=st.booleans(),
    blank_first=st.booleans(),
    last_end=st.booleans(),
    chunk=st.integers(min_value=1, max_value=64),
    limit=st.sampled_from([6, 1 << 20]),  # 6: some fields are too large for csv
)
def test_split_at_commas_as_csv_reads_them(
    lines: list[bytes],
    crlf: bool,
    bom: bool,
    blank_first: bool,
    last_end: bool,
    chunk: int,
    limit: int,
) -> None:
    end = b"\r\n" if crlf else b"\n"
    head = (b"\xef\xbb\xbf" if bom else b"") + (end if blank_first else b"") + HEADER
    data = end.join([head, *lines]) + (end if last_end else b"")
    found = split_file(data, "1.1", {"users": "bulk"})
    assert found is not None
    assert found.unquoted
    assert found.line_end == (end if b"\n" in data else b"\n")  # no line end: taken as LF
    assert found.line_end is not None
    header = found.lines[found.header_at]
    with field_limit(limit):
        streamed = Table(io.BytesIO(data), "users.csv")
        expected = rows(streamed)
        unquoted = found.unquoted_file()
        body = unquoted.data[unquoted.start :]
        assert unquoted.lines == (len(body.split(end)) - body.endswith(end) if body else 0)
        with patch.object(csvrows, "_SPLIT_CHUNK", chunk):
            split = Table.of_unquoted("users.csv", header, found.header_at + 1, unquoted)
            assert split.header == streamed.header
            assert rows(split) == expected


def test_a_quote_or_mixed_line_ends_are_not_split_so() -> None:
    quoted = split_file(HEADER + b'\nu1,"Ann",student\n', "1.1", {"users": "bulk"})
    mixed = split_file(HEADER + b"\r\nu1,Ann,student\n", "1.1", {"users": "bulk"})
    assert quoted is not None
    assert not quoted.unquoted
    assert mixed is not None
    assert mixed.unquoted
    assert mixed.line_end is None
