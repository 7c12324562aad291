"""The memberships benchmark (``bench/bench_memberships.py``) at a tiny size, to keep it working.

Both of Python's encodings must give the same rows (the script refuses otherwise), and both of
the server's tables must end with every membership; the unindexed copy gets as many indexes as
the migrated table has. Timings are not asserted. PostgreSQL only: skipped locally without it,
failed under ``CI=true``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import bench_collection, bench_memberships

from tests.test_bench_collection import admin_url  # noqa: F401 - the PostgreSQL fixture


def test_python_and_the_server_alone_write_every_membership(
    admin_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    bundle, _ = bench_collection.prepare_bundles(tmp_path, 60, 5)
    enrollments = bench_collection.file_rows(bundle)["enrollments"]
    stages = bench_memberships.python_stages(bundle)
    assert stages.rows == enrollments > 0
    assert list(stages.seconds)[:3] == [
        "reading enrollments.csv into records",
        "their digests",
        "encoding them from the records",
    ]
    alone = bench_memberships.server_alone(admin_url, stages.payload, stages.rows)
    assert alone.rows == enrollments
    assert alone.indexes == 5  # the primary key and four indexes (repository.models)
    assert set(alone.seconds) == {
        "COPY, as migrated",
        "COPY, no indexes",
        "then building the indexes",
    }


def test_the_script_prints_each_half(
    admin_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = bench_memberships.main(
        ["--students", "40", "--seed", "3", "--workdir", str(tmp_path), "--repeat", "1",
         "--postgres-url", admin_url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "the server alone" in out
    assert "COPY, no indexes" in out
