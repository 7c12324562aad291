"""The loader's column-at-a-time read of a first enrollments.csv (``interop_hub.ingest.columnar``)
gives what its row-by-row read gives — the same ``COPY`` bytes, rows read, errors, lines to
remember and references — for any file it takes, and takes a file only when every row is good
as written."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from interop_hub.ingest import columnar
from interop_hub.ingest.copy_rows import ReferenceFields
from interop_hub.ingest.loader import LoadJob, _Reading
from interop_hub.ingest.normalize import Normalizer
from interop_hub.ingest.records import Mode
from tests.unit.test_csv_unquoted import field_limit

FILES = (
    *("orgs", "academicSessions", "courses", "classes", "users", "enrollments"),
    *("demographics", "categories"),
)
CLOUD = uuid.UUID("5d1c0b9e-8a53-4a44-9a0c-1f8f1e3b7c21")
STAMP = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
REQUIRED = ["sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"]
OPTIONAL = ["status", "dateLastModified", "primary", "beginDate", "endDate"]
GOOD = {
    "status": ["", "active"],
    "dateLastModified": ["", "2024-05-01T12:00:00.000Z", "2024-05-01"],
    "role": ["student", "teacher", "aide"],
    "primary": ["", "true", "false"],
    "beginDate": ["", "2024-08-19", "2025-01-06"],
    "endDate": ["", "2025-06-06"],
}
"""Values every row may hold; :data:`BAD` adds values the row-by-row read rejects or
respells."""
BAD = {
    "status": ["tobedeleted", "Active", "gone"],
    "dateLastModified": ["yesterday", "2024-13-01T00:00:00Z"],
    "role": ["Student", "wizard", ""],
    "primary": ["TRUE", "yes"],
    "beginDate": ["2024-02-30", "2024-8-1"],
    "endDate": ["06/06/2025"],
}
# source ids: some repeat, some need escaping in JSON (a digest encodes them), one is empty
ids = st.sampled_from(["u1", "u2", "é-3", "back\\slash", "tab\tbed", "\x01ctl", "ü" * 3, ""])


@dataclass(frozen=True)
class Outcome:
    rows: bytes
    rows_read: int
    errors: list[Any]
    remembered: Any
    persons: dict[str, bytes]
    sections: dict[str, bytes]
    schools: dict[str, bytes]


def job(folder: Path, version: str, modes: dict[str, Mode]) -> LoadJob:
    return LoadJob(
        database_url="",
        path=str(folder),
        max_bytes=10**9,
        version=version,
        modes=modes,
        cloud_id=CLOUD,
        table="t",
        stamp=STAMP,
        create="",
        builds=(),
        constraints=(),
        lines_table="l",
        lines_create=(),
    )


def read(
    folder: Path,
    *,
    by_columns: bool,
    version: str = "1.1",
    modes: dict[str, Mode] | None = None,
) -> tuple[Outcome, bool]:
    """The loader's first read of ``folder``'s enrollments.csv, a column at a time if it takes
    the file (else, or with ``by_columns`` false, row by row); whether it took it. (Every file
    bulk unless ``modes`` says.)"""
    taken: list[bool] = []
    real = columnar.first_memberships

    def first(*args: Any) -> Any:
        found = real(*args) if by_columns else None
        taken.append(found is not None)
        return found

    reading = _Reading(job(folder, version, modes or dict.fromkeys(FILES, "bulk")), None)
    fields = ReferenceFields()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "first_memberships", first)
        rows = b"".join(bytes(piece) for piece, _ in reading.pieces(Normalizer(CLOUD), fields))
    bundle = reading.bundle
    outcome = Outcome(
        rows,
        bundle.rows_read,
        bundle.errors,
        bundle.remember.get("enrollments"),
        fields.persons,
        fields.sections,
        fields.schools,
    )
    return outcome, taken == [True]


def write(folder: Path, text: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "enrollments.csv").write_bytes(text)
    return folder


def enrollments(header: list[str], rows: list[list[str]], end: bytes = b"\n") -> bytes:
    lines = [",".join(header), *(",".join(row) for row in rows)]
    return end.join(line.encode() for line in lines) + end


@st.composite
def files(draw: st.DrawFn) -> bytes:
    """An unquoted enrollments.csv: every row good, or some rows with a value the row-by-row
    read rejects or respells, a duplicate or empty id, a short row, a blank line, bad bytes."""
    optional = draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations(REQUIRED + optional))
    spoiled = draw(st.booleans())
    values = {c: GOOD.get(c, []) + (BAD.get(c, []) if spoiled else []) for c in header}
    count = draw(st.integers(min_value=1, max_value=12))
    rows: list[list[str]] = []
    for n in range(count):
        row = []
        for name in header:
            if name == "sourcedId":
                row.append(draw(ids) if spoiled else f"e{n}-{draw(ids)}")
            elif values.get(name):
                row.append(draw(st.sampled_from(values[name])))
            else:
                row.append(draw(ids) or "x")
        rows.append(row)
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    text = enrollments(header, rows, end)
    if not draw(st.booleans()):
        text = text.removesuffix(end)
    if spoiled and draw(st.booleans()):
        flaw = draw(st.sampled_from([end, b"a,b" + end, b"\xff,x" + end, b"\x00" + end]))
        at = text.index(end) + len(end)
        text = text[:at] + flaw + text[at:]
    return text


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# 16: the longest column name fits; a long date-time does not (csv refuses it)
@given(text=files(), limit=st.sampled_from([16, 1 << 20]))
def test_a_file_read_by_columns_gives_what_the_row_by_row_read_gives(
    tmp_path_factory: pytest.TempPathFactory, text: bytes, limit: int
) -> None:
    folder = write(tmp_path_factory.mktemp("columns"), text)
    with field_limit(limit):
        by_columns, taken = read(folder, by_columns=True)
        by_rows, _ = read(folder, by_columns=False)
    event("read by columns" if taken else "read row by row")
    assert by_columns == by_rows
    if taken:
        assert not by_rows.errors


def test_a_file_whose_rows_are_all_good_is_read_by_columns(tmp_path: Path) -> None:
    header = [*REQUIRED, "primary", "beginDate", "endDate", "status"]
    rows = [
        [f"e{n}", f"c{n % 3}", "s1" if n % 2 else "s2", f"u{n % 5}", "student", "true", "", "", ""]
        for n in range(70)
    ]
    folder = write(tmp_path, enrollments(header, rows, b"\r\n"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "BATCH_ROWS", 16)  # several batches
        by_columns, taken = read(folder, by_columns=True)
    by_rows, _ = read(folder, by_columns=False)
    assert taken
    assert by_columns == by_rows
    assert by_columns.rows_read == 70
    assert by_columns.remembered is not None
    assert len(by_columns.remembered.source_ids) == 70
    assert set(by_columns.persons) == {f"u{n}" for n in range(5)}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda rows: rows[3].__setitem__(4, "Student"), "a value respelled"),
        (lambda rows: rows[3].__setitem__(5, "yes"), "a bad boolean"),
        (lambda rows: rows[3].__setitem__(0, "e1"), "a duplicate id"),
        (lambda rows: rows[3].__setitem__(8, "tobedeleted"), "a row not part of a bulk file"),
        (lambda rows: rows.insert(3, []), "a blank line"),
        (lambda rows: rows[3].__setitem__(1, ""), "a required value missing"),
    ],
)
def test_a_file_with_a_row_that_is_not_good_as_written_is_read_row_by_row(
    tmp_path: Path, change: Any, why: str
) -> None:
    header = [*REQUIRED, "primary", "beginDate", "endDate", "status"]
    rows = [[f"e{n}", "c1", "s1", f"u{n}", "student", "true", "", "", ""] for n in range(6)]
    change(rows)
    folder = write(tmp_path, enrollments(header, rows))
    by_columns, taken = read(folder, by_columns=True)
    assert not taken, why
    assert by_columns == read(folder, by_columns=False)[0]


def test_a_file_with_a_quote_or_an_extension_column_is_read_row_by_row(tmp_path: Path) -> None:
    header = [*REQUIRED]
    quoted = write(
        tmp_path / "q",
        b'sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n"e1",c1,s1,u1,student\n',
    )
    extended = write(
        tmp_path / "x",
        enrollments([*header, "metadata.x"], [["e1", "c1", "s1", "u1", "student", "1"]]),
    )
    for folder in (quoted, extended):
        outcome, taken = read(folder, by_columns=True)
        assert not taken
        assert outcome.rows_read == 1


@pytest.mark.parametrize("bad", [b"u\xff3", b"u\x003"], ids=["not UTF-8", "a NUL"])
def test_a_file_with_bad_bytes_in_a_row_of_the_right_width_is_read_row_by_row(
    tmp_path: Path, bad: bytes
) -> None:
    header = [*REQUIRED, "primary"]
    rows = [[f"e{n}", "c1", "s1", f"u{n}", "student", "true"] for n in range(6)]
    folder = write(tmp_path, enrollments(header, rows).replace(b",u3,", b"," + bad + b","))
    by_columns, taken = read(folder, by_columns=True)
    assert not taken
    assert by_columns == read(folder, by_columns=False)[0]
    assert [error.line for error in by_columns.errors] == [5]


def test_a_file_with_more_distinct_tails_than_fit_in_64_bits_is_read_row_by_row(
    tmp_path: Path,
) -> None:
    header = [*REQUIRED, "primary"]
    rows = [[f"e{n}", "c1", f"s{n % 2}", f"u{n}", "student", "true"] for n in range(6)]
    folder = write(tmp_path, enrollments(header, rows))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "_TAILS", 1)  # 2 schools × 1 role × 1 primary flag
        by_columns, taken = read(folder, by_columns=True)
    assert not taken
    assert by_columns == read(folder, by_columns=False)[0]
    assert read(folder, by_columns=True)[1]  # as it is
