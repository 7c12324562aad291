"""The tenant application (Interop API #34–#35) and its authentication workflow (DESIGN §3.7),
over HTTP on SQLite and PostgreSQL: the shape, the district's side (pending credentials, an
authenticate task, the audit trail), the driver's answer (409 outside a session, only
``confirmed`` or ``error``), ``deliver_tasks``, and secrets never in clear in the database and
masked outside the tenant's own driver."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from interop_hub.integrations.blueprint import AuthProperty, AuthSpec, parse_blueprint
from interop_hub.kit.db import transaction
from interop_hub.runtime import Hub
from tests.factories import add_version, bearer, data, error, full_blueprint, install, make_world
from tests.factories import token as get_token
from tests.test_collection_property import _minimal_bundle
from tests.test_tasks_api import ADMIN, Env, event, kinds

APPLICATION = "/v2/interop/tenant/application"
AUTHENTICATION = (
    '<Authentication Type="oauth2">'
    '<Property Name="client_id"/>'
    '<Property Name="client_secret" Secret="true"/>'
    '<Property Name="token" Secret="true"/>'
    "</Authentication>"
)
SECRET = "s3cr3t-Value-Nobody-May-See"
GOOD = {"client_id": "acme-district-7", "client_secret": SECRET}
MASK = "********"
FIELDS = {
    "account_id",
    "tenant_id",
    "deliver_tasks",
    "validate_tasks",
    "auth_type",
    "auth_state",
    "options",
    "auth_props",
    "auth_session_id_pending",
    "auth_message",
    "auth_props_pending",
    "auth_state_pending",
}


def auth_blueprint(version: str = "3.0", authentication: str = AUTHENTICATION) -> str:
    return full_blueprint(version).replace("</Integration>", f"{authentication}</Integration>")


class App(Env):
    """The task-queue test environment, with the tenant application's calls."""

    @property
    def tenant_id(self) -> str:
        found: str = self.tenant["id"]
        return found

    def application(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        found: dict[str, Any] = data(self.client.get(APPLICATION, headers=headers or self.headers))
        return found

    def patch(self, body: dict[str, Any], status: int = 204) -> Any:
        response = self.client.patch(APPLICATION, json=body, headers=self.headers)
        assert response.status_code == status, response.text
        return response

    def platform(self, method: str, path: str = "", **kwargs: Any) -> Any:
        return self.client.request(
            method,
            f"/v2/platform/tenants/{self.tenant_id}/application{path}",
            headers=self.world.operator.headers,
            **kwargs,
        )

    def open_session(self, props: dict[str, str]) -> dict[str, Any]:
        found: dict[str, Any] = data(
            self.platform("POST", "/sessions", json={"auth_props": props}), 201
        )
        return found

    def sessions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = data(self.platform("GET", "/sessions"))
        return found

    def settings(self, **body: Any) -> dict[str, Any]:
        found: dict[str, Any] = data(self.platform("PATCH", json=body))
        return found


@pytest.fixture
def app(client: TestClient, hub: Hub, tmp_path: Path) -> App:
    """A tenant of a version whose blueprint declares oauth2 credentials, activated after a
    first collection, its queue drained."""
    world = make_world(client, hub)
    add_version(client, world, auth_blueprint())
    tenant = install(client, world, version="3.0")
    headers = bearer(get_token(client, tenant["client_id"], tenant["client_secret"]))
    env = App(client, hub, world, tenant, headers, tmp_path)
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{tenant['id']}/activate")
    env.drain()
    return env


def authenticate_tasks(env: App) -> list[dict[str, Any]]:
    return [t for t in env.poll(driver="authentication") if t["type"] == "authenticate"]


# --- the blueprint ------------------------------------------------------------------------------


def test_the_blueprint_declares_the_application_authentication() -> None:
    parsed = parse_blueprint(auth_blueprint())
    assert parsed.auth == AuthSpec(
        "oauth2",
        (
            AuthProperty("client_id", secret=False),
            AuthProperty("client_secret", secret=True),
            AuthProperty("token", secret=True),
        ),
    )
    assert parse_blueprint(full_blueprint()).auth is None
    bare = parse_blueprint(auth_blueprint(authentication='<Authentication Type="api_key"/>'))
    assert bare.auth == AuthSpec("api_key")


@pytest.mark.parametrize(
    ("authentication", "message"),
    [
        ('<Authentication Type="kerberos"/>', "Type must be one of"),
        ("<Authentication/>", "Type must be one of"),
        ('<Authentication Type="basic"><Property/></Authentication>', "<Property> has no Name"),
        (
            '<Authentication Type="basic"><Property Name="u"/><Property Name="u"/>'
            "</Authentication>",
            "declared twice",
        ),
        (
            '<Authentication Type="basic"><Property Name="u" Secret="maybe"/></Authentication>',
            "Secret must be",
        ),
        ('<Authentication Type="basic"/><Authentication Type="basic"/>', "declared twice"),
    ],
)
def test_a_bad_authentication_element_is_refused_with_its_line(
    client: TestClient, hub: Hub, authentication: str, message: str
) -> None:
    world = make_world(client, hub)
    response = client.post(
        f"/v2/interop/integrations/{world.integration_id}/versions",
        content=auth_blueprint(authentication=authentication),
        headers={**world.vendor.headers, "Content-Type": "application/xml"},
    )
    found = error(response, 400)
    assert message in found["message"]
    assert "line 1" in found["message"]


# --- #34 ----------------------------------------------------------------------------------------


def test_get_tenant_application(app: App) -> None:
    found = app.application()
    assert set(found) == FIELDS
    assert found == {
        "account_id": str(app.world.district.id),
        "tenant_id": app.tenant_id,
        "deliver_tasks": True,
        "validate_tasks": False,
        "auth_type": "oauth2",
        "auth_state": "unspecified",
        "options": {},
        "auth_props": {},
        "auth_session_id_pending": None,
        "auth_message": None,
        "auth_props_pending": {},
        "auth_state_pending": "unspecified",
    }
    # Only the tenant's own actor: a vendor or a district is told to use actor credentials.
    for headers in (app.world.vendor.headers, app.world.district.headers):
        assert error(app.client.get(APPLICATION, headers=headers), 403)["code"] == (
            "actor_required"
        )


def test_a_blueprint_without_authentication_is_unspecified_and_opens_no_session(
    client: TestClient, hub: Hub
) -> None:
    world = make_world(client, hub)
    tenant = install(client, world)  # version 1.0: no <Authentication>
    headers = bearer(get_token(client, tenant["client_id"], tenant["client_secret"]))
    assert data(client.get(APPLICATION, headers=headers))["auth_type"] == "unspecified"
    refused = client.post(
        f"/v2/platform/tenants/{tenant['id']}/application/sessions",
        json={"auth_props": {"api_key": "k"}},
        headers=world.operator.headers,
    )
    assert error(refused, 409)["code"] == "no_authentication"


# --- the district's side ------------------------------------------------------------------------


def test_opening_a_session_sets_pending_credentials_and_queues_an_authenticate_task(
    app: App,
) -> None:
    shown = app.open_session(GOOD)
    session_id = shown["auth_session_id_pending"]
    assert session_id is not None
    # The operator's view masks the secrets the blueprint declares (and never repeats them).
    assert shown["auth_props_pending"] == {"client_id": GOOD["client_id"], "client_secret": MASK}
    assert shown["auth_state_pending"] == "updating"
    assert shown["auth_state"] == "unspecified"
    assert data(app.platform("GET")) == shown
    # The tenant's driver reads them in clear (#34, as the spec gives them).
    mine = app.application()
    assert mine["auth_props_pending"] == GOOD
    assert mine["auth_session_id_pending"] == session_id
    assert mine["auth_props"] == {}
    # …and gets an authenticate task carrying the session id and the properties.
    [task] = app.poll()
    assert kinds([task]) == [("authenticate", None)]
    assert event(task)["session_id"] == session_id
    assert event(task)["data"] == GOOD
    assert set(event(task)) == {"id", "tenant_id", "sequence", "created_at", "data", "session_id"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"auth_props": {}}, 400, None),
        ({"auth_props": {"password": "x"}}, 400, "unknown_property"),
        ({"auth_props": {"client_id": "x"}, "other": 1}, 400, None),
        ({}, 400, None),
    ],
)
def test_a_session_with_bad_properties_is_refused(
    app: App, body: dict[str, Any], status: int, code: str | None
) -> None:
    found = error(app.platform("POST", "/sessions", json=body), status)
    if code is not None:
        assert found["code"] == code
        assert "client_id, client_secret, token" in found["message"]
    assert app.application()["auth_state_pending"] == "unspecified"
    assert app.poll() == []


