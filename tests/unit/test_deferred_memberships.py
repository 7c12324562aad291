"""``read_bundle(..., defer_memberships=True)``: enrollments.csv is read when the memberships
are first used, and the bundle then is exactly the one read at once, row errors, counts and
remembered lines included."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_hub.ingest.oneroster import BundleError, read_bundle
from interop_hub.ingest.records import Bundle
from interop_hub.kit.ondemand import OnDemand
from tests.unit.test_oneroster import district, write, zip_folder


def troubled_district() -> dict[str, list[dict[str, str]]]:
    """The small district with a bad row in every file read after enrollments.csv and around
    it: errors from enrollments interleave with others only once sorted."""
    files = district()
    files["users"].append({"sourcedId": "u9", "role": "wizard", "givenName": "X"})
    enrollment = files["enrollments"][0]
    files["enrollments"] += [
        {**enrollment, "sourcedId": "e3", "userSourcedId": "nobody"},
        {**enrollment, "sourcedId": "e4", "beginDate": "2024-13-01"},
        {**enrollment, "sourcedId": "e1"},  # a duplicate
        {**enrollment, "sourcedId": "e5", "userSourcedId": "u2", "role": "teacher"},
    ]
    files["demographics"].append({"sourcedId": "ghost", "sex": "male"})
    files["categories"].append({"sourcedId": "", "title": "No id"})
    return files


def same_bundles(deferred: Bundle, at_once: Bundle) -> None:
    assert isinstance(at_once.memberships, list)
    assert list(deferred.memberships) == at_once.memberships
    assert deferred.objects == at_once.objects
    assert deferred.errors == at_once.errors
    assert deferred.rows_read == at_once.rows_read
    assert deferred.remember == at_once.remember
    assert deferred.skipped == at_once.skipped
    assert deferred.deleted_memberships == at_once.deleted_memberships


@pytest.mark.parametrize("zipped", [False, True])
def test_deferred_memberships_are_read_on_use_into_the_same_bundle(
    tmp_path: Path, zipped: bool
) -> None:
    folder = write(tmp_path / "bundle", troubled_district())
    path = zip_folder(folder, tmp_path / "bundle.zip") if zipped else folder
    at_once = read_bundle(path)
    deferred = read_bundle(path, defer_memberships=True)  # the zip is closed by now
    members = deferred.memberships
    assert isinstance(members, OnDemand)
    assert not members.complete
    # the other files are read: their errors are there, enrollments' not yet
    files = {e.file for e in deferred.errors}
    assert {"users.csv", "demographics.csv", "categories.csv"} <= files
    assert "enrollments.csv" not in files
    assert "enrollments" not in deferred.remember
    assert [m.source_id for m in members] == ["e1", "e2", "e5"]  # the first use reads them
    assert members.complete
    same_bundles(deferred, at_once)
    assert [e.source_id for e in deferred.errors if e.file == "enrollments.csv"] == [
        "e3",
        "e4",
        "e1",
    ]


def test_read_all_completes_the_bundle_without_a_pass_over_the_memberships(
    tmp_path: Path,
) -> None:
    folder = write(tmp_path / "bundle", troubled_district())
    deferred = read_bundle(folder, defer_memberships=True)
    deferred.read_all()
    assert isinstance(deferred.memberships, OnDemand)
    assert deferred.memberships.complete
    same_bundles(deferred, read_bundle(folder))


def test_an_enrollments_file_that_is_not_line_safe_is_read_at_once(tmp_path: Path) -> None:
    files = district()
    files["enrollments"][0]["metadata.note"] = "two\nlines"  # a quoted newline
    folder = write(tmp_path / "bundle", files)
    bundle = read_bundle(folder, defer_memberships=True)
    assert isinstance(bundle.memberships, list)
    assert [m.source_id for m in bundle.memberships] == ["e1", "e2"]


def test_a_delta_enrollments_file_is_read_at_once(tmp_path: Path) -> None:
    files = district()
    stamp = {"status": "active", "dateLastModified": "2024-09-01T00:00:00Z"}
    files["enrollments"] = [{**row, **stamp} for row in files["enrollments"]]
    folder = write(tmp_path / "bundle", files, modes={"enrollments": "delta"})
    bundle = read_bundle(folder, defer_memberships=True)
    assert isinstance(bundle.memberships, list)
    assert [m.source_id for m in bundle.memberships] == ["e1", "e2"]


def test_a_deferred_file_missing_a_required_column_fails_the_read_itself(tmp_path: Path) -> None:
    files = district()
    for row in files["enrollments"]:
        del row["userSourcedId"]
    folder = write(tmp_path / "bundle", files)
    (folder / "enrollments.csv").write_text(
        (folder / "enrollments.csv").read_text().replace("userSourcedId,", ""), encoding="utf-8"
    )
    with pytest.raises(BundleError, match=r"enrollments\.csv: required column 'userSourcedId'"):
        read_bundle(folder, defer_memberships=True)
