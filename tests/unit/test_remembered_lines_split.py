"""Which files are line-safe, and how lines compare with remembered ones (pure)."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from interop_hub.ingest.oneroster import lines as lines_module
from interop_hub.ingest.oneroster.lines import (
    FileLines,
    Remembered,
    compare,
    pack_keys,
    remember,
    split_file,
)

MODES = {"users": "bulk"}
HEAD = b"sourcedId,givenName"


def split(data: bytes) -> FileLines:
    found = split_file(data, "1.1", MODES)
    assert found is not None
    return found


def lines_of(data: bytes) -> list[bytes]:
    return list(split(data).lines)


def test_crlf_lf_and_mixed_line_ends_give_the_same_lines_and_keys() -> None:
    crlf = split(HEAD + b"\r\nu1,Ann\r\nu2,Bo\r\n")
    lf = split(HEAD + b"\nu1,Ann\nu2,Bo\n")
    mixed = split(HEAD + b"\r\nu1,Ann\nu2,Bo\r\n")
    assert (
        list(crlf.lines) == list(lf.lines) == list(mixed.lines) == [HEAD, b"u1,Ann", b"u2,Bo", b""]
    )
    assert crlf.keys == lf.keys == mixed.keys
    assert crlf.context == lf.context


def _no_line_ends(line: bytes) -> bytes:
    """A line of a line-safe file: no line end, no quote (an odd one would open a field)."""
    return line.replace(b"\r", b"").replace(b"\n", b"").replace(b'"', b"")


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(_no_line_ends), max_size=30),
    ends=st.sampled_from(["lf", "crlf", "mixed"]),
    last_end=st.booleans(),
    chunk=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_lines_split_a_chunk_at_a_time_are_the_lines_of_the_file(
    lines: list[bytes], ends: str, last_end: bool, chunk: int, data: st.DataObject
) -> None:
    """Whatever the chunk size (lines longer than a chunk too), the lines and their keys are
    those of the whole file split at once."""
    lines = [HEAD, *lines]
    if ends == "mixed":
        seps = [data.draw(st.sampled_from([b"\n", b"\r\n"])) for _ in lines]
    else:
        seps = [b"\n" if ends == "lf" else b"\r\n"] * len(lines)
    if not last_end:
        seps[-1] = b""
    file = b"".join(line + sep for line, sep in zip(lines, seps, strict=True))
    expected = [*lines, b""] if last_end else lines
    with patch.object(lines_module, "_SPLIT_BYTES", chunk):
        found = split(file)
    assert list(found.lines) == expected
    assert [found.lines[i] for i in range(-len(expected), 0)] == expected
    assert list(found.keys) == [xxhash.xxh3_64_intdigest(line) for line in expected]
    with pytest.raises(IndexError):
        found.lines[len(expected)]


def test_a_quoted_line_break_or_a_lone_carriage_return_is_not_line_safe() -> None:
    assert split_file(HEAD + b'\r\nu1,"Ann\r\nMarie"\r\n', "1.1", MODES) is None
    assert split_file(HEAD + b"\ru1,Ann\r", "1.1", MODES) is None
    # a lone CR inside a line ending in LF (csv would end the record there)
    assert split_file(HEAD + b"\nu1,Ann\rMarie\nu2,Bo\n", "1.1", MODES) is None
    assert split_file(HEAD + b"\r\nu1,Ann\rMarie\r\n", "1.1", MODES) is None
    # quotes that close on their line are fine, escaped ones too
    assert lines_of(HEAD + b'\nu1,"Ann, ""A."""\n')[1] == b'u1,"Ann, ""A."""'


def test_as_many_lone_crs_as_lone_lfs_are_not_line_safe_wherever_a_chunk_ends() -> None:
    """A lone CR and a lone LF: as many CRs as LFs, as in a CRLF file (a chunk may end at
    the lone LF)."""
    file = HEAD + b"\r\nu1,An\rn\nu2,Bo\r\nu3,Cy\r\n"
    for chunk in range(1, len(file) + 2):
        with patch.object(lines_module, "_SPLIT_BYTES", chunk):
            assert split_file(file, "1.1", MODES) is None, chunk


def test_the_header_is_the_first_line_that_is_not_blank() -> None:
    split = split_file(b"\n\n" + HEAD + b"\nu1,Ann\n", "1.1", MODES)
    assert split is not None
    assert split.header_at == 2
    assert split.records() == [3]
    # a byte order mark alone on the first line is blank too (csv reads it so)
    marked = split_file(b"\xef\xbb\xbf\r\n" + HEAD + b"\r\nu1,Ann\r\n", "1.1", MODES)
    assert marked is not None
    assert marked.lines[marked.header_at] == HEAD


