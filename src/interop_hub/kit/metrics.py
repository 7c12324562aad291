"""The hub's Prometheus metrics, and their exposition.

Each process counts its own (a scrape of one API process shows that process's requests).
When several processes run on one host, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
before they start: prometheus_client then keeps the values in files there and any process's
``/metrics`` reports the sum of all of them.

Task counters move only when the transaction that queued, leased or acknowledged the tasks
commits: a rolled-back request counts nothing.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.orm import Session

from interop_hub.kit.crypto import same

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_DURATION = Histogram(
    "interop_hub_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ("route", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TASKS_QUEUED = Counter(
    "interop_hub_tasks_queued", "Tasks written to a tenant's queue.", ("tenant",)
)
TASKS_DELIVERED = Counter(
    "interop_hub_tasks_delivered",
    "Tasks leased to a tenant's driver by GET /tasks (a redelivery counts again).",
    ("tenant",),
)
TASKS_ACKNOWLEDGED = Counter(
    "interop_hub_tasks_acknowledged",
    "Task acknowledgements applied, by status (success, error, retry, reauthenticate).",
    ("tenant", "status"),
)
INGESTION_DURATION = Histogram(
    "interop_hub_ingestion_duration_seconds",
    "Time to run an ingestion, by outcome (success, failed, scheduled: held as a mass change).",
    ("outcome",),
    buckets=(0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
INGESTION_ROW_ERRORS = Counter(
    "interop_hub_ingestion_row_errors",
    "Rows an ingestion rejected (each recorded with its file, line and reason), by outcome.",
    ("outcome",),
)

_PENDING = "interop_hub.metrics.pending"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_DURATION.labels(route, method, str(status)).observe(seconds)


def tasks_queued(session: Session, tenant_id: uuid.UUID, count: int) -> None:
    _on_commit(session, TASKS_QUEUED, {(str(tenant_id),): count})


def tasks_delivered(session: Session, tenant_ids: Iterable[uuid.UUID]) -> None:
    _on_commit(session, TASKS_DELIVERED, Tally((str(t),) for t in tenant_ids))


def tasks_acknowledged(session: Session, acks: Iterable[tuple[uuid.UUID, str]]) -> None:
    """``acks``: (tenant id, status) of each acknowledgement applied."""
    _on_commit(session, TASKS_ACKNOWLEDGED, Tally((str(t), status) for t, status in acks))


def ingestion_finished(outcome: str, seconds: float, row_errors: int) -> None:
    INGESTION_DURATION.labels(outcome).observe(seconds)
    INGESTION_ROW_ERRORS.labels(outcome).inc(row_errors)


def _on_commit(session: Session, counter: Counter, amounts: Mapping[tuple[str, ...], int]) -> None:
    """Add ``amounts`` (by label values) to ``counter`` when the session's transaction commits."""
    pending: list[tuple[Counter, tuple[str, ...], int]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _flush)
        event.listen(session, "after_rollback", _discard)
    pending.extend((counter, labels, n) for labels, n in amounts.items() if n)


def _flush(session: Session) -> None:
    pending = session.info.get(_PENDING, [])
    for counter, labels, n in pending:
        counter.labels(*labels).inc(n)
    pending.clear()


def _discard(session: Session) -> None:
    session.info.get(_PENDING, []).clear()


def is_scrape_token(authorization: str | None, token: SecretStr | None) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <INTEROP_HUB_METRICS_TOKEN>`` (never,
    when no token is configured)."""
    expected = token.get_secret_value() if token is not None else ""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and same(value.strip(), expected)


def exposition() -> bytes:
    """The metrics in Prometheus's text format: this process's, or with
    ``PROMETHEUS_MULTIPROC_DIR`` set, every process's on this host."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
