"""Planning a collection: what a bundle changes in the Repository, kind by kind (the plans of
:mod:`interop_hub.ingest.diff` against the stored digests), before anything is written.

Only new and changed records are built into rows; records whose lines were skipped as
remembered (:mod:`interop_hub.ingest.oneroster.skipping`) are not records at all, only source
ids that stand.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, aliased

from interop_hub.ingest.apply import CollectionPlan
from interop_hub.ingest.diff import Builder, Plan, plan
from interop_hub.ingest.normalize import (
    Normalizer,
    legacy_membership_digest,
    legacy_object_digest,
    membership_digest,
    object_digest,
    previous_membership_digest,
    previous_object_digest,
)
from interop_hub.ingest.records import (
    FILE_KINDS,
    Bundle,
    Kind,
    Ref,
    SourceMembership,
    SourceObject,
    WrittenElsewhere,
)
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject


def plan_collection(session: Session, cloud_id: uuid.UUID, bundle: Bundle) -> CollectionPlan:
    """What the bundle changes. Only new and changed records are built into rows (see
    :mod:`interop_hub.ingest.diff`): a nightly digests every record but builds few."""
    counts = _row_counts(session, cloud_id)
    members = bundle.memberships
    deferred = bundle.reading
    if deferred and counts[None]:
        # Deferred for a cloud without memberships, which has some now (a collection that
        # applied meanwhile): compared with them, a rejected row keeps its membership, so the
        # rows must all be read, and their errors known, first.
        bundle.read_all()
        deferred = False
    # Rejected source ids by file; a deferred enrollments file's are not known yet, and not
    # needed: into a cloud without memberships, nothing is deleted.
    rejected: dict[str, set[str]] = {}
    for error in bundle.errors:
        if error.source_id:
            rejected.setdefault(error.file.removesuffix(".csv"), set()).add(error.source_id)
    normalizer = Normalizer(cloud_id)
    by_kind: dict[Kind, list[SourceObject]] = {}
    for record in bundle.objects:
        by_kind.setdefault(record.kind, []).append(record)
    deleted_by_kind: dict[Kind, list[str]] = {}
    for kind, source_id in bundle.deleted:
        deleted_by_kind.setdefault(kind, []).append(source_id)

    result = CollectionPlan(existing_rows=sum(counts.values()), normalizer=normalizer)
    for name, kind in FILE_KINDS.items():
        mode = bundle.modes.get(name, "absent")
        if mode == "absent" and not (kind == "person" and bundle.person_patches):
            continue
        records = by_kind.get(kind, [])
        if kind == "person" and bundle.person_patches:
            records = records + _patched_persons(session, cloud_id, bundle, records)
        current, unchanged = _current(session, cloud_id, kind, bundle, name, records, counts)
        result.objects[kind] = plan(
            current,
            ((r.source_id, object_digest(r), r) for r in records),
            Builder(
                normalizer.object_row,
                previous_object_digest,
                legacy_object_digest,
                functools.partial(normalizer.object_id, kind),
            ),
            count=len(records),
            full_state=mode == "bulk",
            deleted=deleted_by_kind.get(kind, ()),
            keep=rejected.get(name, ()),
            unchanged=unchanged,
        )
    mode = bundle.modes.get("enrollments", "absent")
    if isinstance(members, WrittenElsewhere):  # into a cloud that has nothing: all adds
        if sum(counts.values()):
            raise RuntimeError("memberships written elsewhere for a cloud that has rows")
        result.memberships = Plan(adds=members)
    elif mode != "absent":
        current, unchanged = _current(
            session, cloud_id, None, bundle, "enrollments", members, counts
        )
        result.memberships = plan(
            current,
            ((m.source_id, membership_digest(m), m) for m in members),
            Builder(
                normalizer.membership_row,
                previous_membership_digest,
                legacy_membership_digest,
                normalizer.membership_id,
            ),
            count=None if deferred else len(members),
            full_state=mode == "bulk",
            deleted=bundle.deleted_memberships,
            keep=rejected.get("enrollments", ()),
            unchanged=unchanged,
        )
    return result


def _current(
    session: Session,
    cloud_id: uuid.UUID,
    kind: Kind | None,
    bundle: Bundle,
    name: str,
    records: Sequence[SourceObject] | Sequence[SourceMembership],
    counts: Mapping[Kind | None, int],
) -> tuple[dict[str, str], AbstractSet[str]]:
    """What :func:`~interop_hub.ingest.diff.plan` compares a kind's ``records`` (None:
    memberships) with: the stored digests by source id, and the source ids of lines skipped
    as remembered (they stand: never deleted).

    When file ``name`` was compared with its remembered lines and the Repository has as many
    rows of the kind as were remembered, it has exactly those (every remembered line is a row):
    all but the remembered rows whose lines were not skipped stand, so only those and the
    records' own rows are read — not the hundreds of thousands a nightly skipped.
    """
    skipped = bundle.skipped.get(name)
    if skipped is None:
        return _current_digests(session, cloud_id, kind), frozenset()
    if counts.get(kind, 0) != len(skipped.remembered):
        return _current_digests(session, cloud_id, kind), skipped.source_ids()
    current = dict.fromkeys(skipped.dropped, "")
    stated = [r.source_id for r in records]
    if kind is None:
        table = cast(Table, RepoMembership.__table__)
        make_id = Normalizer(cloud_id).membership_id
        for batch in chunks(stated):
            query = select(table.c.source_id, table.c.digest).where(
                one_of(session, table.c.id, [make_id(s) for s in batch])
            )
            current.update(dict(session.execute(query).all()))
    else:
        table = cast(Table, RepoObject.__table__)
        for batch in chunks(stated):
            query = select(table.c.source_id, table.c.digest).where(
                table.c.cloud_id == cloud_id,
                table.c.kind == kind,
                one_of(session, table.c.source_id, batch),
            )
            current.update(dict(session.execute(query).all()))
    return current, frozenset()


def _row_counts(session: Session, cloud_id: uuid.UUID) -> dict[Kind | None, int]:
    """The cloud's rows by kind (None: memberships), counted once per collection."""
    counts: dict[Kind | None, int] = {
        cast(Kind, kind): int(n)
        for kind, n in session.execute(
            select(RepoObject.kind, func.count())
            .where(RepoObject.cloud_id == cloud_id)
            .group_by(RepoObject.kind)
        )
    }
    members = select(func.count()).where(RepoMembership.cloud_id == cloud_id)
    counts[None] = int(session.scalar(members) or 0)
    return counts


