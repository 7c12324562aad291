"""Issue 6: ``interop-hub quickstart --once`` in a fresh data directory migrates the embedded
database, collects a demo district, installs the demo integration, mirrors its roster with the
example driver and prints what happened; a second run reuses all of it and exits 0 too."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

STUDENTS = 40


def quickstart(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEROP_HUB_")}
    env |= {"INTEROP_HUB_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "interop_hub", "quickstart", "--once", "--students", str(STUDENTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def count(output: str, topic: str) -> int:
    found = re.search(rf"│ {topic} +│ +(\d+) │", output)
    assert found, output
    return int(found.group(1))


def test_quickstart_once_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = quickstart(data_dir)
    assert count(first, "Student") == STUDENTS
    assert count(first, "StudentSectionEnrollment") > 0
    delivered = re.search(r"tasks delivered: (\d+); acknowledged: (\d+)", first)
    assert delivered, first
    assert int(delivered.group(1)) == int(delivered.group(2)) > STUDENTS
    mirror = data_dir / "demo" / "mirror.db"
    assert str(mirror) in first.replace("\n", "")
    for shown in ("/docs", "/v2/interop/data/rostering/students", "client secret:", "ihk_"):
        assert shown in first
    assert "interop-hub serve" in first
    assert "examples/roster_mirror.py" in first
    with sqlite3.connect(mirror) as db:
        (students,) = db.execute("SELECT count(*) FROM objects WHERE type = 'Student'").fetchone()
    assert students == STUDENTS

    # Again: the same demo (nothing changed, so nothing new to deliver), the same mirror.
    second = quickstart(data_dir)
    assert count(second, "Student") == STUDENTS
    assert "tasks delivered: 0; acknowledged: 0" in second
    tenant = re.search(r"demo tenant: +(\S+)", first)
    assert tenant
    assert tenant.group(1) in second
