"""The response envelope, errors and paging of DESIGN §9, on every kind of route."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from interop_hub.runtime import Hub
from tests.factories import (
    AccountRef,
    World,
    bearer,
    blueprint,
    data,
    error,
    install,
    make_account,
    make_world,
    token,
)

CLOUDS = "/v2/interop/clouds"
OPERATION_IDS = {
    "listActors",
    "listClouds",
    "createCloud",
    "searchClouds",
    "findCloud",
    "deleteCloud",
    "listActorsByCloud",
    "listIntegrations",
    "createIntegration",
    "listIntegrationVersions",
    "createIntegrationVersion",
    "updateIntegrationVersion",
    "deleteIntegrationVersion",
    "updateIntegrationBlueprint",
    "findIntegration",
    "updateIntegration",
    "deleteIntegration",
    "listInteropTenants",
    "findInteropTenant",
}


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


@pytest.fixture
def district(hub: Hub) -> AccountRef:
    """A lone district, for tests that need a credential and nothing else."""
    return make_account(hub, "education_agency")


def cursor_of(values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def make_clouds(client: TestClient, headers: dict[str, str], count: int, **body: Any) -> list[str]:
    return [
        data(client.post(CLOUDS, json={"name": f"Cloud {i}", **body}, headers=headers))["id"]
        for i in range(count)
    ]


def follow(client: TestClient, url: str, headers: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every id from ``url`` and its ``next`` links, and the links followed."""
    seen: list[str] = []
    links: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        body = client.get(next_url, headers=headers).json()
        assert set(body) == {"data", "paging"}, body
        seen.extend(item["id"] for item in body["data"])
        next_url = body["paging"]["next"]
        if next_url is not None:
            links.append(next_url)
        assert len(links) < 50, "paging does not end"
    return seen, links


# --- envelopes ------------------------------------------------------------------------------------


def test_lists_are_data_and_paging_on_every_list_route(client: TestClient, world: World) -> None:
    installed = install(client, world)
    routes = [
        ("/v2/interop/actors", world.district.headers),
        (CLOUDS, world.district.headers),
        (f"{CLOUDS}/search", world.district.headers),
        (f"{CLOUDS}/{world.cloud_id}/actors", world.district.headers),
        ("/v2/interop/integrations", world.vendor.headers),
        (f"/v2/interop/integrations/{world.integration_id}/versions", world.vendor.headers),
        ("/v2/interop/tenants", world.vendor.headers),
        ("/v2/platform/accounts", world.operator.headers),
    ]
    for url, headers in routes:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"data", "paging"}, url
        assert body["paging"] == {"next": None}, url
        assert isinstance(body["data"], list), url
        assert body["data"], url
    tenants = data(client.get("/v2/interop/tenants", headers=world.vendor.headers))
    assert [tenant["id"] for tenant in tenants] == [installed["id"]]


def test_objects_are_data_only(client: TestClient, world: World) -> None:
    installed = install(client, world)
    routes = [
        (f"{CLOUDS}/{world.cloud_id}", world.district.headers),
        (f"/v2/interop/integrations/{world.integration_id}", world.vendor.headers),
        (f"/v2/interop/tenants/{installed['id']}", world.vendor.headers),
        (f"/v2/platform/accounts/{world.vendor.id}", world.operator.headers),
    ]
    for url, headers in routes:
        body = client.get(url, headers=headers).json()
        assert set(body) == {"data"}, (url, body)
        assert isinstance(body["data"], dict), url
    created = client.post(CLOUDS, json={"name": "New"}, headers=world.district.headers).json()
    assert set(created) == {"data"}
    assert created["data"]["name"] == "New"


@pytest.mark.parametrize(
    "path",
    ["/nope", "/v2/interop/nope", "/v2/interop/clouds/a/b/c", "/v2/interop", "/v3/interop/clouds"],
)
def test_unknown_path_is_a_404_envelope(
    client: TestClient, district: AccountRef, path: str
) -> None:
    for headers in ({}, district.headers):
        response = client.get(path, headers=headers)
        err = error(response, 404)
        assert err["code"] == "not_found"
        assert err["message"] == "No such resource."
        assert err["details"] is None
        assert "detail" not in response.json()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", CLOUDS, {"GET", "POST"}),
        ("PATCH", CLOUDS, {"GET", "POST"}),
        ("DELETE", CLOUDS, {"GET", "POST"}),
        ("POST", f"{CLOUDS}/0190c4d2-7a1b-7c3d-8e4f-0123456789ab", {"GET", "DELETE"}),
        ("PUT", f"{CLOUDS}/0190c4d2-7a1b-7c3d-8e4f-0123456789ab", {"GET", "DELETE"}),
        ("POST", "/v2/interop/actors", {"GET"}),
        ("GET", "/oauth/token", {"POST"}),
        ("DELETE", "/v2/platform/accounts", {"GET", "POST"}),
        ("POST", "/health", {"GET"}),
    ],
)
def test_wrong_method_is_a_405_envelope_with_allow(
    client: TestClient, district: AccountRef, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path, headers=district.headers)
    err = error(response, 405)
    assert err["code"] == "method_not_allowed"
    assert {part.strip() for part in response.headers["Allow"].split(",")} == allowed
    assert "detail" not in response.json()


