"""The memberships' loader process runs without SQLAlchemy (:mod:`interop_hub.kit.pgcopy`):
importing it was most of that process's start, on a core the collection needs."""

from __future__ import annotations

import subprocess
import sys


def test_the_loader_process_imports_no_sqlalchemy() -> None:
    code = (
        "import sys, interop_hub.ingest.loader; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'psycopg'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['psycopg']"
