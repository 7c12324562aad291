"""The memberships' loader process runs without SQLAlchemy (:mod:`interop_hub.kit.pgcopy`):
importing it was most of that process's start, on a core the collection needs. And only that
process imports pyarrow (:mod:`interop_hub.ingest.columnar`): not the API, the worker or a
collection."""

from __future__ import annotations

import subprocess
import sys


def _printed(imports: str, expression: str) -> str:
    """What a new interpreter prints of ``expression`` after importing ``imports``."""
    code = f"import sys, {imports}; print({expression})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_loader_process_imports_no_sqlalchemy() -> None:
    found = "sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'psycopg'})"
    assert _printed("interop_hub.ingest.loader", found) == "['psycopg']"


def test_only_the_loader_imports_pyarrow() -> None:
    imports = "interop_hub.app, interop_hub.worker, interop_hub.ingest.service"
    assert _printed(imports, "'pyarrow' in sys.modules") == "False"
