"""The memberships' loader process runs without SQLAlchemy (:mod:`interop_hub.kit.pgcopy`):
importing it was most of that process's start, on a core the collection needs. And only that
process imports pyarrow (:mod:`interop_hub.ingest.columnar`): not the API, the worker or a
collection."""

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


def test_only_the_loader_imports_pyarrow() -> None:
    code = (
        "import sys, interop_hub.app, interop_hub.worker, interop_hub.ingest.service; "
        "print('pyarrow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
