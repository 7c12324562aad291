"""The write-bound benchmark (``bench/bench_write_bound.py``) at a tiny size, to keep it working.

Both layouts must write every object, link, membership and change-set row of the district, and
the "indexes after" layout must end with the same indexes as the migrated tables. Timings are
not asserted. PostgreSQL only (the script measures PostgreSQL): skipped locally without it,
failed under ``CI=true``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import bench_collection, bench_write_bound

from tests.test_bench_collection import admin_url  # noqa: F401 - the PostgreSQL fixture

STUDENTS = 60
SEED = 5


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return bench_collection.prepare_bundles(tmp_path_factory.mktemp("bound"), STUDENTS, SEED)


def test_both_layouts_write_every_row_and_the_same_indexes(
    admin_url: str,  # noqa: F811 - the fixture
    bundles: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    bundle, nightly = bundles
    rows = bench_collection.file_rows(bundle)
    added = bench_collection.expected_objects(rows)  # objects and memberships
    objects = added - rows["enrollments"]
    results = [
        bench_write_bound.measure_layout(
            admin_url,
            bundle,
            tmp_path,
            indexes_after=after,
            keep_foreign_keys=False,
            nightly=None if after else nightly,
        )
        for after in (False, True)
    ]
    for result in results:
        assert result.rows["repo_objects"] == objects
        assert result.rows["repo_memberships"] == rows["enrollments"]
        assert result.rows["repo_changes"] == added
        # every class names a course, a school and at least one term; every user an org
        assert result.rows["repo_links"] >= 3 * rows["classes"] + rows["users"]
        assert set(result.steps) >= {"stage (COPY)", "objects", "memberships", "change set"}
    as_migrated, indexes_after = results
    assert indexes_after.rows == as_migrated.rows
    assert indexes_after.indexes == as_migrated.indexes > 0
    assert "building indexes" in indexes_after.steps
    # the nightly (measured after the first layout) leaves the nightly bundle's rows, having
    # changed and deleted some
    assert as_migrated.nightly is not None
    assert indexes_after.nightly is None
    night = as_migrated.nightly
    assert night.stored == bench_collection.expected_objects(bench_collection.file_rows(nightly))
    assert night.changed["added or updated"] > 0
    assert night.changed["deleted"] > 0


def test_python_reading_splits_every_record_of_every_file(bundles: tuple[Path, Path]) -> None:
    _, records = bench_write_bound.python_read(bundles[0])
    assert records == sum(bench_collection.file_rows(bundles[0]).values())
