"""A collection skips the lines its cloud's last collection accepted, and the outcome is the
same as reading every line (issue 3: the nightly), on SQLite and PostgreSQL.

The main check is an equivalence: from the same district, a nightly bundle drawn at random
(changed, added, deleted, duplicated, reordered and broken lines; a user, class or school that
goes, taking what refers to it) is collected into one cloud that remembers the base bundle's
lines and into another that does not; the Repositories, the counts and every row error must be
the same. The other tests pin what must make a collection read a file whole.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district
from sqlalchemy import delete, select

from interop_hub.ingest import remembered
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion, IngestionError, RememberedLines
from interop_hub.ingest.oneroster import skipping
from interop_hub.ingest.oneroster.lines import compare, split_file
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.runtime import Hub
from tests.conftest import Database
from tests.factories import collect, make_account
from tests.test_collection_property import new_cloud, snapshot

SKIPPABLE = ("classes", "users", "enrollments", "demographics")
"""The remembered files whose lines are skipped (terms and courses are remembered, not skipped)."""


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated district with guardians added (users that refer to students as agents)."""
    out = tmp_path_factory.mktemp("remembered") / "district"
    generate_district(out, students=40, seed=5)
    table = Table.read(out / "users.csv")
    students = [row for row in table.rows if table.get(row, "role") == "student"]
    for n, student in enumerate(students[:12]):
        guardian = dict(zip(table.header, [""] * len(table.header), strict=True))
        guardian.update(
            sourcedId=f"guardian-{n}",
            enabledUser="true",
            orgSourcedIds=table.get(student, "orgSourcedIds"),
            role="guardian",
            username=f"guardian{n}",
            givenName="Pat",
            familyName=f"Guardian{n}",
            agentSourcedIds=table.get(student, "sourcedId"),
        )
        table.rows.append(table.line(guardian))
    table.write(out / "users.csv")
    return out


