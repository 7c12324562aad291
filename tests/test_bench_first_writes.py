"""The first-writes benchmark (``bench/bench_first_writes.py``) at a tiny size, to keep it
working.

Both of Python's encodings of the memberships must give the same rows (the script refuses
otherwise), and for each bulk table both of the server's copies must end with every row, the
unindexed copy with as many indexes as the migrated table has. Timings are not asserted.
PostgreSQL only: skipped locally without it, failed under ``CI=true``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import bench_collection, bench_first_writes

from tests.test_bench_collection import admin_url  # noqa: F401 - the PostgreSQL fixture


def test_python_and_the_server_alone_write_every_row(
    admin_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    bundle, _ = bench_collection.prepare_bundles(tmp_path, 60, 5)
    rows = bench_collection.file_rows(bundle)
    objects = bench_collection.expected_objects(rows) - rows["enrollments"]
    stages = bench_first_writes.python_stages(bundle)
    counts = {encoded.table: encoded.rows for encoded in stages.tables}
    # every class names a course, a school and at least one term; every user an org
    assert counts["repo_links"] >= 3 * rows["classes"] + rows["users"]
    assert counts == {
        "repo_objects": objects,
        "repo_links": counts["repo_links"],
        "repo_memberships": rows["enrollments"],
    }
    assert "memberships: encoding from the records" in stages.seconds
    alone = bench_first_writes.server_alone(admin_url, stages.tables, stages.cloud_id)
    assert {(a.table, a.rows, a.indexes) for a in alone} == {
        ("repo_objects", objects, 3),  # the key, the unique source id, the listing
        ("repo_links", counts["repo_links"], 2),  # the key, the reverse
        ("repo_memberships", rows["enrollments"], 4),  # the key and three indexes
    }
    for result in alone:
        assert set(result.seconds) == {
            "COPY, as migrated",
            "COPY, no indexes",
            "then building the indexes",
        }


def test_the_script_prints_each_half(
    admin_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = bench_first_writes.main(
        ["--students", "40", "--seed", "3", "--workdir", str(tmp_path), "--repeat", "1",
         "--postgres-url", admin_url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "the server alone" in out
    assert "repo_links (2 indexes): COPY, no indexes" in out
