"""The app serves with its startup heap frozen (``interop_hub.app._heap_frozen_while_serving``)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from interop_hub.app import create_app
from interop_hub.runtime import Hub


def test_what_exists_at_startup_is_frozen_while_serving_and_handed_back_after(hub: Hub) -> None:
    app = create_app(hub)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        # the app's objects are out of the collector's reach while it serves...
        assert gc.get_freeze_count() > 0
        garbage: list[list[object]] = [[]]
        garbage[0].append(garbage)  # ...while what requests leave behind is still collected
        del garbage
        assert gc.collect() >= 2
    assert gc.get_freeze_count() == 0