@pytest.mark.parametrize(
    ("kind", "method", "path", "kwargs", "location"),
    [
        ("query", "GET", CLOUDS, {"params": {"page": "-1"}}, "query.page"),
        ("query", "GET", f"{CLOUDS}/search", {"params": {"generation": "abc"}}, "query.generation"),
        ("path", "GET", f"{CLOUDS}/not-a-uuid", {}, "path.id"),
        ("path", "DELETE", f"{CLOUDS}/123", {}, "path.id"),
        ("body", "POST", CLOUDS, {"json": {"generation": 2}}, "body.name"),
        ("body", "POST", CLOUDS, {"json": {"name": "x", "generation": 0}}, "body.generation"),
        ("body", "POST", "/v2/interop/integrations", {"json": {"title": "No name"}}, "body.name"),
        (
            "query",
            "GET",
            "/v2/interop/integrations",
            {"params": {"page_size": "0"}},
            "query.page_size",
        ),
        ("path", "GET", "/v2/interop/tenants/xyz", {}, "path.id"),
        ("path", "GET", "/v2/interop/integrations/xyz", {}, "path.id"),
    ],
)
def test_validation_is_a_400_envelope(
    client: TestClient,
    hub: Hub,
    district: AccountRef,
    kind: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    location: str,
) -> None:
    vendor = make_account(hub, "developer")
    headers = vendor.headers if "integrations" in path else district.headers
    response = client.request(method, path, headers=headers, **kwargs)
    err = error(response, 400)
    body = response.json()
    assert "detail" not in body
    assert err["code"] == "bad_request"
    assert location in [detail["location"] for detail in err["details"]], err
    assert location.split(".")[0] == kind
    assert all({"location", "message", "type"} <= set(detail) for detail in err["details"])
    assert err["message"].startswith("The request is not valid")


def test_platform_route_validation_is_a_400_envelope(client: TestClient, world: World) -> None:
    response = client.post(
        "/v2/platform/accounts",
        json={"name": "X", "type": "pirate", "surprise": True},
        headers=world.operator.headers,
    )
    err = error(response, 400)
    assert "detail" not in response.json()
    assert {detail["location"] for detail in err["details"]} == {"body.type", "body.surprise"}


def test_auth_errors_are_envelopes_on_every_kind_of_route(client: TestClient, world: World) -> None:
    for path in ("/v2/interop/clouds", "/v2/interop/integrations", "/v2/platform/accounts"):
        response = client.get(path)
        assert error(response, 401)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    err = error(client.get("/v2/platform/accounts", headers=world.district.headers), 403)
    assert err["code"] == "forbidden"
    # A bad token at /oauth/token is the OAuth2 error, still in the envelope.
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "no"},
    )
    assert error(response, 401)["message"]
    assert 'error="invalid_client"' in response.headers["WWW-Authenticate"]


def test_conflict_is_a_409_envelope(client: TestClient, world: World) -> None:
    install(client, world)
    response = client.post(
        "/v2/platform/tenants",
        json={"cloud_id": world.cloud_id, "integration_id": world.integration_id},
        headers=world.operator.headers,
    )
    err = error(response, 409)
    assert err["code"] == "conflict"
    assert "already installed" in err["message"]


def test_nul_characters_are_a_400_not_a_500(client: TestClient, world: World) -> None:
    headers = world.district.headers
    err = error(client.post(CLOUDS, json={"name": "a\x00b"}, headers=headers), 400)
    assert [detail["location"] for detail in err["details"]] == ["body.name"]
    err = error(client.post(CLOUDS, json={"name": "ok", "userdata": "\x00"}, headers=headers), 400)
    assert [detail["location"] for detail in err["details"]] == ["body.userdata"]
    for field in ("name", "userdata"):
        response = client.get(f"{CLOUDS}/search", params={field: "a\x00b"}, headers=headers)
        err = error(response, 400)
        assert [detail["location"] for detail in err["details"]] == [f"query.{field}"]
    assert [c["id"] for c in data(client.get(CLOUDS, headers=headers))] == [world.cloud_id]