class Table:
    """A CSV file as its header and raw lines: untouched lines stay byte for byte."""

    def __init__(self, header: list[str], rows: list[str], newline: str = "\r\n") -> None:
        self.header, self.rows, self.newline = header, rows, newline

    @classmethod
    def read(cls, path: Path) -> Table:
        text = path.read_bytes().decode("utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        if lines and lines[-1] == "":
            lines.pop()
        return cls(next(csv.reader([lines[0]])), lines[1:], newline)

    def fields(self, line: str) -> dict[str, str]:
        return dict(zip(self.header, next(csv.reader([line])), strict=True))

    def get(self, line: str, column: str) -> str:
        return self.fields(line)[column]

    def line(self, values: dict[str, str]) -> str:
        out = io.StringIO()  # the default line end, so that a field holding one is quoted
        csv.writer(out).writerow([values.get(c, "") for c in self.header])
        return out.getvalue().removesuffix("\r\n")

    def edit(self, index: int, **changes: str) -> None:
        values = self.fields(self.rows[index])
        values.update(changes)
        self.rows[index] = self.line(values)

    def write(self, path: Path) -> None:
        head = self.line({c: c for c in self.header})
        body = self.newline.join([head, *self.rows]) + self.newline
        path.write_bytes(body.encode("utf-8"))


def mutate(base: Path, out: Path, rng: random.Random) -> Path:
    """A nightly of ``base``: random edits, each kind of edit with some probability."""
    shutil.copytree(base, out)
    users = Table.read(out / "users.csv")
    enrollments = Table.read(out / "enrollments.csv")
    demographics = Table.read(out / "demographics.csv")
    classes = Table.read(out / "classes.csv")
    courses = Table.read(out / "courses.csv")
    sessions = Table.read(out / "academicSessions.csv")
    orgs = Table.read(out / "orgs.csv")

    def some(table: Table, share: float) -> list[int]:
        return [i for i in range(len(table.rows)) if rng.random() < share]

    def chance(p: float) -> bool:
        return rng.random() < p

    for i in some(users, 0.1):
        users.edit(i, givenName=f"Renamed{rng.randrange(1000)}")
    if chance(0.7):  # students leave; their enrollments and demographics stay
        for i in sorted(rng.sample(range(len(users.rows)), 2), reverse=True):
            del users.rows[i]
    if chance(0.6):  # a user now fails a check: what refers to it falls too
        users.edit(rng.randrange(len(users.rows)), role="wizard")
    if chance(0.5):  # guardians lose their student
        victims = [i for i, r in enumerate(users.rows) if users.get(r, "agentSourcedIds") == ""]
        target = users.get(users.rows[rng.choice(victims)], "sourcedId")
        for i, row in enumerate(users.rows):
            if users.get(row, "sourcedId").startswith("guardian-") and chance(0.3):
                users.edit(i, agentSourcedIds=target)
    if chance(0.3):  # a line exactly as before, twice
        users.rows.append(rng.choice(users.rows))
    if chance(0.3):  # a changed line that states another unchanged line's sourcedId
        a, b = rng.sample(range(len(users.rows)), 2)
        users.edit(a, sourcedId=users.get(users.rows[b], "sourcedId"), givenName="Twin")
    if chance(0.3):
        rng.shuffle(users.rows)
    if chance(0.3):
        users.newline = "\n"
    new_user = dict(zip(users.header, users.fields(users.rows[0]).values(), strict=True))
    new_user.update(sourcedId=f"new-{rng.randrange(10**6)}", username="newcomer")
    users.rows.append(users.line(new_user))

    for i in sorted(some(enrollments, 0.05), reverse=True):
        del enrollments.rows[i]
    for i in some(enrollments, 0.05):
        enrollments.edit(i, primary="true" if chance(0.5) else "false")
    extra = enrollments.fields(rng.choice(enrollments.rows))
    extra.update(sourcedId=f"new-enrollment-{rng.randrange(10**6)}")
    enrollments.rows.append(enrollments.line(extra))
    if chance(0.3):
        rng.shuffle(enrollments.rows)
    if chance(0.3):
        enrollments.rows.insert(rng.randrange(len(enrollments.rows)), "")

    for i in some(demographics, 0.1):
        demographics.edit(i, sex=rng.choice(["male", "female", "other"]))
    for i in sorted(some(demographics, 0.05), reverse=True):
        del demographics.rows[i]

    for i in some(classes, 0.1):
        classes.edit(i, title=f"Class {rng.randrange(1000)}")
    if chance(0.4):  # a class goes: its enrollments are rejected
        del classes.rows[rng.randrange(len(classes.rows))]
    if chance(0.3):  # a course goes: its classes are rejected, and their enrollments
        del courses.rows[rng.randrange(len(courses.rows))]
    if chance(0.4):  # a term's school year moves: the classes' years with it
        term = classes.get(rng.choice(classes.rows), "termSourcedIds").split(",")[0]
        at = next(i for i, r in enumerate(sessions.rows) if sessions.get(r, "sourcedId") == term)
        sessions.edit(at, schoolYear=str(int(sessions.get(sessions.rows[at], "schoolYear")) + 1))
    if chance(0.4):  # a school goes
        schools = [i for i, r in enumerate(orgs.rows) if orgs.get(r, "type") == "school"]
        del orgs.rows[rng.choice(schools)]

    for table, name in (
        (users, "users"),
        (enrollments, "enrollments"),
        (demographics, "demographics"),
        (classes, "classes"),
        (courses, "courses"),
        (sessions, "academicSessions"),
        (orgs, "orgs"),
    ):
        table.write(out / f"{name}.csv")
    return out


def outcome(hub: Hub, done: Ingestion) -> dict[str, Any]:
    """What an operator sees of a collection: its counts and every row error."""
    with transaction(hub.sessions) as session:
        errors = [
            (e.file, e.line, e.column, e.reason, e.source_id)
            for e in session.scalars(
                select(IngestionError)
                .where(IngestionError.ingestion_id == done.id)
                .order_by(IngestionError.id)
            )
        ]
    counts = (
        done.rows_read,
        done.rows_rejected,
        done.objects_added,
        done.objects_updated,
        done.objects_deleted,
    )
    return {"state": done.state, "counts": counts, "errors": errors}


def account_of(hub: Hub) -> uuid.UUID:
    hub.settings.mass_change_threshold = 1.0  # a random nightly may change much: never held
    return make_account(hub, "education_agency", f"Lines {uuid.uuid4().hex[:6]}").id


def forget(hub: Hub, cloud_id: uuid.UUID) -> None:
    with write_transaction(hub.sessions) as session:
        session.execute(delete(RememberedLines).where(RememberedLines.cloud_id == cloud_id))


def skipped(done: Ingestion) -> int:
    return int(done.details.get("lines_skipped", 0))


def stored_lines(hub: Hub, cloud_id: uuid.UUID) -> dict[str, tuple[str, bytes, list[str]]]:
    """The cloud's remembered lines as loaded (a base and its changes put together)."""
    with transaction(hub.sessions) as session:
        _, found = remembered.load(session, cloud_id)
    return {f: (lines.context, lines.keys, lines.source_ids) for f, lines in found.items()}


def stored_rows(hub: Hub, cloud_id: uuid.UUID) -> dict[str, list[int]]:
    """The ``seq`` of each file's rows."""
    r = RememberedLines
    with transaction(hub.sessions) as session:
        rows = session.execute(
            select(r.file, r.seq).where(r.cloud_id == cloud_id).order_by(r.file, r.seq)
        ).all()
    found: dict[str, list[int]] = {}
    for file, seq in rows:
        found.setdefault(file, []).append(seq)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_skipping_remembered_lines_changes_nothing_of_the_outcome(
    hub: Hub, district: Path, tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remembered, "MAX_DRIFT", 1.0)  # changes stored however large
    rng = random.Random(seed)
    first = mutate(district, tmp_path / "first", rng)
    second = mutate(first, tmp_path / "second", rng)
    account = account_of(hub)
    remembering, reading = new_cloud(hub, account), new_cloud(hub, account)
    collect(hub, remembering, district)
    collect(hub, reading, district)
    for bundle in (first, second, second):
        forget(hub, reading)
        slow = collect(hub, reading, bundle)
        fast = collect(hub, remembering, bundle)
        assert skipped(slow) == 0
        assert skipped(fast) > 0
        assert outcome(hub, fast) == outcome(hub, slow)
        assert snapshot(hub, remembering) == snapshot(hub, reading)
        # the lines stored as changes put together are those stored whole by the other
        assert stored_lines(hub, remembering) == stored_lines(hub, reading)
    assert max(max(seqs) for seqs in stored_rows(hub, remembering).values()) == 3


def test_the_lines_are_stored_whole_again_after_some_changes(
    hub: Hub, district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remembered, "MAX_DEPTH", 2)
    monkeypatch.setattr(remembered, "MAX_DRIFT", 1.0)  # the tiny district's changes are large
    rng = random.Random(7)
    cloud = new_cloud(hub, account_of(hub))
    collect(hub, cloud, district)
    assert set(stored_rows(hub, cloud)["users"]) == {0}
    first = mutate(district, tmp_path / "first", rng)
    depths = []
    for _ in range(4):
        done = collect(hub, cloud, first)
        assert done.state == "success"
        depths.append(stored_rows(hub, cloud)["enrollments"])
    assert depths == [[0, 1], [0, 1, 2], [0], [0, 1]]
    whole = new_cloud(hub, account_of(hub))
    collect(hub, whole, first)
    assert stored_lines(hub, cloud) == stored_lines(hub, whole)


def test_a_file_written_in_another_order_is_skipped_and_stored_whole(
    hub: Hub, district: Path, tmp_path: Path
) -> None:
    """Every line moved: each is still found (and skipped), but a change of a stretch per line
    would cost every load more than the file whole."""
    cloud = new_cloud(hub, account_of(hub))
    collect(hub, cloud, district)
    shuffled = tmp_path / "shuffled"
    shutil.copytree(district, shuffled)
    enrollments = Table.read(shuffled / "enrollments.csv")
    random.Random(11).shuffle(enrollments.rows)
    enrollments.write(shuffled / "enrollments.csv")
    done = collect(hub, cloud, shuffled)
    assert skipped(done) == line_count(district)
    assert (done.objects_added, done.objects_updated, done.objects_deleted) == (0, 0, 0)
    rows = stored_rows(hub, cloud)
    assert rows["enrollments"] == [0]
    assert rows["users"] == [0, 1]  # in order: only a change
    whole = new_cloud(hub, account_of(hub))
    collect(hub, whole, shuffled)
    assert stored_lines(hub, cloud) == stored_lines(hub, whole)


def test_a_broken_chain_of_changes_is_not_used(
    hub: Hub, district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remembered, "MAX_DRIFT", 1.0)
    cloud = new_cloud(hub, account_of(hub))
    collect(hub, cloud, district)
    collect(hub, cloud, mutate(district, tmp_path / "first", random.Random(3)))
    assert stored_rows(hub, cloud)["enrollments"] == [0, 1]
    with write_transaction(hub.sessions) as session:
        session.execute(
            delete(RememberedLines).where(
                RememberedLines.cloud_id == cloud,
                RememberedLines.file == "enrollments",
                RememberedLines.seq == 0,
            )
        )
    assert "enrollments" not in stored_lines(hub, cloud)
    again = collect(hub, cloud, district)
    assert again.state == "success"
    assert stored_rows(hub, cloud)["enrollments"] == [0]  # read whole and stored whole


def line_count(bundle: Path, names: tuple[str, ...] = SKIPPABLE) -> int:
    return sum(len(Table.read(bundle / f"{n}.csv").rows) for n in names)


def test_an_unchanged_bundle_is_not_parsed_again(
    hub: Hub, district: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = new_cloud(hub, account_of(hub))
    first = collect(hub, cloud, district)
    assert skipped(first) == 0
    again = collect(hub, cloud, district)
    assert skipped(again) == line_count(district)
    assert again.rows_read == first.rows_read
    assert (again.objects_added, again.objects_updated, again.objects_deleted) == (0, 0, 0)


def test_the_remembered_lines_load_in_a_thread_while_the_files_are_split(
    database: Database, own_hub: Hub, district: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader splits every line file before it compares the first one, so that the load
    (on PostgreSQL, in a thread: most of it is waiting for the server) hides behind the
    splitting. Sessions of their own connections: the tests' shared one takes one thread."""
    hub = own_hub
    cloud = new_cloud(hub, account_of(hub))
    collect(hub, cloud, district)
    events: list[tuple[str, str]] = []

    def noted(step: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            events.append((step, threading.current_thread().name))
            return call(*args)

        return run

    monkeypatch.setattr(remembered, "load", noted("load", remembered.load))
    # patched where the skipping module uses them (it imports them from .lines)
    monkeypatch.setattr(skipping, "split_file", noted("split", split_file))
    monkeypatch.setattr(skipping, "compare", noted("compare", compare))
    again = collect(hub, cloud, district)
    assert skipped(again) == line_count(district)
    steps = [step for step, _ in events]
    assert steps.count("load") == 1
    here = threading.current_thread().name
    assert (dict(events)["load"] != here) == (database.backend == "postgresql")
    first_compare = steps.index("compare")
    assert steps[:first_compare].count("split") == steps.count("split") == len(SKIPPABLE) + 2


Edit = Callable[[Path], None]


def _quoted_newline(bundle: Path) -> None:
    users = Table.read(bundle / "users.csv")
    users.edit(0, givenName="Two\nlines")
    users.write(bundle / "users.csv")


def _new_column(bundle: Path) -> None:
    users = Table.read(bundle / "users.csv")
    users.header.append("metadata.extra")
    users.rows = [row + "," for row in users.rows]
    users.write(bundle / "users.csv")


def _new_course(bundle: Path) -> None:
    courses = Table.read(bundle / "courses.csv")
    values = courses.fields(courses.rows[0])
    values.update(sourcedId="a-new-course", title="A new course")
    courses.rows.append(courses.line(values))
    courses.write(bundle / "courses.csv")


def _new_version(bundle: Path) -> None:
    manifest = (bundle / "manifest.csv").read_text(encoding="utf-8")
    (bundle / "manifest.csv").write_text(
        manifest.replace("oneroster.version,1.1", "oneroster.version,1.2"), encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("edit", "read_whole"),
    [
        (_quoted_newline, ("users", "demographics")),  # users is not line-safe
        (_new_column, ("users", "demographics")),  # another header: another context
        (_new_course, ("classes",)),  # a class's year may come from a course
        (_new_version, SKIPPABLE),  # every file is read another way
    ],
    ids=["quoted-newline", "new-column", "new-course", "new-version"],
)
def test_a_file_not_read_as_last_time_is_read_whole(
    hub: Hub, district: Path, tmp_path: Path, edit: Edit, read_whole: tuple[str, ...]
) -> None:
    """Users are compared only with their demographics: a users file read whole takes its
    demographics along."""
    night = tmp_path / "night"
    shutil.copytree(district, night)
    edit(night)
    account = account_of(hub)
    remembering, reading = new_cloud(hub, account), new_cloud(hub, account)
    collect(hub, remembering, district)
    fast = collect(hub, remembering, night)
    slow = collect(hub, reading, night)
    whole = line_count(night, read_whole)
    assert skipped(fast) == line_count(night) - whole
    assert outcome(hub, fast)["errors"] == outcome(hub, slow)["errors"]
    assert snapshot(hub, remembering) == snapshot(hub, reading)


def test_a_collection_applied_while_this_one_read_makes_it_read_again(
    hub: Hub, district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its skipped lines were decided on remembered lines another collection has replaced."""
    night = mutate(district, tmp_path / "night", random.Random(99))
    other = mutate(district, tmp_path / "other", random.Random(7))
    account = account_of(hub)
    cloud, alone = new_cloud(hub, account), new_cloud(hub, account)
    collect(hub, cloud, district)
    read = ingest._read
    calls: list[bool] = []

    def read_then_another_applies(hub_: Hub, cloud_id: uuid.UUID, source: str, **kw: Any) -> Any:
        done = read(hub_, cloud_id, source, **kw)
        calls.append(kw["remembering"])
        if len(calls) == 1:
            monkeypatch.setattr(ingest, "_read", read)
            collect(hub, cloud, other)
            monkeypatch.setattr(ingest, "_read", read_then_another_applies)
        return done

    monkeypatch.setattr(ingest, "_read", read_then_another_applies)
    done = collect(hub, cloud, night)
    assert calls == [True, False]
    assert skipped(done) == 0
    for bundle in (district, other):  # the same history (rejected rows are kept)
        collect(hub, alone, bundle)
    forget(hub, alone)
    collect(hub, alone, night)
    assert snapshot(hub, cloud) == snapshot(hub, alone)


def test_a_file_too_large_to_hold_is_streamed_and_not_remembered(
    hub: Hub, district: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the cap the enrollments are read as a stream, as before lines were remembered."""
    from interop_hub.ingest.oneroster import skipping

    cap = (district / "enrollments.csv").stat().st_size - 1
    assert (district / "users.csv").stat().st_size <= cap
    monkeypatch.setattr(skipping, "REMEMBERED_FILE_BYTES", cap)
    account = account_of(hub)
    remembering, reading = new_cloud(hub, account), new_cloud(hub, account)
    collect(hub, remembering, district)
    with transaction(hub.sessions) as session:
        files = set(
            session.scalars(
                select(RememberedLines.file).where(RememberedLines.cloud_id == remembering)
            )
        )
    assert files == {"academicSessions", "courses", "classes", "users", "demographics"}
    again = collect(hub, remembering, district)
    assert skipped(again) == line_count(district, ("classes", "users", "demographics"))
    collect(hub, reading, district)
    forget(hub, reading)
    assert outcome(hub, again) == outcome(hub, collect(hub, reading, district))
    assert snapshot(hub, remembering) == snapshot(hub, reading)
