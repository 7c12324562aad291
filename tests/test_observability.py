"""Logs and metrics, on SQLite and PostgreSQL: request ids, JSON access lines that never carry
credentials, ``/metrics`` and who may read it, and the counters of requests, tasks and
ingestions moving by exactly what the hub did."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from interop_hub.kit import logs, metrics
from interop_hub.kit.db import transaction
from interop_hub.kit.logs import JsonFormatter, TextFormatter, configure_logging, make_handler
from interop_hub.kit.settings import Settings
from interop_hub.observability.exporter import start_exporter
from interop_hub.runtime import Hub
from interop_hub.tasks import queue
from interop_hub.tasks.models import Task
from tests.factories import (
    World,
    basic,
    bearer,
    data,
    error,
    install,
    make_world,
    run_collection,
    token,
)
from tests.test_cli import Cli, text_of
from tests.test_collection_property import _minimal_bundle, write_bundle
from tests.test_tasks_api import TASKS, Env, event

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "scrape-token-0123456789abcdef"


def scrape(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, frozenset[Any]], float]:
    """The samples of /metrics, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the hub's JSON handler writes while the test runs (INFO and up)."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = make_handler(stream, "json")
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


# --- request ids and access logs ----------------------------------------------------------------


def test_request_id_round_trip(client: TestClient) -> None:
    given = client.get("/health", headers={"X-Request-ID": "lb-7f3a.2:x"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.2:x"
    made = client.get("/health")
    assert len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != client.get("/health").headers["X-Request-ID"]
    for insane in ("a b", "x" * 200, "<script>", '"quoted"', "-leading-dash"):
        replaced = client.get("/health", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert replaced != insane
        assert len(replaced) == 32
    # Errors carry it too.
    missing = client.get("/v2/interop/clouds", headers={"X-Request-ID": "req-401"})
    assert missing.status_code == 401
    assert missing.headers["X-Request-ID"] == "req-401"


def test_access_line_per_request_without_credentials(
    client: TestClient, hub: Hub, world: World, log_lines: io.StringIO
) -> None:
    tenant = install(client, world)
    secret = tenant["client_secret"]
    access_token = token(client, tenant["client_id"], secret)
    log_lines.truncate(0)
    log_lines.seek(0)

    headers = {**world.district.headers, "X-Request-ID": "req-district-1"}
    client.get(f"/v2/interop/clouds/{world.cloud_id}?client_secret=hunter2", headers=headers)
    client.get("/v2/interop/data/tasks", headers={**bearer(access_token), "X-Request-ID": "req-2"})
    client.get("/v2/interop/clouds", headers=basic("ihk_nobody.wrong"))

    lines = records(log_lines)
    access = [r for r in lines if r["logger"] == "interop_hub.access"]
    assert len(access) == 3, lines
    first, second, third = access
    assert first["request_id"] == "req-district-1"
    assert first["method"] == "GET"
    assert first["path"] == f"/v2/interop/clouds/{world.cloud_id}"  # no query string
    assert first["route"] == "/v2/interop/clouds/{id}"
    assert first["status"] == 200
    assert first["duration_ms"] >= 0
    assert first["principal"] == f"account:{world.district.id}"
    assert first["level"] == "INFO"
    assert second["request_id"] == "req-2"
    assert second["principal"] == f"actor:{tenant['actor_id']}"
    assert third["status"] == 401
    assert third["principal"] is None
    assert len(third["request_id"]) == 32
    # Everything the server side wrote (httpx's lines are the test client's own).
    written = "\n".join(orjson.dumps(r).decode() for r in lines if r["logger"] != "httpx")
    for leaked in (
        "hunter2",
        access_token,
        secret,
        world.district.api_key,
        world.district.headers["Authorization"],
        "Basic ",
        "Bearer ",
        "uthorization",
        "ihk_nobody",
    ):
        assert leaked not in written


def test_every_record_of_a_request_carries_its_id(
    client: TestClient, log_lines: io.StringIO
) -> None:
    def talks() -> dict[str, str]:
        logging.getLogger("interop_hub.test").warning("inside the route")
        return {"ok": "yes"}

    def breaks() -> None:
        raise RuntimeError("boom")

    client.app.add_api_route("/test-talks", talks)  # type: ignore[attr-defined]
    client.app.add_api_route("/test-breaks", breaks)  # type: ignore[attr-defined]
    assert client.get("/test-talks", headers={"X-Request-ID": "req-talk"}).status_code == 200
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        broken = quiet.get("/test-breaks", headers={"X-Request-ID": "req-boom"})
    assert broken.status_code == 500
    assert broken.headers["X-Request-ID"] == "req-boom"
    assert broken.json()["error"]["status"] == 500

    lines = records(log_lines)
    inside = next(r for r in lines if r["message"] == "inside the route")
    assert inside["request_id"] == "req-talk"
    assert inside["level"] == "WARNING"
    unhandled = next(r for r in lines if r["message"] == "unhandled error")
    assert unhandled["request_id"] == "req-boom"
    assert "RuntimeError: boom" in unhandled["exc"]
    access = next(r for r in lines if r["logger"] == "interop_hub.access" and r["status"] == 500)
    assert access["request_id"] == "req-boom"
    assert access["level"] == "WARNING"
    # Outside a request, no request id.
    logging.getLogger("interop_hub.test").warning("outside")
    assert "request_id" not in records(log_lines)[-1]


# --- the logging setup ----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_formats_text_on_a_terminal_and_json_otherwise() -> None:
    assert isinstance(make_handler(Terminal()).formatter, TextFormatter)
    assert isinstance(make_handler(io.StringIO()).formatter, JsonFormatter)
    assert isinstance(make_handler(Terminal(), "json").formatter, JsonFormatter)
    assert isinstance(make_handler(io.StringIO(), "text").formatter, TextFormatter)

    stream = Terminal()
    handler = make_handler(stream)
    record = logging.LogRecord(
        "interop_hub.x", logging.INFO, __file__, 1, "hello %s", ("you",), None
    )
    token = logs.request_id_var.set("req-text")
    try:
        handler.handle(record)
    finally:
        logs.request_id_var.reset(token)
    assert stream.getvalue().rstrip().endswith("INFO    interop_hub.x [req-text] hello you")


def test_configure_logging_installs_one_handler_and_silences_uvicorn_access() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    access = logging.getLogger("uvicorn.access")
    saved_access = (access.handlers[:], access.propagate)
    try:
        first = configure_logging("DEBUG", "json", io.StringIO())
        second = configure_logging("WARNING", "text", io.StringIO())
        assert first not in root.handlers
        assert second in root.handlers
        assert [h for h in root.handlers if h.get_name() == "interop-hub"] == [second]
        assert root.level == logging.WARNING
        assert access.propagate is False
        assert access.handlers == []
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        access.handlers[:], access.propagate = saved_access


def test_ensure_logging_only_without_a_handler() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.ensure_logging("INFO", "json")  # pytest's handlers are installed: nothing changes
        assert root.handlers == saved[0]
        root.handlers.clear()
        logs.ensure_logging("ERROR", "json")
        assert [h.get_name() for h in root.handlers] == ["interop-hub"]
        assert root.level == logging.ERROR
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_log_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_HUB_LOG_LEVEL", "debug")
    monkeypatch.setenv("INTEROP_HUB_LOG_FORMAT", "JSON")
    settings = Settings()
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    monkeypatch.setenv("INTEROP_HUB_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("INTEROP_HUB_LOG_LEVEL")
    monkeypatch.delenv("INTEROP_HUB_LOG_FORMAT")
    assert (Settings().log_level, Settings().log_format) == ("INFO", "auto")


# --- who may read /metrics ------------------------------------------------------------------


def test_metrics_are_for_operators_or_the_metrics_token(
    client: TestClient, hub: Hub, world: World
) -> None:
    error(client.get("/metrics"), 401)
    error(client.get("/metrics", headers=world.vendor.headers), 403)
    error(client.get("/metrics", headers=world.district.headers), 403)
    tenant = install(client, world)
    actor = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    error(client.get("/metrics", headers=actor), 403)
    scrape(client, world.operator.headers)
    # No token configured: a bearer token that is not a hub token is refused.
    error(client.get("/metrics", headers=bearer(METRICS_TOKEN)), 401)

    hub.settings = hub.settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    samples = scrape(client, bearer(METRICS_TOKEN))
    assert any(name.startswith("interop_hub_http_request_duration_seconds") for name, _ in samples)
    error(client.get("/metrics", headers=bearer(METRICS_TOKEN + "x")), 401)
    error(client.get("/metrics", headers=basic(METRICS_TOKEN)), 401)
    scrape(client, world.operator.headers)  # operators still may
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


# --- what the counters say ------------------------------------------------------------------


def test_request_latency_by_route_template(client: TestClient, world: World) -> None:
    operator = world.operator.headers
    route = "/v2/interop/clouds/{id}"
    before = scrape(client, operator)
    data(client.get(f"/v2/interop/clouds/{world.cloud_id}", headers=world.district.headers))
    error(client.get(f"/v2/interop/clouds/{uuid.uuid4()}", headers=world.district.headers), 404)
    error(client.get(f"/v2/interop/clouds/{uuid.uuid4()}", headers=world.district.headers), 404)
    error(client.get(f"/nowhere/{uuid.uuid4()}"), 404)
    after = scrape(client, operator)

    count = "interop_hub_http_request_duration_seconds_count"

    def moved(**labels: str) -> float:
        return value(after, count, **labels) - value(before, count, **labels)

    assert moved(route=route, method="GET", status="200") == 1
    assert moved(route=route, method="GET", status="404") == 2
    assert moved(route="<unmatched>", method="GET", status="404") == 1
    assert moved(route="/metrics", method="GET", status="200") == 1  # the first scrape
    routes = {dict(labels).get("route") for _, labels in after}
    assert world.cloud_id not in str(routes)
    assert not any(r and r.startswith("/nowhere") for r in routes)


@pytest.fixture
def tasks_env(client: TestClient, hub: Hub, world: World, tmp_path: Path) -> Env:
    tenant = install(client, world)
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    return Env(client, hub, world, tenant, headers, tmp_path)


def test_task_counters(tasks_env: Env) -> None:
    env, hub = tasks_env, tasks_env.hub
    tenant = env.tenant["id"]
    operator = env.world.operator.headers
    queued, delivered = "interop_hub_tasks_queued_total", "interop_hub_tasks_delivered_total"
    acked = "interop_hub_tasks_acknowledged_total"

    def in_queue() -> int:
        with transaction(hub.sessions) as session:
            found = session.scalar(
                select(func.count()).select_from(Task).where(Task.tenant_id == uuid.UUID(tenant))
            )
        return int(found or 0)

    assert value(scrape(env.client, operator), queued, tenant=tenant) == 1  # TENANT_INSTALLED
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{tenant}/activate")  # TENANT_ACTIVATED and the initial sync
    samples = scrape(env.client, operator)
    waiting = in_queue()
    assert waiting > 4
    assert value(samples, queued, tenant=tenant) == waiting

    # A transaction that rolls back counts nothing.
    with hub.sessions() as session:
        queue.lifecycle(session, uuid.UUID(tenant), "TENANT_SUSPENDED", hub.now())
        session.rollback()
        session.commit()  # nothing is left to count
    assert value(scrape(env.client, operator), queued, tenant=tenant) == waiting

    batch = env.poll(page_size=3)
    assert len(batch) == 3
    env.ack(batch[:2])
    env.ack(batch[2:], status="retry")
    samples = scrape(env.client, operator)
    assert value(samples, delivered, tenant=tenant) == 3
    assert value(samples, acked, tenant=tenant, status="success") == 2
    assert value(samples, acked, tenant=tenant, status="retry") == 1
    assert value(samples, acked, tenant=tenant, status="error") == 0

    # A refused ack (not an outstanding task) counts nothing; the admin queue's acks count.
    response = env.client.put(
        f"{TASKS}/ack", json=[{"task_id": event(batch[0])["id"]}], headers=env.headers
    )
    assert response.status_code == 200
    rest = data(env.client.get(f"{TASKS}/admin", headers=env.headers))
    admin_ack = [{"task_id": event(rest[-1])["id"], "status": "error"}]
    data(env.client.put(f"{TASKS}/admin/ack", json=admin_ack, headers=env.headers))
    samples = scrape(env.client, operator)
    assert value(samples, acked, tenant=tenant, status="success") == 2
    assert value(samples, acked, tenant=tenant, status="error") == 1
    assert value(samples, delivered, tenant=tenant) == 3  # the admin view leases nothing


def test_ingestion_metrics(client: TestClient, hub: Hub, world: World, tmp_path: Path) -> None:
    operator = world.operator.headers
    duration = "interop_hub_ingestion_duration_seconds_count"
    row_errors = "interop_hub_ingestion_row_errors_total"
    before = scrape(client, operator)

    bundle = _minimal_bundle()
    bundle["users"].append({**bundle["users"][0], "sourcedId": "u2", "role": "wizard"})
    done = run_collection(hub, uuid.UUID(world.cloud_id), write_bundle(tmp_path / "a", bundle))
    assert done.state == "success", done.message
    assert done.rows_rejected >= 1
    unreadable = tmp_path / "b"
    unreadable.mkdir()
    failed = run_collection(hub, uuid.UUID(world.cloud_id), unreadable)
    assert failed.state == "failed"
    after = scrape(client, operator)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(duration, outcome="success") == 1
    assert moved(duration, outcome="failed") == 1
    assert moved(row_errors, outcome="success") == done.rows_rejected
    assert moved(row_errors, outcome="failed") == 0
    assert moved("interop_hub_ingestion_duration_seconds_sum", outcome="success") > 0


# --- several processes ----------------------------------------------------------------------


def test_multiprocess_mode_sums_the_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, any process's exposition holds every process's."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from interop_hub.kit import metrics; metrics.ingestion_finished('success', 2.0, 3)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, cwd=ROOT, check=True)
    show = "import sys; from interop_hub.kit.metrics import exposition as e; print(e().decode())"
    shown = subprocess.run(
        [sys.executable, "-c", show], env=env, cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(shown)
        for s in family.samples
    }
    outcome = frozenset({("outcome", "success")})
    assert samples[("interop_hub_ingestion_row_errors_total", outcome)] == 6
    assert samples[("interop_hub_ingestion_duration_seconds_count", outcome)] == 2


# --- the worker's /metrics ----------------------------------------------------------------------


def test_the_worker_exporter_answers_the_scrape_token_only() -> None:
    server = start_exporter("127.0.0.1", 0, SecretStr(METRICS_TOKEN))
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        metrics.ingestion_finished("success", 0.5, 2)
        refused = httpx.get(f"{base}/metrics", headers=bearer(METRICS_TOKEN + "x"))
        assert refused.status_code == 401
        assert METRICS_TOKEN not in refused.text
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/other", headers=bearer(METRICS_TOKEN)).status_code == 404
        shown = httpx.get(f"{base}/metrics", headers=bearer(METRICS_TOKEN))
        assert shown.status_code == 200
        assert shown.headers["content-type"].startswith("text/plain")
        assert 'interop_hub_ingestion_row_errors_total{outcome="success"}' in shown.text
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_exporter_needs_a_token(tmp_path: Path) -> None:
    result = Cli({"INTEROP_HUB_DATA_DIR": str(tmp_path / "data")}).run(
        "worker", "--metrics-port", "0"
    )
    assert result.exit_code == 2
    assert "INTEROP_HUB_METRICS_TOKEN" in text_of(result.stderr)
