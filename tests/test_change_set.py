"""A collection's change set (``repo_changes``) row by row, on SQLite and PostgreSQL: numbered
without gaps in the order the fan-out sends it — each kind's adds (by id) then its updates, in
dependency order, then the memberships', then the deletes in reverse order — with prior values
for updates and deletes only."""

from __future__ import annotations

import uuid
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district, generate_nightly
from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.ingest.changes import Change
from interop_hub.ingest.changes import change_set as changes_of
from interop_hub.ingest.models import Ingestion, RepoChange
from interop_hub.ingest.records import KINDS
from interop_hub.kit.db import transaction
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.factories import collect, make_world

Entry = tuple[str, uuid.UUID, str, str | None, str]
"""(entity, object id, kind, subtype, action)"""
Rows = dict[uuid.UUID, tuple[str, str, str | None]]
"""id → (kind, digest, subtype)"""


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("change-set")
    generate_district(out / "night1", students=30, seed=11)
    generate_nightly(out / "night1", out / "night2", seed=12, change_rate=0.1)
    return out / "night1", out / "night2"


@pytest.fixture
def cloud(client: Any, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


def repository(session: Session, cloud_id: uuid.UUID) -> Rows:
    found: Rows = {}
    for row in session.execute(
        select(RepoObject.id, RepoObject.kind, RepoObject.digest, RepoObject.subtype).where(
            RepoObject.cloud_id == cloud_id
        )
    ):
        found[row.id] = (row.kind, row.digest, row.subtype)
    for member in session.execute(
        select(RepoMembership.id, RepoMembership.digest, RepoMembership.role).where(
            RepoMembership.cloud_id == cloud_id
        )
    ):
        found[member.id] = ("membership", member.digest, member.role)
    return found


def change_set(session: Session, ingestion: Ingestion) -> list[Change]:
    changes = list(changes_of(session, ingestion.id))
    assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
    stored = session.scalars(select(RepoChange).where(RepoChange.ingestion_id == ingestion.id))
    assert {c.cloud_id for c in stored} == {ingestion.cloud_id}
    return changes


def stored_entries(session: Session, ingestion: Ingestion) -> list[tuple[str, str, int | None]]:
    """(kind, action, rows) of the entries as stored."""
    found = session.execute(
        select(RepoChange.kind, RepoChange.action, RepoChange.rows)
        .where(RepoChange.ingestion_id == ingestion.id)
        .order_by(RepoChange.seq)
    )
    return [tuple(row) for row in found]  # type: ignore[misc]


def entries(changes: list[Change]) -> list[Entry]:
    return [(c.entity, c.object_id, c.kind, c.subtype, c.action) for c in changes]


def adds(rows: Rows, kind: str, ids: set[uuid.UUID]) -> list[Entry]:
    entity = "membership" if kind == "membership" else "object"
    return [
        (entity, i, kind, rows[i][2], "ADD") for i in sorted(i for i in ids if rows[i][0] == kind)
    ]


def test_initial_change_set_is_every_row_added_in_order(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path]
) -> None:
    done = collect(hub, cloud, nights[0])
    with transaction(hub.sessions) as session:
        rows = repository(session, cloud)
        changes = change_set(session, done)
    expected = [entry for kind in (*KINDS, "membership") for entry in adds(rows, kind, set(rows))]
    assert entries(changes) == expected
    assert all(c.prior is None for c in changes)
    assert len(changes) == done.objects_added
    with transaction(hub.sessions) as session:
        stored = stored_entries(session, done)
    # Into an empty cloud: one entry per kind, standing for all its rows.
    kinds = [kind for kind in (*KINDS, "membership") if adds(rows, kind, set(rows))]
    assert stored == [(kind, "ADD", len(adds(rows, kind, set(rows)))) for kind in kinds]


def test_an_implied_entry_lists_the_rows_still_there_and_no_row_added_later(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path]
) -> None:
    hub.settings.mass_change_threshold = 1.0
    first = collect(hub, cloud, nights[0])
    with transaction(hub.sessions) as session:
        before = repository(session, cloud)
        initial = entries(change_set(session, first))
    night = collect(hub, cloud, nights[1])
    with transaction(hub.sessions) as session:
        after = repository(session, cloud)
        listed = entries(list(changes_of(session, first.id)))
        stored = stored_entries(session, night)
    # The nightly added rows to kinds that had some: an entry per row, none implied.
    assert all(rows is None for _, _, rows in stored)
    assert any(action == "ADD" for _, action, _ in stored)
    gone = set(before) - set(after)
    assert gone
    assert listed == [entry for entry in initial if entry[1] not in gone]
    assert {entry[1] for entry in listed} == set(before) & set(after)


def test_nightly_change_set_names_each_change_once_in_order(
    hub: Hub, cloud: uuid.UUID, nights: tuple[Path, Path]
) -> None:
    hub.settings.mass_change_threshold = 1.0
    collect(hub, cloud, nights[0])
    with transaction(hub.sessions) as session:
        before = repository(session, cloud)
    night = collect(hub, cloud, nights[1])
    with transaction(hub.sessions) as session:
        after = repository(session, cloud)
        changes = change_set(session, night)
    added = set(after) - set(before)
    gone = set(before) - set(after)
    updated = {i for i in set(before) & set(after) if before[i][1] != after[i][1]}
    assert added
    assert gone
    assert updated
    kinds = [*(k for k in KINDS if any(r[0] == k for r in after.values())), "membership"]
    expected: list[object] = []
    for kind in kinds:
        expected += adds(after, kind, added)
        expected.append(("UPDATE", kind, {i for i in updated if after[i][0] == kind}))
    for kind in reversed(kinds):
        expected.append(("DELETE", kind, {i for i in gone if before[i][0] == kind}))
    # adds one by one; updates and deletes by (action, kind), each group in the plan's order
    found: list[object] = []
    for (action, kind), group in groupby(changes, key=lambda c: (c.action, c.kind)):
        run = list(group)
        if action == "ADD":
            found += entries(run)
            continue
        found.append((action, kind, {c.object_id for c in run}))
        for change in run:
            then = (before if action == "DELETE" else after)[change.object_id]
            assert change.subtype == then[2]
            assert change.prior
    assert found == [e for e in expected if not isinstance(e[2], set) or e[2]]  # type: ignore[index]
    assert night.objects_added == len(added)
    assert night.objects_updated == len(updated)
    assert night.objects_deleted == len(gone)
