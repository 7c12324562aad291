"""From renderings before and after a change to each tenant's data events.

A collection (and a change of a tenant's scoping) is a stream of :class:`Change` — an object or
membership rendered as it was and as it is — in dependency order. Each :class:`Target` (one
tenant's sync) sees both sides through its blueprint view and its scope before and after
(:class:`interop_hub.scoping.visibility.Scope`): ``ADD`` for what it now sees and did not,
``UPDATE`` for what looks different to it, ``DELETE`` for what it no longer sees. Adds and
updates are written in the stream's order; deletes are held and written last, in reverse
dependency order (a membership goes before its section, a section before its school).

Each rendering an event refers to is stored once as a payload (:mod:`interop_hub.tasks.payloads`)
and shared by every tenant whose event carries the same JSON; a scoped tenant whose references
had to be filtered gets a payload of its own (``epoch`` NULL: it is no object as it is).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
from sqlalchemy.orm import Session

from interop_hub.kit.bulk import chunks
from interop_hub.scoping.visibility import EVERYTHING, Scope, filter_ids
from interop_hub.tasks import payloads
from interop_hub.tasks.projection import TenantView, Topic, differs, sort_key
from interop_hub.tasks.queue import Event, SyncWriter
from interop_hub.tasks.render import BATCH, Rendered


class Change(NamedTuple):
    """One object or membership as it was and as it is (None: it did not or does not exist).

    ``touched`` is False for what did not change itself, only (possibly) its visibility or the
    visibility of what it refers to: then ``before is after``.
    """

    id: uuid.UUID
    before: Rendered | None
    after: Rendered | None
    touched: bool = True


@dataclass
class Target:
    """One tenant's sync in a diff."""

    view: TenantView
    sync: SyncWriter
    before: Scope = EVERYTHING
    after: Scope = EVERYTHING
    deletes: list[tuple[tuple[int, int, str], Event]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.moving = self.before != self.after
        """Whether its scope changed (untouched objects concern it only then)."""


def decide(
    view: TenantView, before: Rendered | None, after: Rendered | None
) -> tuple[str, Topic] | None:
    """The data event that takes a tenant from ``before`` to ``after`` of one object (either
    may be None: the tenant did not or does not see it): its action and the tenant's topic, or
    None when the tenant sees no difference."""
    old = view.project(before.kind, before.subtype, before.body) if before else None
    new = view.project(after.kind, after.subtype, after.body) if after else None
    if new is not None:
        if old is None:
            return "ADD", new[0]
        return ("UPDATE", new[0]) if differs(old[1], new[1]) else None
    return ("DELETE", old[0]) if old is not None else None


class References(dict[int, frozenset[str]]):
    """The ids each rendering refers to (as text), worked out once for every tenant's scope;
    keyed by the rendering's ``id()``, so it lives no longer than the renderings it holds."""

    def of(self, item: Rendered) -> frozenset[str]:
        found = self.get(id(item))
        if found is None:
            found = self[id(item)] = filter_ids(item.body)
        return found


def scoped(scope: Scope, item: Rendered | None, known: References | None = None) -> Rendered | None:
    """``item`` as a tenant with ``scope`` sees it: None when it is outside the scope, its
    references outside the scope dropped (``known``: the references of renderings, shared)."""
    if item is None or not scope.sees(item.body):
        return None
    if scope.everything or (known is not None and scope.has_all(known.of(item))):
        return item
    body = scope.filter(item.body)
    if body is item.body:
        return item
    return Rendered(item.id, item.kind, item.subtype, item.label, body, orjson.dumps(body))


def data_event(
    action: str,
    topic: Topic,
    object_id: uuid.UUID,
    label: str,
    payload_id: int,
    prior_payload_id: int | None = None,
) -> Event:
    return Event(
        "data_event",
        action,
        object_id,
        topic.object_type,
        label,
        payload_id=payload_id,
        prior_payload_id=prior_payload_id,
    )


class Decision(NamedTuple):
    target: Target
    action: str
    topic: Topic
    change: Change
    old: Rendered | None
    new: Rendered | None


@dataclass
class Diff:
    """Runs a stream of changes through the targets and writes their events.

    ``stored`` maps objects to the payload that rendered them as they were before the change
    (their current payload in ``epoch`` when the change began): reused for an unchanged object
    and for the prior side of an update or delete.
    """

    session: Session
    cloud_id: uuid.UUID
    epoch: int
    targets: list[Target]
    stored: dict[uuid.UUID, int]

    def run(self, changes: Iterable[Change]) -> int:
        for batch in chunks(changes, BATCH):
            self._batch(batch)
        for target in self.targets:
            target.deletes.sort(key=lambda pair: pair[0], reverse=True)
            for _, event in target.deletes:
                target.sync.add(event)
            target.deletes.clear()
        return sum(target.sync.end() for target in self.targets)

    def _batch(self, batch: Sequence[Change]) -> None:
        decided: list[Decision] = []
        known = References()
        for change in batch:
            same = not change.touched or _same(change.before, change.after)
            for target in self.targets:
                if same and not target.moving:
                    continue  # the same JSON in the same scope: nothing to tell
                if not (_shown(target.view, change.before) or _shown(target.view, change.after)):
                    continue  # a kind the tenant does not see: no scoping work for it
                old = scoped(target.before, change.before, known)
                new = scoped(target.after, change.after, known)
                found = decide(target.view, old, new)
                if found is not None:
                    decided.append(Decision(target, found[0], found[1], change, old, new))
        ids = self._payloads(batch, decided)
        for d in decided:
            if d.action == "DELETE":
                assert d.old is not None
                event = data_event("DELETE", d.topic, d.change.id, d.old.label, ids[_key(d, d.old)])
                d.target.deletes.append((sort_key(d.old.kind, d.old.subtype, d.change.id), event))
                continue
            assert d.new is not None
            prior = ids[_key(d, d.old)] if d.action == "UPDATE" and d.old is not None else None
            d.target.sync.add(
                data_event(d.action, d.topic, d.change.id, d.new.label, ids[_key(d, d.new)], prior)
            )

    def _payloads(
        self, batch: Sequence[Change], decided: Sequence[Decision]
    ) -> dict[tuple[object, ...], int]:
        """The payload of every rendering the batch's events refer to, keyed by :func:`_key`.

        Every touched object's new rendering is stored whether or not an event needs it: the
        newest payload of an object in the epoch must be the object as it is now (the query API
        serves it), so a stale one may not stay the newest.
        """
        found: dict[tuple[object, ...], int] = {}
        to_write: dict[tuple[object, ...], tuple[Rendered, int | None]] = {}
        for change in batch:
            after = change.after
            if after is None:
                continue
            unchanged = change.before is not None and change.before.body == after.body
            if change.id in self.stored and (unchanged or not change.touched):
                found["after", change.id] = self.stored[change.id]
            elif change.touched:
                to_write["after", change.id] = (after, self.epoch)
        for d in decided:
            for side in (d.old, d.new):
                if side is None:
                    continue
                key = _key(d, side)
                if key in found or key in to_write:
                    continue
                if key[0] == "before" and side.id in self.stored:
                    found[key] = self.stored[side.id]
                elif key[0] == "after":
                    to_write[key] = (side, self.epoch)  # untouched, never stored: as it is now
                else:
                    to_write[key] = (side, None)
        if to_write:
            keys = list(to_write)
            for epoch in {epoch for _, epoch in to_write.values()}:
                chosen = [key for key in keys if to_write[key][1] == epoch]
                written = payloads.write_raw(
                    self.session,
                    self.cloud_id,
                    epoch,
                    [(to_write[k][0].id, to_write[k][0].raw) for k in chosen],
                )
                found.update(zip(chosen, written, strict=True))
        return found


def _same(before: Rendered | None, after: Rendered | None) -> bool:
    """Whether a touched object renders as it did (the same bytes of the same kind)."""
    return (
        before is not None
        and after is not None
        and before.raw == after.raw
        and (before.kind, before.subtype) == (after.kind, after.subtype)
    )


def _shown(view: TenantView, item: Rendered | None) -> bool:
    return item is not None and view.topic(item.kind, item.subtype) is not None


def _key(decision: Decision, side: Rendered | None) -> tuple[object, ...]:
    """Which payload ``side`` of a decision is: the change's own rendering before or after
    (shared by every tenant that sees it whole), or a scoped tenant's filtered copy."""
    change = decision.change
    if side is change.after:
        return ("after", change.id)
    if side is change.before:
        return ("before", change.id)
    assert side is not None
    return ("scoped", change.id, side.raw)
