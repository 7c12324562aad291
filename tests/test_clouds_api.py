"""Interop API #1–#7 over HTTP (actors and clouds), on each backend.

Visibility (DESIGN §8): a district sees its own clouds, a vendor the tenant actors of its
integrations, an actor itself and its cloud; anything else is 404, never 403 and never the object.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interop_hub.auth.tokens import issue_token
from interop_hub.runtime import Hub
from tests.clock import FakeClock
from tests.factories import (
    AccountRef,
    World,
    basic,
    bearer,
    data,
    error,
    install,
    make_account,
    make_world,
    token,
)

CLOUDS = "/v2/interop/clouds"
ACTORS = "/v2/interop/actors"


# --- helpers -------------------------------------------------------------------------------------


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def locations(err: dict[str, Any]) -> list[str]:
    assert isinstance(err["details"], list), err
    return [detail["location"] for detail in err["details"]]


def add_connector(
    client: TestClient, world: World, cloud_id: str, folder: Path, name: str | None = None
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"type": "oneroster-csv", "source": str(folder)}
    if name is not None:
        body["name"] = name
    result: dict[str, Any] = data(
        client.post(
            f"/v2/platform/clouds/{cloud_id}/connectors", json=body, headers=world.operator.headers
        ),
        201,
    )
    return result


def actor_headers(client: TestClient, installed: dict[str, Any]) -> dict[str, str]:
    return bearer(token(client, installed["client_id"], installed["client_secret"]))


def account_bearer(client: TestClient, api_key: str) -> dict[str, str]:
    key_id, secret = api_key.split(".", 1)
    return bearer(token(client, key_id, secret))


def create_cloud(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(client.post(CLOUDS, json=body, headers=headers))
    return result


def uninstall(client: TestClient, world: World, tenant_id: str) -> None:
    tenant = data(
        client.post(f"/v2/platform/tenants/{tenant_id}/uninstall", headers=world.operator.headers)
    )
    assert tenant["id"] == tenant_id


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


@pytest.fixture
def district(hub: Hub) -> AccountRef:
    """A lone district, for tests that need a credential and nothing else."""
    return make_account(hub, "education_agency")


# --- credentials on every operation ---------------------------------------------------------------

RANDOM_ID = "0190c4d2-7a1b-7c3d-8e4f-0123456789ab"
OPERATIONS = [
    ("GET", ACTORS),
    ("GET", CLOUDS),
    ("POST", CLOUDS),
    ("GET", f"{CLOUDS}/search"),
    ("GET", f"{CLOUDS}/{RANDOM_ID}"),
    ("DELETE", f"{CLOUDS}/{RANDOM_ID}"),
    ("GET", f"{CLOUDS}/{RANDOM_ID}/actors"),
]
BAD_CREDENTIALS = {
    "unknown api key": basic("ihk_0000000000000000.not-the-secret"),
    "api key with a wrong secret": None,  # made from a real key id in the test
    "bearer signed with another key": None,  # made for a real account in the test
    "garbage bearer": bearer("not.a.jwt"),
    "basic that is not base64": {"Authorization": "Basic %%%not-base64%%%"},
    "basic without a colon": {"Authorization": "Basic bm9jb2xvbg=="},
    "unknown scheme": {"Authorization": "Token abc"},
    "empty bearer": {"Authorization": "Bearer "},
}


def test_missing_credentials_are_401_with_a_challenge(client: TestClient) -> None:
    for method, path in OPERATIONS:
        response = client.request(method, path, json={"name": "x"})
        err = error(response, 401)
        assert err["code"] == "unauthorized", path
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="interop-hub"'), challenge
        assert 'Basic realm="interop-hub"' in challenge


@pytest.mark.parametrize("kind", list(BAD_CREDENTIALS))
def test_wrong_credentials_are_401(client: TestClient, hub: Hub, kind: str) -> None:
    district = make_account(hub, "education_agency")
    headers = BAD_CREDENTIALS[kind]
    if kind == "api key with a wrong secret":
        headers = basic(district.api_key.split(".", 1)[0] + ".wrong-secret")
    elif kind == "bearer signed with another key":
        forged = issue_token(b"another-key" * 4, f"account:{district.id}", 3600, hub.now())
        headers = bearer(forged)
    assert headers is not None
    for method, path in OPERATIONS:
        response = client.request(method, path, json={"name": "x"}, headers=headers)
        err = error(response, 401)
        assert err["code"] == "unauthorized", path
        assert "WWW-Authenticate" in response.headers
    # Nothing was created with bad credentials; the real key works.
    assert data(client.get(CLOUDS, headers=district.headers)) == []


def test_expired_token_is_401_and_a_fresh_one_works(
    client: TestClient, world: World, clock: FakeClock, hub: Hub
) -> None:
    headers = account_bearer(client, world.district.api_key)
    assert ids(data(client.get(CLOUDS, headers=headers))) == [world.cloud_id]
    clock.advance(seconds=hub.settings.token_lifetime_seconds + 60)
    err = error(client.get(CLOUDS, headers=headers), 401)
    assert "expired" in err["message"]
    fresh = account_bearer(client, world.district.api_key)
    assert ids(data(client.get(CLOUDS, headers=fresh))) == [world.cloud_id]


def test_token_of_an_uninstalled_tenant_is_401(client: TestClient, world: World) -> None:
    installed = install(client, world)
    headers = actor_headers(client, installed)
    assert len(data(client.get(ACTORS, headers=headers))) == 1
    uninstall(client, world, installed["id"])
    error(client.get(ACTORS, headers=headers), 401)
    error(client.get(f"{CLOUDS}/{world.cloud_id}", headers=headers), 401)


# --- #1 List Actors ------------------------------------------------------------------------------


def test_list_actors_district_sees_the_actors_of_its_clouds(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    mine = add_connector(client, world, world.cloud_id, tmp_path / "mine", name="SIS drop")
    add_connector(client, world, world.other_cloud_id, tmp_path / "theirs")
    installed = install(client, world)
    install(client, world, world.other_cloud_id)

    body = client.get(ACTORS, headers=world.district.headers).json()
    assert body["paging"] == {"next": None}
    actors = {actor["id"]: actor for actor in body["data"]}
    assert set(actors) == {mine["id"], installed["actor_id"]}
    connector = actors[mine["id"]]
    assert connector["name"] == "SIS drop"
    assert connector["type"] == "connector"
    assert connector["connector_type"] == "oneroster-csv"
    assert connector["cloud_id"] == world.cloud_id
    assert connector["auth"]["type"] == "oauth2"
    assert connector["auth"]["client_id"] == mine["client_id"]
    assert connector["auth"]["client_secret"] is None
    assert connector["auth"]["updated_at"]
    tenant_actor = actors[installed["actor_id"]]
    assert tenant_actor["type"] == "integration"
    assert tenant_actor["connector_type"] is None
    assert tenant_actor["name"] == "Acme LMS"
    assert tenant_actor["cloud_id"] == world.cloud_id
    assert tenant_actor["auth"]["client_id"] == installed["client_id"]
    assert tenant_actor["auth"]["client_secret"] is None


def test_list_actors_in_creation_order(client: TestClient, world: World, tmp_path: Path) -> None:
    made = [
        add_connector(client, world, world.cloud_id, tmp_path / f"drop{i}")["id"] for i in range(3)
    ]
    assert ids(data(client.get(ACTORS, headers=world.district.headers))) == made


def test_list_actors_vendor_sees_the_tenant_actors_of_its_integrations(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    add_connector(client, world, world.cloud_id, tmp_path / "drop")
    first = install(client, world)
    second = install(client, world, world.other_cloud_id)

    seen = data(client.get(ACTORS, headers=world.vendor.headers))
    assert ids(seen) == [first["actor_id"], second["actor_id"]]
    assert {actor["cloud_id"] for actor in seen} == {world.cloud_id, world.other_cloud_id}
    assert all(actor["auth"]["client_secret"] is None for actor in seen)

    with_secrets = data(
        client.get(ACTORS, params={"include_credentials": "true"}, headers=world.vendor.headers)
    )
    secrets = {actor["id"]: actor["auth"]["client_secret"] for actor in with_secrets}
    assert secrets == {
        first["actor_id"]: first["client_secret"],
        second["actor_id"]: second["client_secret"],
    }

    # Another vendor sees none of them.
    body = client.get(ACTORS, headers=world.other_vendor.headers).json()
    assert body == {"data": [], "paging": {"next": None}}


def test_list_actors_with_an_actor_token_is_that_actor_only(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    add_connector(client, world, world.cloud_id, tmp_path / "drop")
    mine = install(client, world)
    install(client, world, world.other_cloud_id)
    headers = actor_headers(client, mine)

    seen = data(client.get(ACTORS, headers=headers))
    assert ids(seen) == [mine["actor_id"]]
    assert seen[0]["auth"]["client_secret"] is None

    with_secret = data(client.get(ACTORS, params={"include_credentials": True}, headers=headers))
    assert ids(with_secret) == [mine["actor_id"]]
    assert with_secret[0]["auth"]["client_secret"] == mine["client_secret"]


def test_actors_of_uninstalled_tenants_are_not_listed(client: TestClient, world: World) -> None:
    gone = install(client, world)
    kept = install(client, world, world.other_cloud_id)
    uninstall(client, world, gone["id"])
    for headers in (world.vendor.headers, world.operator.headers):
        seen = data(client.get(ACTORS, params={"include_credentials": "true"}, headers=headers))
        assert ids(seen) == [kept["actor_id"]]
        assert gone["client_secret"] not in str(seen)
    assert data(client.get(ACTORS, headers=world.district.headers)) == []
    in_cloud = client.get(f"{CLOUDS}/{world.cloud_id}/actors", headers=world.district.headers)
    assert data(in_cloud) == []


def test_list_actors_include_credentials_false_hides_secrets(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    add_connector(client, world, world.cloud_id, tmp_path / "drop")
    seen = data(
        client.get(ACTORS, params={"include_credentials": "false"}, headers=world.district.headers)
    )
    assert len(seen) == 1
    assert seen[0]["auth"]["client_secret"] is None


def test_list_actors_operator_sees_every_actor(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    first = add_connector(client, world, world.cloud_id, tmp_path / "a")
    second = add_connector(client, world, world.other_cloud_id, tmp_path / "b")
    seen = data(
        client.get(ACTORS, params={"include_credentials": "1"}, headers=world.operator.headers)
    )
    assert {actor["id"]: actor["auth"]["client_secret"] for actor in seen} == {
        first["id"]: first["client_secret"],
        second["id"]: second["client_secret"],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"include_credentials": "maybe"}, "query.include_credentials"),
        ({"page": "-1"}, "query.page"),
        ({"page": "abc"}, "query.page"),
        ({"page_size": "0"}, "query.page_size"),
        ({"page_size": "many"}, "query.page_size"),
    ],
)
def test_list_actors_bad_query_is_400(
    client: TestClient, district: AccountRef, params: dict[str, str], field: str
) -> None:
    err = error(client.get(ACTORS, params=params, headers=district.headers), 400)
    assert err["code"] == "bad_request"
    assert locations(err) == [field]
    assert field in err["message"]


# --- #2 List Interop Clouds ----------------------------------------------------------------------


def test_list_clouds_district_sees_its_own_clouds_only(client: TestClient, world: World) -> None:
    second = create_cloud(client, world.district.headers, name="Springfield West", generation=3)

    body = client.get(CLOUDS, headers=world.district.headers).json()
    assert set(body) == {"data", "paging"}
    assert body["paging"] == {"next": None}
    assert ids(body["data"]) == [world.cloud_id, second["id"]]
    first = body["data"][0]
    assert first["name"] == "Springfield"
    assert first["userdata"] is None
    assert first["generation"] == 1
    assert first["account_id"] == str(world.district.id)
    assert first["env"] == "production"
    assert body["data"][1]["generation"] == 3

    assert ids(data(client.get(CLOUDS, headers=world.other_district.headers))) == [
        world.other_cloud_id
    ]


def test_list_clouds_vendor_operator_and_actor(client: TestClient, world: World) -> None:
    assert data(client.get(CLOUDS, headers=world.vendor.headers)) == []
    assert ids(data(client.get(CLOUDS, headers=world.operator.headers))) == [
        world.cloud_id,
        world.other_cloud_id,
    ]
    installed = install(client, world, world.other_cloud_id)
    assert ids(data(client.get(CLOUDS, headers=actor_headers(client, installed)))) == [
        world.other_cloud_id
    ]


def test_list_clouds_with_a_bearer_token_of_the_account(client: TestClient, world: World) -> None:
    headers = account_bearer(client, world.other_district.api_key)
    assert ids(data(client.get(CLOUDS, headers=headers))) == [world.other_cloud_id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "-1"}, "query.page"),
        ({"page": "1.5"}, "query.page"),
        ({"page_size": "0"}, "query.page_size"),
        ({"page_size": "-3"}, "query.page_size"),
    ],
)
def test_list_clouds_bad_query_is_400(
    client: TestClient, district: AccountRef, params: dict[str, str], field: str
) -> None:
    err = error(client.get(CLOUDS, params=params, headers=district.headers), 400)
    assert locations(err) == [field]


# --- #3 Create an Interop Cloud ------------------------------------------------------------------


def test_create_cloud_round_trips(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    created = create_cloud(
        client, district.headers, name="North", userdata='{"erp": 42, "note": "ü"}', generation=7
    )
    uuid.UUID(created["id"])
    assert created["name"] == "North"
    assert created["userdata"] == '{"erp": 42, "note": "ü"}'
    assert created["generation"] == 7
    assert created["account_id"] == str(district.id)
    assert created["created_at"]
    assert created["updated_at"]

    found = data(client.get(f"{CLOUDS}/{created['id']}", headers=district.headers))
    assert found == created


def test_create_cloud_defaults(client: TestClient, hub: Hub) -> None:
    district = make_account(hub, "education_agency")
    created = create_cloud(client, district.headers, name="Defaults")
    assert created["generation"] == 1
    assert created["userdata"] is None
    assert (
        data(client.get(f"{CLOUDS}/{created['id']}", headers=district.headers))["generation"] == 1
    )


def test_create_cloud_ignores_an_account_id_in_the_body(client: TestClient, world: World) -> None:
    created = create_cloud(
        client,
        world.district.headers,
        name="Mine",
        account_id=str(world.other_district.id),
        id=RANDOM_ID,
    )
    assert created["account_id"] == str(world.district.id)
    assert created["id"] != RANDOM_ID
    assert created["id"] not in ids(data(client.get(CLOUDS, headers=world.other_district.headers)))


def test_create_cloud_by_a_vendor_is_its_own(client: TestClient, world: World) -> None:
    created = create_cloud(client, world.vendor.headers, name="Vendor sandbox")
    assert created["account_id"] == str(world.vendor.id)
    assert ids(data(client.get(CLOUDS, headers=world.vendor.headers))) == [created["id"]]


def test_create_cloud_with_an_actor_credential_is_403(client: TestClient, world: World) -> None:
    installed = install(client, world)
    as_bearer = actor_headers(client, installed)
    err = error(client.post(CLOUDS, json={"name": "Nope"}, headers=as_bearer), 403)
    assert err["code"] == "forbidden"
    # Basic with the actor's client id and secret is the same principal.
    raw = f"{installed['client_id']}:{installed['client_secret']}".encode()
    as_basic = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    error(client.post(CLOUDS, json={"name": "Nope"}, headers=as_basic), 403)
    assert ids(data(client.get(CLOUDS, headers=world.district.headers))) == [world.cloud_id]


def test_create_cloud_with_an_operator_credential_is_403(client: TestClient, world: World) -> None:
    err = error(client.post(CLOUDS, json={"name": "Ops"}, headers=world.operator.headers), 403)
    assert "/v2/platform/accounts/" in err["message"]
    assert ids(data(client.get(CLOUDS, headers=world.operator.headers))) == [
        world.cloud_id,
        world.other_cloud_id,
    ]
    # The operator's way works.
    made = data(
        client.post(
            f"/v2/platform/accounts/{world.district.id}/clouds",
            json={"name": "Made by ops", "generation": 2},
            headers=world.operator.headers,
        ),
        201,
    )
    assert made["account_id"] == str(world.district.id)
    assert made["generation"] == 2
    assert made["id"] in ids(data(client.get(CLOUDS, headers=world.district.headers)))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.name"),
        ({"userdata": "x"}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"name": 123}, "body.name"),
        ({"name": None}, "body.name"),
        ({"name": "x", "generation": 0}, "body.generation"),
        ({"name": "x", "generation": -1}, "body.generation"),
        ({"name": "x", "generation": "abc"}, "body.generation"),
        ({"name": "x", "generation": 1.5}, "body.generation"),
        ({"name": "x", "generation": 2**31}, "body.generation"),
        ({"name": "x", "userdata": 5}, "body.userdata"),
        ({"name": "x", "userdata": {"a": 1}}, "body.userdata"),
    ],
)
def test_create_cloud_bad_body_is_400_naming_the_field(
    client: TestClient, hub: Hub, body: dict[str, Any], field: str
) -> None:
    district = make_account(hub, "education_agency")
    response = client.post(CLOUDS, json=body, headers=district.headers)
    err = error(response, 400)
    assert err["code"] == "bad_request"
    assert locations(err) == [field]
    assert field in err["message"]
    assert "detail" not in response.json()
    assert data(client.get(CLOUDS, headers=district.headers)) == []


@pytest.mark.parametrize(
    "content",
    [b'{"name": "x"', b"name=x", b"", b'["name"]', b'"x"'],
    ids=["truncated", "form-like", "empty", "array", "string"],
)
def test_create_cloud_body_that_is_not_a_json_object_is_400(
    client: TestClient, hub: Hub, content: bytes
) -> None:
    district = make_account(hub, "education_agency")
    headers = {**district.headers, "Content-Type": "application/json"}
    err = error(client.post(CLOUDS, content=content, headers=headers), 400)
    assert err["details"]
    assert all(location.startswith("body") for location in locations(err))
    assert data(client.get(CLOUDS, headers=district.headers)) == []


# --- #4 Search Interop Clouds --------------------------------------------------------------------


def test_search_clouds_by_generation_userdata_and_name(client: TestClient, world: World) -> None:
    headers = world.district.headers
    a = create_cloud(client, headers, name="Beta", userdata="x")["id"]
    b = create_cloud(client, headers, name="Alpha", userdata="x", generation=2)["id"]
    c = create_cloud(client, headers, name="Alpha", userdata="y", generation=2)["id"]
    theirs = create_cloud(
        client, world.other_district.headers, name="Alpha", userdata="x", generation=2
    )["id"]

    def search(**params: Any) -> list[str]:
        return ids(data(client.get(f"{CLOUDS}/search", params=params, headers=headers)))

    assert search() == [world.cloud_id, a, b, c]
    assert search(generation=1) == [world.cloud_id, a]
    assert search(generation=2) == [b, c]
    assert search(generation=3) == []
    assert search(userdata="x") == [a, b]
    assert search(userdata="X") == []
    assert search(name="Alpha") == [b, c]
    assert search(name="Springfield") == [world.cloud_id]
    assert search(name="Alp") == []
    assert search(generation=2, userdata="x") == [b]
    assert search(generation=2, name="Alpha", userdata="y") == [c]
    assert search(generation=1, name="Alpha") == []
    assert search(name="Nope") == []

    # Only visible clouds are searched.
    other = ids(
        data(
            client.get(
                f"{CLOUDS}/search",
                params={"name": "Alpha", "generation": 2, "userdata": "x"},
                headers=world.other_district.headers,
            )
        )
    )
    assert other == [theirs]
    assert (
        data(client.get(f"{CLOUDS}/search", params={"name": "Alpha"}, headers=world.vendor.headers))
        == []
    )


def test_search_clouds_with_an_actor_token(client: TestClient, world: World) -> None:
    installed = install(client, world)
    create_cloud(client, world.district.headers, name="Springfield")
    found = data(
        client.get(
            f"{CLOUDS}/search",
            params={"name": "Springfield"},
            headers=actor_headers(client, installed),
        )
    )
    assert ids(found) == [world.cloud_id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"generation": "abc"}, "query.generation"),
        ({"generation": "0"}, "query.generation"),
        ({"generation": "1.5"}, "query.generation"),
        ({"page": "-1"}, "query.page"),
        ({"page_size": "0"}, "query.page_size"),
    ],
)
def test_search_clouds_bad_query_is_400(
    client: TestClient, district: AccountRef, params: dict[str, str], field: str
) -> None:
    response = client.get(f"{CLOUDS}/search", params=params, headers=district.headers)
    err = error(response, 400)
    assert locations(err) == [field]


# --- #5 Find an Interop Cloud --------------------------------------------------------------------


def test_find_cloud(client: TestClient, world: World) -> None:
    found = data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers))
    assert found["id"] == world.cloud_id
    assert found["name"] == "Springfield"
    assert found["generation"] == 1
    assert found["account_id"] == str(world.district.id)
    # Upper-case ids are the same id.
    again = data(client.get(f"{CLOUDS}/{world.cloud_id.upper()}", headers=world.district.headers))
    assert again == found


def test_find_cloud_not_found(client: TestClient, world: World) -> None:
    missing = str(uuid.uuid4())
    err = error(client.get(f"{CLOUDS}/{missing}", headers=world.district.headers), 404)
    assert err["code"] == "not_found"
    assert missing in err["message"]


def test_find_cloud_of_someone_else_is_404(client: TestClient, world: World) -> None:
    for headers in (world.other_district.headers, world.vendor.headers):
        response = client.get(f"{CLOUDS}/{world.cloud_id}", headers=headers)
        err = error(response, 404)
        assert err["code"] == "not_found"
        assert "Springfield" not in response.text
    # The same message as for an id that does not exist: nothing leaks.
    missing = error(client.get(f"{CLOUDS}/{RANDOM_ID}", headers=world.other_district.headers), 404)
    hidden = error(
        client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.other_district.headers), 404
    )
    assert hidden["message"].replace(world.cloud_id, "ID") == missing["message"].replace(
        RANDOM_ID, "ID"
    )


def test_find_cloud_with_an_actor_token(client: TestClient, world: World) -> None:
    installed = install(client, world)
    headers = actor_headers(client, installed)
    assert data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=headers))["id"] == world.cloud_id
    error(client.get(f"{CLOUDS}/{world.other_cloud_id}", headers=headers), 404)


def test_find_cloud_by_the_operator(client: TestClient, world: World) -> None:
    found = data(client.get(f"{CLOUDS}/{world.other_cloud_id}", headers=world.operator.headers))
    assert found["account_id"] == str(world.other_district.id)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "0190c4d2-7a1b-7c3d-8e4f-0123456789"])
def test_malformed_cloud_id_is_400(client: TestClient, world: World, bad_id: str) -> None:
    for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/actors")):
        url = f"{CLOUDS}/{bad_id}{suffix}"
        response = client.request(method, url, headers=world.district.headers)
        err = error(response, 400)
        assert err["code"] == "bad_request", url
        assert locations(err) == ["path.id"], url
        assert "detail" not in response.json()
    assert data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers))


# --- #6 Delete an Interop Cloud ------------------------------------------------------------------


def test_delete_cloud(client: TestClient, world: World) -> None:
    doomed = create_cloud(client, world.district.headers, name="Doomed")["id"]
    response = client.delete(f"{CLOUDS}/{doomed}", headers=world.district.headers)
    assert response.status_code == 204
    assert response.content == b""
    error(client.get(f"{CLOUDS}/{doomed}", headers=world.district.headers), 404)
    error(client.delete(f"{CLOUDS}/{doomed}", headers=world.district.headers), 404)
    assert ids(data(client.get(CLOUDS, headers=world.district.headers))) == [world.cloud_id]
    assert ids(data(client.get(CLOUDS, headers=world.operator.headers))) == [
        world.cloud_id,
        world.other_cloud_id,
    ]


def test_delete_cloud_not_found(client: TestClient, world: World) -> None:
    err = error(client.delete(f"{CLOUDS}/{uuid.uuid4()}", headers=world.district.headers), 404)
    assert err["code"] == "not_found"


def test_delete_cloud_of_someone_else_is_404(client: TestClient, world: World) -> None:
    for headers in (world.other_district.headers, world.vendor.headers):
        response = client.delete(f"{CLOUDS}/{world.cloud_id}", headers=headers)
        assert error(response, 404)["code"] == "not_found"
        assert "Springfield" not in response.text
    assert data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers))


def test_delete_cloud_with_an_actor_token_is_refused(client: TestClient, world: World) -> None:
    installed = install(client, world)
    headers = actor_headers(client, installed)
    # The actor sees its own cloud, so it is told no (403) rather than "not found".
    assert error(client.delete(f"{CLOUDS}/{world.cloud_id}", headers=headers), 403)
    # A cloud it cannot see is 404.
    assert error(client.delete(f"{CLOUDS}/{world.other_cloud_id}", headers=headers), 404)
    assert data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers))
    assert data(client.get(f"{CLOUDS}/{world.other_cloud_id}", headers=world.operator.headers))


def test_delete_cloud_with_installed_tenants_is_409_until_uninstalled(
    client: TestClient, world: World
) -> None:
    installed = install(client, world)
    response = client.delete(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers)
    err = error(response, 409)
    assert err["code"] == "conflict"
    assert "installed tenant" in err["message"]
    assert err["details"] == {"installed_tenants": 1}
    assert data(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers))

    uninstall(client, world, installed["id"])
    response = client.delete(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers)
    assert response.status_code == 204, response.text
    error(client.get(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers), 404)
    # Its actors went with it.
    assert installed["actor_id"] not in ids(
        data(client.get(ACTORS, headers=world.operator.headers))
    )
    error(client.get(f"/v2/interop/tenants/{installed['id']}", headers=world.operator.headers), 404)


def test_delete_cloud_with_a_suspended_tenant_is_409(client: TestClient, world: World) -> None:
    installed = install(client, world)
    for action in ("activate", "suspend"):
        data(
            client.post(
                f"/v2/platform/tenants/{installed['id']}/{action}", headers=world.operator.headers
            )
        )
    error(client.delete(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers), 409)


def test_delete_cloud_removes_its_connectors(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    connector = add_connector(client, world, world.cloud_id, tmp_path / "drop")
    kept = add_connector(client, world, world.other_cloud_id, tmp_path / "kept")
    response = client.delete(f"{CLOUDS}/{world.cloud_id}", headers=world.district.headers)
    assert response.status_code == 204, response.text
    assert ids(data(client.get(ACTORS, headers=world.operator.headers))) == [kept["id"]]
    # The removed connector's credentials no longer work.
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": connector["client_id"],
            "client_secret": connector["client_secret"],
        },
    )
    assert response.status_code == 401


def test_delete_cloud_by_the_operator(client: TestClient, world: World) -> None:
    response = client.delete(f"{CLOUDS}/{world.other_cloud_id}", headers=world.operator.headers)
    assert response.status_code == 204, response.text
    assert data(client.get(CLOUDS, headers=world.other_district.headers)) == []


# --- #7 List all Actors in an Interop Cloud ------------------------------------------------------


def test_list_cloud_actors_by_the_owner(client: TestClient, world: World, tmp_path: Path) -> None:
    connector = add_connector(client, world, world.cloud_id, tmp_path / "drop")
    add_connector(client, world, world.other_cloud_id, tmp_path / "other")
    installed = install(client, world)
    install(client, world, world.other_cloud_id)
    url = f"{CLOUDS}/{world.cloud_id}/actors"

    body = client.get(url, headers=world.district.headers).json()
    assert body["paging"] == {"next": None}
    assert ids(body["data"]) == [connector["id"], installed["actor_id"]]
    assert {actor["cloud_id"] for actor in body["data"]} == {world.cloud_id}
    assert [actor["auth"]["client_secret"] for actor in body["data"]] == [None, None]

    with_secrets = data(
        client.get(url, params={"include_credentials": "true"}, headers=world.district.headers)
    )
    assert [actor["auth"]["client_secret"] for actor in with_secrets] == [
        connector["client_secret"],
        installed["client_secret"],
    ]
    assert [actor["auth"]["client_id"] for actor in with_secrets] == [
        connector["client_id"],
        installed["client_id"],
    ]


def test_list_cloud_actors_of_an_empty_cloud(client: TestClient, world: World) -> None:
    body = client.get(f"{CLOUDS}/{world.cloud_id}/actors", headers=world.district.headers).json()
    assert body == {"data": [], "paging": {"next": None}}


def test_list_cloud_actors_of_someone_else_is_404(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    connector = add_connector(client, world, world.cloud_id, tmp_path / "drop")
    install(client, world)
    url = f"{CLOUDS}/{world.cloud_id}/actors"
    for headers in (world.other_district.headers, world.vendor.headers):
        response = client.get(url, params={"include_credentials": "true"}, headers=headers)
        assert error(response, 404)["code"] == "not_found"
        assert connector["client_id"] not in response.text
        assert connector["client_secret"] not in response.text


def test_list_cloud_actors_not_found(client: TestClient, world: World) -> None:
    response = client.get(f"{CLOUDS}/{uuid.uuid4()}/actors", headers=world.district.headers)
    assert error(response, 404)["code"] == "not_found"


def test_list_cloud_actors_with_an_actor_token(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    connector = add_connector(client, world, world.cloud_id, tmp_path / "drop")
    mine = install(client, world)
    headers = actor_headers(client, mine)

    seen = data(
        client.get(
            f"{CLOUDS}/{world.cloud_id}/actors",
            params={"include_credentials": "true"},
            headers=headers,
        )
    )
    assert ids(seen) == [mine["actor_id"]]
    assert seen[0]["auth"]["client_secret"] == mine["client_secret"]
    assert connector["client_secret"] not in str(seen)
    error(client.get(f"{CLOUDS}/{world.other_cloud_id}/actors", headers=headers), 404)


def test_list_cloud_actors_operator_sees_secrets(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    connector = add_connector(client, world, world.other_cloud_id, tmp_path / "drop")
    seen = data(
        client.get(
            f"{CLOUDS}/{world.other_cloud_id}/actors",
            params={"include_credentials": "true"},
            headers=world.operator.headers,
        )
    )
    assert [(a["id"], a["auth"]["client_secret"]) for a in seen] == [
        (connector["id"], connector["client_secret"])
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"include_credentials": "perhaps"}, "query.include_credentials"),
        ({"page": "-1"}, "query.page"),
        ({"page_size": "0"}, "query.page_size"),
    ],
)
def test_list_cloud_actors_bad_query_is_400(
    client: TestClient, district: AccountRef, params: dict[str, str], field: str
) -> None:
    cloud = data(client.post(CLOUDS, json={"name": "Mine"}, headers=district.headers))
    url = f"{CLOUDS}/{cloud['id']}/actors"
    response = client.get(url, params=params, headers=district.headers)
    assert locations(error(response, 400)) == [field]