def test_the_operator_surface_needs_an_operator_and_a_tenant(app: App) -> None:
    base = f"/v2/platform/tenants/{app.tenant_id}/application"
    for headers in (app.world.vendor.headers, app.world.district.headers, app.headers):
        assert app.client.get(base, headers=headers).status_code == 403
        refused = app.client.post(f"{base}/sessions", json={"auth_props": GOOD}, headers=headers)
        assert refused.status_code == 403
    missing = f"/v2/platform/tenants/{uuid.uuid4()}/application"
    ops = app.world.operator.headers
    assert error(app.client.get(missing, headers=ops), 404)
    assert error(app.client.get(f"{missing}/sessions", headers=ops), 404)
    assert error(app.client.patch(missing, json={"deliver_tasks": False}, headers=ops), 404)
    assert error(
        app.client.post(f"{missing}/sessions", json={"auth_props": GOOD}, headers=ops), 404
    )


def test_an_uninstalled_tenant_opens_no_session(app: App) -> None:
    app.operator(f"/tenants/{app.tenant_id}/uninstall")
    assert error(app.platform("POST", "/sessions", json={"auth_props": GOOD}), 409)


# --- #35 ----------------------------------------------------------------------------------------


def test_patch_is_409_unless_a_session_is_updating(app: App) -> None:
    refused = app.patch({"auth_state_pending": "confirmed"}, status=409).json()["error"]
    assert refused["code"] == "no_auth_session"
    app.patch({"auth_message": "hello"}, status=409)
    app.open_session(GOOD)
    app.patch({"auth_state_pending": "confirmed"})
    # Closed: the next answer is refused again.
    app.patch({"auth_state_pending": "error"}, status=409)