def _current_digests(session: Session, cloud_id: uuid.UUID, kind: Kind | None) -> dict[str, str]:
    """The stored digests of a kind's objects (None: of memberships), by source id.

    Two text columns, so they are taken straight from the driver's cursor: no result row
    objects (a third of the time for 731,000 memberships).
    """
    if kind is None:
        table = cast(Table, RepoMembership.__table__)
        query = select(table.c.source_id, table.c.digest).where(table.c.cloud_id == cloud_id)
    else:
        table = cast(Table, RepoObject.__table__)
        query = select(table.c.source_id, table.c.digest).where(
            table.c.cloud_id == cloud_id, table.c.kind == kind
        )
    result = session.connection().execute(query)
    try:
        return dict(result.cursor.fetchall())
    finally:
        result.close()


def _patched_persons(
    session: Session, cloud_id: uuid.UUID, bundle: Bundle, incoming: list[SourceObject]
) -> list[SourceObject]:
    """Existing persons with the bundle's demographics merged in (users file not bulk), as
    the records a users file stating them would give (references from their links)."""
    present = {record.source_id for record in incoming}
    wanted = {s: p for s, p in bundle.person_patches.items() if s not in present}
    records: list[SourceObject] = []
    if not wanted:
        return records
    found = session.scalars(
        select(RepoObject).where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == "person",
            RepoObject.source_id.in_(list(wanted)),
        )
    ).all()
    target = aliased(RepoObject)
    refs: dict[uuid.UUID, list[tuple[str, int, Ref]]] = {}
    for link in session.execute(
        select(RepoLink.from_id, RepoLink.rel, RepoLink.position, target.kind, target.source_id)
        .join(target, target.id == RepoLink.to_id)
        .where(
            RepoLink.cloud_id == cloud_id,
            target.cloud_id == cloud_id,
            RepoLink.from_id.in_([o.id for o in found]),
        )
    ):
        ref = Ref(link.rel, cast(Kind, link.kind), link.source_id)
        refs.setdefault(link.from_id, []).append((link.rel, link.position, ref))
    for obj in found:
        ordered = sorted(refs.get(obj.id, ()), key=lambda item: (item[0], item[1]))
        records.append(
            SourceObject(
                "person",
                obj.source_id,
                obj.subtype,
                obj.label,
                obj.school_year,
                _merge_patch(obj.data, wanted[obj.source_id]),
                tuple(ref for _, _, ref in ordered),
            )
        )
    return records


def _merge_patch(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Demographic fields replace the person's; their ``$ext`` entries join the person's."""
    merged = {**data, **patch}
    merged["$ext"] = {**data.get("$ext", {}), **patch.get("$ext", {})}
    return merged
