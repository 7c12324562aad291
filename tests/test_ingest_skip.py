"""A nightly builds rows only for records that changed (their digest is a digest of the source
record), on SQLite and PostgreSQL: an unchanged bundle builds nothing, a change that only
another file states (demographics, a term's school year rolled up to courses and sections)
still updates what it changes, and digests stored by earlier versions are compared the old way.
"""

from __future__ import annotations

import csv
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from interop_hub.ingest.models import Ingestion, RememberedLines
from interop_hub.ingest.normalize import (
    Normalizer,
    is_previous_digest,
    is_record_digest,
    legacy_membership_digest,
    legacy_object_digest,
    membership_digest,
    object_digest,
    previous_membership_digest,
    previous_object_digest,
)
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.kit.db import is_postgresql, transaction, write_transaction
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.factories import collect, make_world


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("skip") / "district"
    generate_district(out, students=40, seed=11)
    return out


@pytest.fixture
def cloud(client: TestClient, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The source ids of every row a collection builds, in order."""
    seen: list[str] = []
    object_row, membership_row = Normalizer.object_row, Normalizer.membership_row

    def counting(build: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Normalizer, record: Any, digest: str) -> Any:
            seen.append(record.source_id)
            return build(self, record, digest)

        return wrapper

    monkeypatch.setattr(Normalizer, "object_row", counting(object_row))
    monkeypatch.setattr(Normalizer, "membership_row", counting(membership_row))
    return seen


def changes(done: Ingestion) -> tuple[int | None, int | None, int | None]:
    return done.objects_added, done.objects_updated, done.objects_deleted


def rewrite(src: Path, dst: Path, name: str, edit: Callable[[dict[str, str]], None]) -> Path:
    """A copy of bundle ``src`` at ``dst`` with every row of ``name``.csv passed to ``edit``."""
    shutil.copytree(src, dst)
    path = dst / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        edit(row)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return dst


def stored(hub: Hub, cloud_id: uuid.UUID, source_id: str) -> RepoObject:
    with transaction(hub.sessions) as session:
        found = session.scalar(
            select(RepoObject).where(
                RepoObject.cloud_id == cloud_id, RepoObject.source_id == source_id
            )
        )
        assert found is not None
        session.expunge(found)
        return found


def test_an_unchanged_nightly_builds_and_changes_nothing(
    hub: Hub, cloud: uuid.UUID, district: Path, built: list[str]
) -> None:
    first = collect(hub, cloud, district)
    with transaction(hub.sessions) as session:
        members = (
            session.scalar(
                select(func.count())
                .where(RepoMembership.cloud_id == cloud)
                .select_from(RepoMembership)
            )
            or 0
        )
        postgresql = is_postgresql(session)
    # Every row was built on SQLite; on PostgreSQL none: a first collection's objects, links and
    # memberships are encoded straight from their records (ingest.copy_rows).
    assert len(built) == (0 if postgresql else first.objects_added)
    assert members
    assert all(is_record_digest(d) for d in stored_digests(hub, cloud).values())
    built.clear()
    again = collect(hub, cloud, district)
    assert changes(again) == (0, 0, 0)
    assert built == []


def test_one_changed_demographics_row_updates_only_its_person(
    hub: Hub, cloud: uuid.UUID, district: Path, built: list[str], tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    target: list[str] = []

    def edit(row: dict[str, str]) -> None:
        if not target and row["sex"] == "male":
            target.append(row["sourcedId"])
            row["sex"], row["cityOfBirth"] = "female", "Elsewhere"

    changed = rewrite(district, tmp_path / "night", "demographics", edit)
    built.clear()
    night = collect(hub, cloud, changed)
    assert changes(night) == (0, 1, 0)
    assert built == target
    found = stored(hub, cloud, target[0])
    assert found.data["sex"] == "female"
    assert found.data["$ext"]["cityOfBirth"] == "Elsewhere"


def test_demographics_of_persons_outside_the_users_file_are_compared_too(
    hub: Hub, cloud: uuid.UUID, district: Path, built: list[str], tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    target: list[str] = []

    def edit(row: dict[str, str]) -> None:
        if not target:
            target.append(row["sourcedId"])
        if row["sourcedId"] == target[0]:
            row["birthDate"] = "2001-02-03"

    patched = rewrite(district, tmp_path / "patch", "demographics", edit)
    manifest = (patched / "manifest.csv").read_text(encoding="utf-8")
    (patched / "manifest.csv").write_text(
        manifest.replace("file.users,bulk", "file.users,absent"), encoding="utf-8"
    )
    before = stored(hub, cloud, target[0])
    built.clear()
    night = collect(hub, cloud, patched)
    assert changes(night) == (0, 1, 0)
    assert built == target
    after = stored(hub, cloud, target[0])
    assert after.data == {**before.data, "dob": "2001-02-03"}
    assert after.digest != before.digest
    # the same state stated by a full users file again: nothing changes
    restored = rewrite(district, tmp_path / "full", "demographics", edit)
    built.clear()
    assert changes(collect(hub, cloud, restored)) == (0, 0, 0)
    assert built == []


def test_a_changed_referenced_term_updates_what_rolls_its_year_up(
    hub: Hub, cloud: uuid.UUID, district: Path, tmp_path: Path
) -> None:
    hub.settings.mass_change_threshold = 1.0
    collect(hub, cloud, district)
    years: list[str] = []

    def edit(row: dict[str, str]) -> None:
        if row["type"] == "schoolYear" and not years:
            years.append(row["sourcedId"])
            row["schoolYear"] = str(int(row["schoolYear"]) + 1)

    changed = rewrite(district, tmp_path / "night", "academicSessions", edit)
    with changed.joinpath("courses.csv").open(encoding="utf-8", newline="") as handle:
        courses = [r for r in csv.DictReader(handle) if r["schoolYearSourcedId"] == years[0]]
    assert courses
    night = collect(hub, cloud, changed)
    assert night.objects_added == night.objects_deleted == 0
    assert (night.objects_updated or 0) > len(courses)  # the terms, courses and their sections
    course = stored(hub, cloud, courses[0]["sourcedId"])
    assert course.school_year == int(stored(hub, cloud, years[0]).data["school_year"])


def test_digests_of_earlier_versions_are_compared_the_old_way(
    hub: Hub, cloud: uuid.UUID, district: Path, built: list[str], tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    legacy = legacy_digests(cloud, district)
    store_as_earlier(hub, cloud, legacy)
    assert not any(is_record_digest(d) for d in stored_digests(hub, cloud).values())
    before = {row.source_id: row.updated_at for row in all_objects(hub, cloud)}
    built.clear()
    assert changes(collect(hub, cloud, district)) == (0, 0, 0)
    assert len(built) == sum(len(d) for d in legacy.values())  # each built once, to compare
    # compared the old way, nothing changed: only the digests were replaced, silently
    assert all(is_record_digest(d) for d in stored_digests(hub, cloud).values())
    assert {row.source_id: row.updated_at for row in all_objects(hub, cloud)} == before

    built.clear()
    changed, target = one_sex_changed(district, tmp_path / "night")
    assert changes(collect(hub, cloud, changed)) == (0, 1, 0)
    assert built == [target]


def test_digests_of_the_version_before_are_compared_on_the_record_and_kept(
    hub: Hub, cloud: uuid.UUID, district: Path, built: list[str], tmp_path: Path
) -> None:
    collect(hub, cloud, district)
    read = read_bundle(district)
    before_digests: dict[Any, dict[str, str]] = {
        RepoObject: {r.source_id: previous_object_digest(r) for r in read.objects},
        RepoMembership: {m.source_id: previous_membership_digest(m) for m in read.memberships},
    }
    store_as_earlier(hub, cloud, before_digests)
    stored = stored_digests(hub, cloud)
    assert all(is_previous_digest(d) for d in stored.values())
    built.clear()
    assert changes(collect(hub, cloud, district)) == (0, 0, 0)
    assert built == []  # compared on the records: nothing built, nothing written
    assert stored_digests(hub, cloud) == stored

    changed, target = one_sex_changed(district, tmp_path / "night")
    assert changes(collect(hub, cloud, changed)) == (0, 1, 0)
    assert built == [target]
    assert is_record_digest(stored_digests(hub, cloud)[target])


def store_as_earlier(hub: Hub, cloud_id: uuid.UUID, digests: dict[Any, dict[str, str]]) -> None:
    """Leave the cloud's rows as an earlier release did: with ``digests`` (by table, then
    source id), and no remembered lines, so that the next collection reads every line."""
    with write_transaction(hub.sessions) as session:
        session.execute(delete(RememberedLines).where(RememberedLines.cloud_id == cloud_id))
        for table, by_source in digests.items():
            for source_id, digest in by_source.items():
                session.execute(
                    update(table)
                    .where(table.cloud_id == cloud_id, table.source_id == source_id)
                    .values(digest=digest)
                )


def one_sex_changed(district: Path, out: Path) -> tuple[Path, str]:
    """``district`` with its first demographics row's sex changed, and that row's person."""
    target: list[str] = []

    def edit(row: dict[str, str]) -> None:
        if not target:
            target.append(row["sourcedId"])
            row["sex"] = "other" if row["sex"] != "other" else "male"

    changed = rewrite(district, out, "demographics", edit)
    return changed, target[0]


def all_objects(hub: Hub, cloud_id: uuid.UUID) -> list[RepoObject]:
    with transaction(hub.sessions) as session:
        return list(session.scalars(select(RepoObject).where(RepoObject.cloud_id == cloud_id)))


def stored_digests(hub: Hub, cloud_id: uuid.UUID) -> dict[str, str]:
    with transaction(hub.sessions) as session:
        objects = session.execute(
            select(RepoObject.source_id, RepoObject.digest).where(RepoObject.cloud_id == cloud_id)
        ).all()
        members = session.execute(
            select(RepoMembership.source_id, RepoMembership.digest).where(
                RepoMembership.cloud_id == cloud_id
            )
        ).all()
    return {row.source_id: row.digest for row in [*objects, *members]}


def legacy_digests(cloud_id: uuid.UUID, bundle: Path) -> dict[Any, dict[str, str]]:
    """The digests an earlier version stored for ``bundle``'s rows (over their ids)."""
    read = read_bundle(bundle)
    normalizer = Normalizer(cloud_id)
    objects = {
        r.source_id: legacy_object_digest(normalizer.object_row(r, object_digest(r)))
        for r in read.objects
    }
    members = {
        m.source_id: legacy_membership_digest(normalizer.membership_row(m, membership_digest(m)))
        for m in read.memberships
    }
    return {RepoObject: objects, RepoMembership: members}