@pytest.mark.parametrize(
    "body",
    [
        {"auth_state_pending": "updating"},
        {"auth_state_pending": "unspecified"},
        {"auth_state_pending": "bogus"},
        {"deliver_tasks": False},
        {"auth_props": {"client_id": "x"}},
        {"auth_state": "confirmed"},
        {"options": {"a": "b"}},
        {"something": "else"},
        {"auth_props_pending": {"password": "x"}},
        {"auth_props_pending": {"client_id": 5}},
    ],
)
def test_patch_changes_only_the_message_the_pending_state_and_properties(
    app: App, body: dict[str, Any]
) -> None:
    app.open_session(GOOD)
    before = app.application()
    app.patch(body, status=400)
    assert app.application() == before


def test_confirmed_makes_the_pending_properties_the_active_ones(app: App) -> None:
    app.open_session(GOOD)
    app.patch({"auth_props_pending": {"token": "tok-123"}, "auth_message": "checking"})
    updating = app.application()
    assert updating["auth_props_pending"] == {**GOOD, "token": "tok-123"}
    assert updating["auth_message"] == "checking"
    assert updating["auth_state_pending"] == "updating"
    app.patch({"auth_state_pending": "confirmed", "auth_message": "signed in"})
    found = app.application()
    assert found["auth_props"] == {**GOOD, "token": "tok-123"}
    assert found["auth_state"] == "confirmed"
    assert found["auth_state_pending"] == "confirmed"
    assert found["auth_props_pending"] == {}
    assert found["auth_session_id_pending"] is None
    assert found["auth_message"] == "signed in"
    # The operator sees them masked; TenantInfo's app_auth carries them (scheme: the type).
    masked = data(app.platform("GET"))["auth_props"]
    assert masked == {"client_id": GOOD["client_id"], "client_secret": MASK, "token": MASK}
    info = data(app.client.get("/v2/interop/tenant", headers=app.headers))
    assert info["app_auth"] == {
        "scheme": "oauth2",
        "token": "tok-123",
        "refresh_token": None,
        "client_id": GOOD["client_id"],
        "client_secret": SECRET,
        "username": None,
        "password": None,
        "api_key": None,
    }


def test_error_closes_the_session_and_keeps_the_active_properties(app: App) -> None:
    app.open_session(GOOD)
    app.patch({"auth_state_pending": "confirmed"})
    app.open_session({"client_id": "new", "client_secret": "wrong"})
    app.patch({"auth_state_pending": "error", "auth_message": "invalid_client"})
    found = app.application()
    assert found["auth_props"] == GOOD
    assert found["auth_state"] == "confirmed"
    assert found["auth_state_pending"] == "error"
    assert found["auth_message"] == "invalid_client"
    assert found["auth_session_id_pending"] is None
    assert found["auth_props_pending"] == {"client_id": "new", "client_secret": "wrong"}
    app.patch({"auth_state_pending": "confirmed"}, status=409)