@pytest.mark.parametrize(
    ("path", "params", "location"),
    [
        (CLOUDS, {"page": str(2**31)}, "query.page"),
        (CLOUDS, {"page": "99999999999999999999"}, "query.page"),
        (f"{CLOUDS}/search", {"generation": str(2**31)}, "query.generation"),
        (f"{CLOUDS}/search", {"generation": "99999999999999999999"}, "query.generation"),
    ],
)
def test_out_of_range_numbers_are_a_400_not_a_500(
    client: TestClient, district: AccountRef, path: str, params: dict[str, str], location: str
) -> None:
    err = error(client.get(path, params=params, headers=district.headers), 400)
    assert [detail["location"] for detail in err["details"]] == [location]


def test_largest_page_is_empty(client: TestClient, world: World) -> None:
    body = client.get(CLOUDS, params={"page": 2**31 - 1}, headers=world.district.headers).json()
    assert body == {"data": [], "paging": {"next": None}}
    found = client.get(
        f"{CLOUDS}/search", params={"generation": 2**31 - 1}, headers=world.district.headers
    )
    assert data(found) == []


# --- paging ---------------------------------------------------------------------------------------


def test_next_links_walk_every_item_once_in_creation_order(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 5)

    first = client.get(CLOUDS, params={"page_size": 2}, headers=district.headers).json()
    assert [c["id"] for c in first["data"]] == made[:2]
    link = first["paging"]["next"]
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", CLOUDS)
    query = parse_qs(parts.query)
    assert query["page"] == ["1"]
    assert query["page_size"] == ["2"]
    assert query["cursor"]

    seen, links = follow(client, f"{CLOUDS}?page_size=2", district.headers)
    assert seen == made
    assert len(links) == 2
    assert [parse_qs(urlsplit(link).query)["page"] for link in links] == [["1"], ["2"]]


def test_next_is_null_on_an_exactly_full_last_page(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 4)
    seen, links = follow(client, f"{CLOUDS}?page_size=2", district.headers)
    assert seen == made
    assert len(links) == 1
    full = client.get(CLOUDS, params={"page_size": 4}, headers=district.headers).json()
    assert full["paging"] == {"next": None}
    assert [c["id"] for c in full["data"]] == made