def test_references_lost_with_a_deleted_object_come_back_with_it(
    hub: Hub, cloud: uuid.UUID, district: Path, tmp_path: Path
) -> None:
    """A school missing from one bulk orgs file is deleted while what refers to it is rejected
    and kept (links to it go, memberships lose their school); when it is back, so is all that."""
    hub.settings.mass_change_threshold = 1.0
    collect(hub, cloud, district)
    before = repository_state(hub, cloud)
    schools: list[str] = []

    def drop(row: dict[str, str]) -> None:
        if row["type"] == "school" and not schools:
            schools.append(row["sourcedId"])
            row["sourcedId"] = ""  # rejected, and not the school any more

    cut = collect(hub, cloud, rewrite(district, tmp_path / "cut", "orgs", drop))
    assert cut.objects_deleted == 1
    assert repository_state(hub, cloud) != before
    back = collect(hub, cloud, district)
    assert back.objects_added == 1
    assert (back.objects_updated or 0) > 0
    assert repository_state(hub, cloud) == before
    assert changes(collect(hub, cloud, district)) == (0, 0, 0)


def repository_state(hub: Hub, cloud_id: uuid.UUID) -> tuple[set[Any], set[Any]]:
    """Every link and every membership's references, by source id."""
    with transaction(hub.sessions) as session:
        names = dict(
            session.execute(
                select(RepoObject.id, RepoObject.source_id).where(RepoObject.cloud_id == cloud_id)
            ).all()
        )
        links = {
            (names.get(f), rel, names.get(t), pos)
            for f, rel, t, pos in session.execute(
                select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id, RepoLink.position).where(
                    RepoLink.cloud_id == cloud_id
                )
            )
        }
        members = {
            (
                m.source_id,
                names.get(m.person_id),
                names.get(m.section_id),
                names.get(m.school_id) if m.school_id is not None else None,
            )
            for m in session.scalars(
                select(RepoMembership).where(RepoMembership.cloud_id == cloud_id)
            )
        }
    return links, members
