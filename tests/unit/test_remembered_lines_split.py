"""Which files are line-safe, and how lines compare with remembered ones (pure)."""

from __future__ import annotations

from interop_hub.ingest.oneroster.lines import (
    FileLines,
    Remembered,
    compare,
    pack_keys,
    split_file,
)

MODES = {"users": "bulk"}
HEAD = b"sourcedId,givenName"


def split(data: bytes) -> FileLines:
    found = split_file(data, "1.1", MODES)
    assert found is not None
    return found


def lines_of(data: bytes) -> list[bytes]:
    return split(data).lines


def test_crlf_lf_and_mixed_line_ends_give_the_same_lines_and_keys() -> None:
    crlf = split(HEAD + b"\r\nu1,Ann\r\nu2,Bo\r\n")
    lf = split(HEAD + b"\nu1,Ann\nu2,Bo\n")
    mixed = split(HEAD + b"\r\nu1,Ann\nu2,Bo\r\n")
    assert crlf.lines == lf.lines == mixed.lines == [HEAD, b"u1,Ann", b"u2,Bo", b""]
    assert crlf.keys == lf.keys == mixed.keys
    assert crlf.context == lf.context


def test_a_quoted_line_break_or_a_lone_carriage_return_is_not_line_safe() -> None:
    assert split_file(HEAD + b'\r\nu1,"Ann\r\nMarie"\r\n', "1.1", MODES) is None
    assert split_file(HEAD + b"\ru1,Ann\r", "1.1", MODES) is None
    # a lone CR inside a line ending in LF (csv would end the record there)
    assert split_file(HEAD + b"\nu1,Ann\rMarie\nu2,Bo\n", "1.1", MODES) is None
    assert split_file(HEAD + b"\r\nu1,Ann\rMarie\r\n", "1.1", MODES) is None
    # quotes that close on their line are fine, escaped ones too
    assert lines_of(HEAD + b'\nu1,"Ann, ""A."""\n')[1] == b'u1,"Ann, ""A."""'


def test_the_header_is_the_first_line_that_is_not_blank() -> None:
    split = split_file(b"\n\n" + HEAD + b"\nu1,Ann\n", "1.1", MODES)
    assert split is not None
    assert split.header_at == 2
    assert split.records() == [3]


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
    assert comparison.unchanged == {"u3": 1, "u1": 3}
    assert [now.lines[i] for i in comparison.changed] == [b"u4,Di", b"u2,Bob", b""]
    assert comparison.vanished == {"u2"}
    assert comparison.count == 2
    comparison.force({"u1", "nobody"})
    assert comparison.unchanged == {"u3": 1}
    assert comparison.changed == [2, 3, 4, 5]
    assert comparison.count == 1
    keys, ids = comparison.skipped()
    assert ids == ["u3"]
    assert keys == [now.keys[1]]


def test_another_header_or_a_repeated_id_or_line_is_not_compared() -> None:
    before = remembered(HEAD + b"\nu1,Ann\nu2,Bo\n", ["u1", "u2"])
    assert compare(split(b"sourcedId,familyName\nu1,Ann\n"), before) is None
    assert compare(split(HEAD + b"\nu1,Ann\nu1,Ann\n"), before) is None
    assert compare(split(HEAD + b"\nu1,Ann\nu1,Annie\n"), before) is None


def test_remembered_keys_that_do_not_add_up_match_nothing() -> None:
    before = remembered(HEAD + b"\nu1,Ann\n", ["u1"])
    broken = Remembered(before.context, before.keys[:-1], before.source_ids)
    assert broken.by_key() == {}