def test_an_answer_naming_another_session_is_409(app: App) -> None:
    first = app.open_session(GOOD)["auth_session_id_pending"]
    second = app.open_session(GOOD)["auth_session_id_pending"]
    stale = app.patch(
        {"auth_state_pending": "confirmed", "auth_session_id_pending": first}, status=409
    )
    assert stale.json()["error"]["code"] == "stale_auth_session"
    app.patch({"auth_state_pending": "confirmed", "auth_session_id_pending": second})


def test_the_audit_trail(app: App) -> None:
    first = app.open_session(GOOD)["auth_session_id_pending"]
    second = app.open_session({"client_id": "x", "client_secret": "y"})["auth_session_id_pending"]
    # The first session's authenticate task was still queued: the newer one replaces it.
    [task] = authenticate_tasks(app)
    assert event(task)["session_id"] == second
    app.ack([task])
    app.patch({"auth_state_pending": "error", "auth_message": "401 from the app"})
    third = app.open_session(GOOD)["auth_session_id_pending"]
    app.patch({"auth_state_pending": "confirmed"})

    operator = f"account:{app.world.operator.id}"
    actor = f"actor:{app.tenant['actor_id']}"
    trail = app.sessions()
    assert [(s["id"], s["state"]) for s in trail] == [
        (third, "confirmed"),
        (second, "error"),
        (first, "superseded"),
    ]
    assert {s["opened_by"] for s in trail} == {operator}
    assert [s["closed_by"] for s in trail] == [actor, actor, operator]
    assert [s["message"] for s in trail] == [
        None,
        "401 from the app",
        "superseded by a newer session",
    ]
    assert all(s["properties"] == ["client_id", "client_secret"] for s in trail)
    assert all(s["opened_at"] and s["closed_at"] and s["task_id"] for s in trail)
    assert all(s["tenant_id"] == app.tenant_id for s in trail)
    history = data(
        app.client.get(
            f"/v2/platform/tenants/{app.tenant_id}/task-history",
            headers=app.world.operator.headers,
        )
    )
    by_task = {h["task_id"]: h["status"] for h in history if h["type"] == "authenticate"}
    assert by_task == {
        trail[2]["task_id"]: "deleted",
        trail[1]["task_id"]: "success",
    }
    paged = app.platform("GET", "/sessions", params={"page_size": 2}).json()
    assert [s["id"] for s in paged["data"]] == [third, second]
    rest = app.client.get(paged["paging"]["next"], headers=app.world.operator.headers)
    assert [s["id"] for s in data(rest)] == [first]


def test_confirmed_resumes_delivery_paused_by_a_reauthenticate_ack(app: App) -> None:
    app.collect(_minimal_bundle() | {"users": [*_minimal_bundle()["users"], new_user()]})
    batch = app.poll()
    paused = next(t for t in batch if t["type"] == "data_event")
    app.ack([t for t in batch if t is not paused])
    app.ack([paused], "reauthenticate")
    assert app.poll() == []
    app.open_session(GOOD)
    [task] = app.poll()  # while paused, only the authenticate task
    assert task["type"] == "authenticate"
    app.patch({"auth_state_pending": "error"})
    app.ack([task])
    assert app.poll() == []  # an error keeps delivery paused
    app.open_session(GOOD)
    [task] = app.poll()
    app.patch({"auth_state_pending": "confirmed"})
    app.ack([task])
    state = data(app.client.get("/v2/interop/tenant/state", headers=app.headers))
    assert state["delivery_paused"] is None
    assert ids_of(app.poll()) == [event(paused)["id"]]


def new_user() -> dict[str, str]:
    return {
        "sourcedId": "u2",
        "enabledUser": "true",
        "orgSourcedIds": "s1",
        "role": "student",
        "username": "u2",
        "givenName": "C",
        "familyName": "D",
    }


def ids_of(tasks: list[dict[str, Any]]) -> list[str]:
    return [event(t)["id"] for t in tasks]


# --- deliver_tasks ------------------------------------------------------------------------------