def test_next_links_keep_the_search_filters(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    wanted = make_clouds(client, district.headers, 3, generation=2, userdata="x")
    make_clouds(client, district.headers, 2, generation=3, userdata="x")
    wanted += make_clouds(client, district.headers, 2, generation=2, userdata="x")
    seen, links = follow(
        client, f"{CLOUDS}/search?generation=2&userdata=x&page_size=2", district.headers
    )
    assert seen == wanted
    assert len(links) == 2
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query["generation"] == ["2"]
        assert query["userdata"] == ["x"]


def test_next_links_on_actor_lists_keep_include_credentials(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    made = []
    for i in range(3):
        drop = tmp_path / f"drop{i}"
        drop.mkdir()
        made.append(
            data(
                client.post(
                    f"/v2/platform/clouds/{world.cloud_id}/connectors",
                    json={"type": "oneroster-csv", "source": str(drop)},
                    headers=world.operator.headers,
                ),
                201,
            )
        )
    for url in ("/v2/interop/actors", f"{CLOUDS}/{world.cloud_id}/actors"):
        secrets: list[str | None] = []
        next_url: str | None = f"{url}?include_credentials=true&page_size=1"
        while next_url:
            body = client.get(next_url, headers=world.district.headers).json()
            secrets.extend(actor["auth"]["client_secret"] for actor in body["data"])
            next_url = body["paging"]["next"]
        assert secrets == [c["client_secret"] for c in made], url


def test_next_links_work_with_a_bearer_token(client: TestClient, world: World) -> None:
    key_id, secret = world.district.api_key.split(".", 1)
    headers = bearer(token(client, key_id, secret))
    made = [world.cloud_id, *make_clouds(client, world.district.headers, 2)]
    seen, links = follow(client, f"{CLOUDS}?page_size=1", headers)
    assert seen == made
    assert len(links) == 2


def test_next_links_use_the_public_base_url(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    make_clouds(client, district.headers, 2)
    client.app.state.public_base_url = "https://hub.example.org/api"  # type: ignore[attr-defined]
    body = client.get(CLOUDS, params={"page_size": 1}, headers=district.headers).json()
    assert body["paging"]["next"].startswith(f"https://hub.example.org/api{CLOUDS}?")


def test_items_created_while_paging_are_not_skipped_or_repeated(
    client: TestClient, hub: Hub
) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 3)
    first = client.get(CLOUDS, params={"page_size": 2}, headers=district.headers).json()
    # A cloud made before the first page is deleted, another added: the cursor carries on.
    assert client.delete(f"{CLOUDS}/{made[0]}", headers=district.headers).status_code == 204
    later = make_clouds(client, district.headers, 1)
    seen, _ = follow(client, first["paging"]["next"], district.headers)
    assert seen == [made[2], *later]


def test_page_size_defaults_to_and_is_capped_by_the_maximum(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 5)
    client.app.state.max_page_size = 3  # type: ignore[attr-defined]

    for params in ({}, {"page_size": 100}, {"page_size": 3}):
        body = client.get(CLOUDS, params=params, headers=district.headers).json()
        assert [c["id"] for c in body["data"]] == made[:3], params
        assert parse_qs(urlsplit(body["paging"]["next"]).query)["page_size"] == ["3"]
    seen, links = follow(client, f"{CLOUDS}?page_size=1000", district.headers)
    assert seen == made
    assert len(links) == 1

    small = client.get(CLOUDS, params={"page_size": 2}, headers=district.headers).json()
    assert [c["id"] for c in small["data"]] == made[:2]


def test_page_without_a_cursor_is_an_offset_page(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 5)

    def page(number: int) -> dict[str, Any]:
        params = {"page": number, "page_size": 2}
        result: dict[str, Any] = client.get(CLOUDS, params=params, headers=district.headers).json()
        return result

    assert [c["id"] for c in page(0)["data"]] == made[0:2]
    second = page(1)
    assert [c["id"] for c in second["data"]] == made[2:4]
    seen, _ = follow(client, second["paging"]["next"], district.headers)
    assert seen == made[4:]
    last = page(2)
    assert [c["id"] for c in last["data"]] == made[4:]
    assert last["paging"]["next"] is None
    assert page(3) == {"data": [], "paging": {"next": None}}


def test_a_cursor_wins_over_the_page_number(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    made = make_clouds(client, district.headers, 4)
    params = {"page": 3, "page_size": 2, "cursor": cursor_of([made[0]])}
    body = client.get(CLOUDS, params=params, headers=district.headers).json()
    assert [c["id"] for c in body["data"]] == made[1:3]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "garbage",
        "%%%",
        cursor_of({}),
        cursor_of([]),
        cursor_of("x"),
        cursor_of([None]),
        cursor_of(["not-a-uuid"]),
        cursor_of([12345]),
        cursor_of([{"id": 1}]),
        cursor_of([str(uuid.uuid4()), str(uuid.uuid4())]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_bad_cursor_is_400_invalid_cursor(
    client: TestClient, district: AccountRef, cursor: str
) -> None:
    for url in (CLOUDS, "/v2/interop/actors", f"{CLOUDS}/search"):
        response = client.get(url, params={"cursor": cursor}, headers=district.headers)
        err = error(response, 400)
        assert err["code"] == "invalid_cursor", (url, err)
        assert "detail" not in response.json()


def test_a_tampered_cursor_is_400(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    make_clouds(client, district.headers, 3)
    link = client.get(CLOUDS, params={"page_size": 1}, headers=district.headers).json()["paging"][
        "next"
    ]
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    (last_id,) = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    uuid.UUID(last_id)
    for tampered in (cursor[:-4], cursor_of([last_id[:-1] + "z"]), cursor_of([last_id, 1])):
        response = client.get(CLOUDS, params={"cursor": tampered}, headers=district.headers)
        assert error(response, 400)["code"] == "invalid_cursor", tampered


# --- service routes -------------------------------------------------------------------------------


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"]


def test_openapi_lists_the_interop_operations(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = [
        operation["operationId"]
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operations) == len(set(operations)), "duplicate operation ids"
    assert set(operations) >= OPERATION_IDS
    assert len(OPERATION_IDS) == 19
    cloud_paths = spec["paths"]["/v2/interop/clouds"]
    assert cloud_paths["get"]["operationId"] == "listClouds"
    assert cloud_paths["post"]["operationId"] == "createCloud"
    assert spec["paths"]["/v2/interop/clouds/{id}"]["delete"]["operationId"] == "deleteCloud"
    assert spec["paths"]["/v2/interop/clouds/{id}/actors"]["get"]["operationId"] == (
        "listActorsByCloud"
    )


def test_docs_serve_html(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "swagger" in response.text.lower()


def test_blueprint_upload_is_not_json_but_errors_still_are(
    client: TestClient, world: World
) -> None:
    response = client.post(
        f"/v2/interop/integrations/{world.integration_id}/versions",
        content=blueprint("1.0").encode().replace(b"<Topics>", b"<Topics"),
        headers={**world.vendor.headers, "Content-Type": "application/xml"},
    )
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"}
    assert "detail" not in response.json()