def remembered(data: bytes, ids: list[str]) -> Remembered:
    split = split_file(data, "1.1", MODES)
    assert split is not None
    records = split.records()
    return Remembered(split.context, pack_keys([split.keys[i] for i in records]), ids)


def test_lines_compare_by_content_wherever_they_stand() -> None:
    before = remembered(HEAD + b"\nu1,Ann\nu2,Bo\nu3,Cy\n", ["u1", "u2", "u3"])
    now = split_file(HEAD + b"\nu3,Cy\nu4,Di\nu1,Ann\nu2,Bob\n", "1.1", MODES)
    assert now is not None
    comparison = compare(now, before)
    assert comparison is not None
    assert comparison.unchanged == {"u3", "u1"}
    assert [now.lines[i] for i in comparison.changed] == [b"u4,Di", b"u2,Bob", b""]
    assert comparison.vanished == {"u2"}
    assert comparison.count == 2
    comparison.force({"u1", "nobody"})
    assert comparison.unchanged == {"u3"}
    assert comparison.not_skipped() == {"u1", "u2"}
    assert comparison.changed == [2, 3, 4, 5]
    assert comparison.count == 1
    # accepted now: u4, u1 (forced) and u2 (changed); the next collection's lines in file order
    kept = remember(now, [2, 3, 4], ["u4", "u1", "u2"], comparison)
    assert kept.source_ids == ["u3", "u4", "u1", "u2"]
    assert kept.keys == pack_keys([now.keys[i] for i in (1, 2, 3, 4)])
    assert_change_rebuilds(before, kept)


def assert_change_rebuilds(before: Remembered, kept: Remembered) -> None:
    """What is stored of ``kept`` (its change) turns ``before`` into it."""
    assert kept.change is not None
    rebuilt = before.changed_by(kept.change)
    assert (rebuilt.keys, rebuilt.source_ids) == (kept.keys, kept.source_ids)
    assert (rebuilt.depth, kept.depth) == (before.depth + 1, before.depth + 1)
    assert rebuilt.drift == kept.drift == before.drift + len(kept.change.source_ids)


def test_a_forced_line_splits_its_stretch_and_keeps_the_order() -> None:
    rows = [f"u{n},N{n}".encode() for n in range(8)]
    ids = [f"u{n}" for n in range(8)]
    before = remembered(HEAD + b"\n" + b"\n".join(rows) + b"\n", ids)
    now = split(HEAD + b"\n" + b"\n".join([*rows[:5], b"u9,New", *rows[5:]]) + b"\n")
    comparison = compare(now, before)
    assert comparison is not None
    assert [now.lines[i] for i in comparison.changed] == [b"u9,New", b""]
    comparison.force({"u2", "u6"})
    assert [now.lines[i] for i in comparison.changed] == [b"u2,N2", b"u9,New", b"u6,N6", b""]
    assert comparison.skipped_runs() == [(1, 0, 2), (4, 3, 2), (7, 5, 1), (9, 7, 1)]
    kept = remember(now, [3, 6, 8], ["u2", "u9", "u6"], comparison)
    assert kept.source_ids == ["u0", "u1", "u2", "u3", "u4", "u9", "u5", "u6", "u7"]
    assert kept.keys == pack_keys(now.keys[1:10])
    assert_change_rebuilds(before, kept)
    assert kept.change is not None
    assert kept.change.source_ids == ["u2", "u9", "u6"]  # what was parsed: all it stores


def test_another_header_or_a_repeated_id_or_line_is_not_compared() -> None:
    before = remembered(HEAD + b"\nu1,Ann\nu2,Bo\n", ["u1", "u2"])
    assert compare(split(b"sourcedId,familyName\nu1,Ann\n"), before) is None
    assert compare(split(HEAD + b"\nu1,Ann\nu1,Ann\n"), before) is None
    assert compare(split(HEAD + b"\nu1,Ann\nu1,Annie\n"), before) is None
    # the repeated line first, the remembered one after it
    assert compare(split(HEAD + b"\nu2,Bo\nu1,Ann\nu2,Bo\n"), before) is None


def test_remembered_keys_that_do_not_add_up_compare_nothing() -> None:
    before = remembered(HEAD + b"\nu1,Ann\n", ["u1"])
    broken = Remembered(before.context, before.keys[:-1], before.source_ids)
    assert compare(split(HEAD + b"\nu1,Ann\n"), broken) is None
