"""A nightly's enrollments.csv split into lines by a process of its own
(:mod:`interop_hub.ingest.oneroster.splitter`): the same lines as split here, whatever the file,
split here when the process's lines are not those of the bytes read, and the same nightly."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district, generate_nightly
from fastapi.testclient import TestClient
from sqlalchemy import select

from interop_hub.ingest.models import RememberedLines
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.ingest.oneroster.bundle import Source
from interop_hub.ingest.oneroster.lines import FileLines, split_file
from interop_hub.ingest.oneroster.splitter import SplitElsewhere, SplitJob
from interop_hub.ingest.records import BundleError, Mode
from interop_hub.kit.db import transaction
from interop_hub.runtime import Hub
from tests.factories import collect, make_world
from tests.test_ingest_skip import changes, repository_state

MODES = {"enrollments": "bulk"}


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("splitter") / "district"
    generate_district(out, students=40, seed=17)
    return out


@pytest.fixture(scope="module")
def night(district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("splitter") / "night"
    generate_nightly(district, out, seed=3, change_rate=0.05)
    return out


def split_elsewhere(bundle: Path, data: bytes, file: str = "enrollments.csv") -> FileLines | None:
    job = SplitJob(str(bundle), 1 << 30, file, 1 << 28, "1.1", MODES)
    return SplitElsewhere(job).lines(data)


def described(lines: FileLines | None) -> Any:
    if lines is None:
        return None
    every = list(lines.lines)
    return (lines.context, list(lines.keys), lines.header_at, lines.line_end, lines.unquoted, every)


def test_the_splitters_lines_are_those_split_here(district: Path, tmp_path: Path) -> None:
    data = (district / "enrollments.csv").read_bytes()
    assert described(split_elsewhere(district, data)) == described(split_file(data, "1.1", MODES))
    assert described(split_elsewhere(district, data)) is not None
    assert b"\r\n" in data  # the generator's line ends
    lf, quoted = data.replace(b"\r\n", b"\n"), data.replace(b",", b',"a\nb",', 1)
    for name, variant in (("lf", lf), ("quoted", quoted)):
        other = tmp_path / name
        shutil.copytree(district, other)
        (other / "enrollments.csv").write_bytes(variant)
        found = described(split_elsewhere(other, variant))
        assert found == described(split_file(variant, "1.1", MODES))
        # LF lines are lines too; a quoted line break makes the file not line-safe: no lines
        assert (found is None) == (name == "quoted")


def test_lines_of_other_bytes_or_of_no_file_are_split_here(district: Path) -> None:
    data = (district / "enrollments.csv").read_bytes()
    edited = data.replace(b"student", b"teacher", 1)
    assert described(split_elsewhere(district, edited)) == described(
        split_file(edited, "1.1", MODES)
    )
    missing = split_elsewhere(district, data, file="nothing.csv")
    assert described(missing) == described(split_file(data, "1.1", MODES))


def test_a_nightly_with_a_splitter_is_the_nightly_without(
    client: TestClient, hub: Hub, district: Path, night: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split: list[int] = []
    lines = SplitElsewhere.lines

    def counted(self: SplitElsewhere, data: bytes) -> FileLines | None:
        split.append(len(data))
        return lines(self, data)

    monkeypatch.setattr(SplitElsewhere, "lines", counted)
    outcomes = []
    for threshold in (1 << 40, 0):  # no splitter; then one for every enrollments.csv
        cloud = uuid.UUID(make_world(client, hub).cloud_id)
        assert collect(hub, cloud, district).state == "success"
        monkeypatch.setattr(hub.settings, "loader_min_enrollments_bytes", threshold)
        done = collect(hub, cloud, night)
        assert done.state == "success", done.message
        with transaction(hub.sessions) as session:
            remembered = session.execute(
                select(RememberedLines.file, RememberedLines.keys, RememberedLines.source_ids)
                .where(RememberedLines.cloud_id == cloud)
                .order_by(RememberedLines.file, RememberedLines.seq)
            ).all()
        outcomes.append(
            (
                changes(done),
                done.details,
                repository_state(hub, cloud),
                [tuple(r) for r in remembered],
            )
        )
        monkeypatch.setattr(hub.settings, "loader_min_enrollments_bytes", 1 << 40)
        assert len(split) == (1 if threshold == 0 else 0)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1]["lines_skipped"] > 0  # a nightly that skipped lines


def test_a_read_that_ends_before_the_file_stops_its_splitter(
    district: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(district, broken)
    (broken / "users.csv").write_bytes(b"nothing,useful\r\n1,2\r\n")  # no required column
    started: list[SplitElsewhere] = []

    def start(source: Source, version: str, modes: dict[str, Mode]) -> dict[str, SplitElsewhere]:
        job = SplitJob(str(broken), 1 << 30, "enrollments.csv", 1 << 28, version, dict(modes))
        started.append(SplitElsewhere(job))
        return {"enrollments": started[-1]}

    with pytest.raises(BundleError, match=r"users\.csv"):
        read_bundle(broken, remembered={}, splitters=start)
    assert len(started) == 1
    assert not started[0].running