def test_deliver_tasks_false_holds_everything_and_true_releases_it_in_order(app: App) -> None:
    shown = app.settings(deliver_tasks=False, validate_tasks=True, options={"region": "us"})
    assert (shown["deliver_tasks"], shown["validate_tasks"], shown["options"]) == (
        False,
        True,
        {"region": "us"},
    )
    assert app.application()["options"] == {"region": "us"}
    app.collect(_minimal_bundle() | {"users": [*_minimal_bundle()["users"], new_user()]})
    app.operator(f"/tenants/{app.tenant_id}/suspend")
    app.open_session(GOOD)
    assert app.poll() == []  # not even lifecycle or authenticate tasks
    state = data(app.client.get("/v2/interop/tenant/state", headers=app.headers))
    assert state["synchronization_suspended"] is True
    assert "deliver_tasks" in state["reason"]
    held = data(app.client.get(ADMIN, headers=app.headers))  # nothing is dropped
    assert kinds(held)[0] == ("sync_event", "SYNC_START")
    assert kinds(held)[-2:] == [("lifecycle_event", "TENANT_SUSPENDED"), ("authenticate", None)]
    # An omitted setting keeps its value.
    shown = app.settings(deliver_tasks=True)
    assert (shown["validate_tasks"], shown["options"]) == (True, {"region": "us"})
    app.operator(f"/tenants/{app.tenant_id}/activate")
    released = app.drain()
    sequences = [event(t)["sequence"] for t in released]
    assert sequences == sorted(sequences)
    assert ids_of(released[:-1]) == ids_of(held)
    assert kinds(released[-1:]) == [("lifecycle_event", "TENANT_ACTIVATED")]
    state = data(app.client.get("/v2/interop/tenant/state", headers=app.headers))
    assert state["synchronization_suspended"] is False
    # The settings are the district's: #35 cannot change them.
    app.patch({"deliver_tasks": False}, status=400)


# --- secrets ------------------------------------------------------------------------------------


def rows(hub: Hub, table: str) -> str:
    with transaction(hub.sessions) as session:
        return repr(session.execute(text(f"SELECT * FROM {table}")).all())


def test_secrets_are_never_in_clear_in_the_database_and_masked_outside_the_driver(
    app: App, hub: Hub
) -> None:
    app.open_session(GOOD)
    for table in ("tenants", "task_payloads", "tasks", "tenant_auth_sessions"):
        assert SECRET not in rows(hub, table), table
    assert GOOD["client_id"] not in rows(hub, "task_payloads")  # sealed as a whole
    # The operator's views of the queue mask the authenticate task's data…
    queued = data(
        app.client.get(
            f"/v2/platform/tenants/{app.tenant_id}/tasks", headers=app.world.operator.headers
        )
    )
    [pending] = [t for t in queued if t["type"] == "authenticate"]
    assert pending["data"] == {"client_id": MASK, "client_secret": MASK}
    as_operator = data(app.client.get(ADMIN, headers=app.world.operator.headers))
    [listed] = [t for t in as_operator if t["type"] == "authenticate"]
    assert event(listed)["data"] == {"client_id": MASK, "client_secret": MASK}
    found = data(
        app.client.get(f"{ADMIN}/{event(listed)['id']}", headers=app.world.operator.headers)
    )
    assert event(found)["data"] == {"client_id": MASK, "client_secret": MASK}
    # …the tenant's driver, and its vendor, read it in clear.
    for headers in (app.headers, app.world.vendor.headers):
        [mine] = [
            t for t in data(app.client.get(ADMIN, headers=headers)) if t["type"] == "authenticate"
        ]
        assert event(mine)["data"] == GOOD
    [task] = app.poll(schema="flat")
    assert task["data"] == GOOD
    app.ack([{"type": "authenticate", "authenticate": task}])
    app.patch({"auth_state_pending": "confirmed"})
    for table in ("tenants", "task_payloads", "tasks", "task_acks", "tenant_auth_sessions"):
        assert SECRET not in rows(hub, table), table
    # TenantInfo: the district that entered them sees app_auth; another district does not
    # see the tenant at all.
    info = data(
        app.client.get(f"/v2/interop/tenants/{app.tenant_id}", headers=app.world.district.headers)
    )
    assert info["app_auth"]["client_secret"] == SECRET
    error(
        app.client.get(
            f"/v2/interop/tenants/{app.tenant_id}", headers=app.world.other_district.headers
        ),
        404,
    )
