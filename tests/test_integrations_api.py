"""Interop API #8–#17 over HTTP: integrations, their versions and blueprints (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from interop_hub.runtime import Hub
from tests.factories import (
    AccountRef,
    World,
    basic,
    bearer,
    blueprint,
    data,
    error,
    install,
    make_account,
    make_world,
    token,
)

API = "/v2/interop/integrations"
XML = "application/xml"
RELEASE_STATES = ("unspecified", "development", "beta", "released", "deprecated")

# Each document starts on line 1, so the line numbers in the names of the cases are exact.
NOT_WELL_FORMED = """\
<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="acme-lms" Version="1.0" SchemaVersion="1.0">
  <Integration>
    <Title>Acme LMS</Titel>
  </Integration>
</IntegrationBlueprint>
"""
UNKNOWN_TOPIC_ON_LINE_9 = """\
<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="acme-lms" Version="1.0" SchemaVersion="1.0">
  <Integration>
    <Title>Acme LMS</Title>
  </Integration>
  <Topics>
    <Topic Name="School"/>
    <Topic Name="Student"/>
    <Topic Name="Gradebook"/>
  </Topics>
</IntegrationBlueprint>
"""
NO_VERSION = """\
<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="acme-lms" SchemaVersion="1.0">
  <Integration><Title>Acme LMS</Title></Integration>
</IntegrationBlueprint>
"""
WITH_ENTITY = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE IntegrationBlueprint [<!ENTITY title "Acme LMS">]>
<IntegrationBlueprint Name="acme-lms" Version="1.0" SchemaVersion="1.0">
  <Integration><Title>&title;</Title></Integration>
</IntegrationBlueprint>
"""
TEACHERS_ONLY = """\
<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="acme-lms" Version="{version}" SchemaVersion="1.0">
  <Integration><Title>Acme LMS for teachers</Title></Integration>
  <Topics>
    <Topic Name="Teacher"/>
    <Topic Name="StaffCourseSectionEnrollment"/>
  </Topics>
</IntegrationBlueprint>
"""
BROKEN_BLUEPRINTS = [
    pytest.param(NOT_WELL_FORMED, 4, "not well-formed", id="not-well-formed"),
    pytest.param(UNKNOWN_TOPIC_ON_LINE_9, 9, "Gradebook", id="unknown-topic"),
    pytest.param(NO_VERSION, 2, "Version", id="no-version"),
    pytest.param(WITH_ENTITY, 2, "DOCTYPE", id="doctype-entity"),
]


# --- helpers -------------------------------------------------------------------------------


def xml(headers: dict[str, str], content_type: str = XML) -> dict[str, str]:
    return {**headers, "Content-Type": content_type}


def create(client: TestClient, owner: AccountRef, name: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(
        client.post(API, json={"name": name, **fields}, headers=owner.headers)
    )
    return result


def upload(
    client: TestClient, owner: AccountRef, integration_id: str, document: str
) -> dict[str, Any]:
    result: dict[str, Any] = data(
        client.post(
            f"{API}/{integration_id}/versions", content=document, headers=xml(owner.headers)
        )
    )
    return result


def find(client: TestClient, who: AccountRef, integration_id: str) -> dict[str, Any]:
    result: dict[str, Any] = data(client.get(f"{API}/{integration_id}", headers=who.headers))
    return result


def versions(client: TestClient, who: AccountRef, integration_id: str) -> dict[str, dict[str, Any]]:
    listed = data(client.get(f"{API}/{integration_id}/versions", headers=who.headers))
    return {v["version"]: v for v in listed}


def stored_xml(client: TestClient, who: AccountRef, integration_id: str, version: str) -> str:
    response = client.get(
        f"{API}/{integration_id}/versions/{version}/blueprint", headers=who.headers
    )
    assert response.status_code == 200, response.text
    text: str = response.text
    return text


def uninstall(client: TestClient, world: World, tenant_id: str) -> None:
    done = data(
        client.post(f"/v2/platform/tenants/{tenant_id}/uninstall", headers=world.operator.headers)
    )
    assert done["status"]["op_state"] == "uninstalled"


Op = tuple[str, str, dict[str, Any]]


def id_ops(integration_id: str, version: str = "1.0") -> list[Op]:
    """Every operation on one integration (the ones that take an id), with a valid body."""
    base = f"{API}/{integration_id}"
    one = f"{base}/versions/{version}"
    return [
        ("GET", base, {}),
        ("PATCH", base, {"json": {"name": "hijacked", "title": "Hijacked"}}),
        ("GET", f"{base}/versions", {}),
        ("POST", f"{base}/versions", {"content": blueprint("9.0"), "content_type": XML}),
        ("PATCH", one, {"json": {"title": "Hijacked", "release_state": "deprecated"}}),
        (
            "PUT",
            f"{one}/blueprint",
            {"content": TEACHERS_ONLY.format(version=version), "content_type": XML},
        ),
        ("GET", f"{one}/blueprint", {}),
        ("DELETE", one, {}),
        ("DELETE", base, {}),
    ]


def all_ops(integration_id: str) -> list[Op]:
    return [
        ("GET", API, {}),
        ("POST", API, {"json": {"name": "new-one"}}),
        *id_ops(integration_id),
    ]


def call(client: TestClient, op: Op, headers: dict[str, str]) -> Response:
    method, url, kwargs = op
    kwargs = dict(kwargs)
    content_type = kwargs.pop("content_type", None)
    sent = {**headers, "Content-Type": content_type} if content_type else headers
    response: Response = client.request(method, url, headers=sent, **kwargs)
    return response


def assert_untouched(client: TestClient, world: World) -> None:
    """The world's integration is exactly as make_world left it."""
    found = find(client, world.vendor, world.integration_id)
    assert (found["name"], found["title"], found["version"]) == ("acme-lms", "Acme LMS", "1.0")
    listed = versions(client, world.vendor, world.integration_id)
    assert list(listed) == ["1.0"]
    assert listed["1.0"]["release_state"] == "unspecified"
    assert listed["1.0"]["title"] == "Acme LMS"
    assert listed["1.0"]["topics"] == ["School", "Student", "Section"]
    assert stored_xml(client, world.vendor, world.integration_id, "1.0") == blueprint("1.0")


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


# --- credentials -----------------------------------------------------------------------------


def test_missing_credentials_are_401_with_a_challenge(client: TestClient, world: World) -> None:
    for op in all_ops(world.integration_id):
        response = call(client, op, {})
        body = error(response, 401)
        assert body["code"] == "unauthorized", op
        challenge = response.headers.get("WWW-Authenticate", "")
        assert "Bearer" in challenge, op
        assert "Basic" in challenge, op
    assert_untouched(client, world)


def test_wrong_credentials_are_401(client: TestClient, world: World) -> None:
    key_id = world.vendor.api_key.split(".", 1)[0]
    wrong = [
        basic("ihk_doesnotexist.nosecret"),
        basic(f"{key_id}.wrong-secret"),
        bearer("not-a-token"),
        {"Authorization": "Token abc"},
    ]
    for headers in wrong:
        for op in all_ops(world.integration_id):
            response = call(client, op, headers)
            error(response, 401)
            assert "WWW-Authenticate" in response.headers, (headers, op)
    assert_untouched(client, world)


# --- not found and not yours -----------------------------------------------------------------


def test_unknown_integration_is_404_on_every_operation(client: TestClient, world: World) -> None:
    missing = str(uuid.uuid4())
    for who in (world.vendor, world.operator):
        for op in id_ops(missing):
            body = error(call(client, op, who.headers), 404)
            assert body["code"] == "not_found", op


def test_unknown_version_is_404(client: TestClient, world: World) -> None:
    one = f"{API}/{world.integration_id}/versions/9.9"
    for who in (world.vendor, world.operator):
        responses = [
            client.patch(one, json={"title": "x"}, headers=who.headers),
            client.put(f"{one}/blueprint", content=blueprint("9.9"), headers=xml(who.headers)),
            client.get(f"{one}/blueprint", headers=who.headers),
            client.delete(one, headers=who.headers),
        ]
        for response in responses:
            body = error(response, 404)
            assert body["code"] == "not_found"
            assert "9.9" in body["message"]
    assert_untouched(client, world)


def test_malformed_integration_id_is_400(client: TestClient, world: World) -> None:
    for op in id_ops("not-a-uuid"):
        body = error(call(client, op, world.vendor.headers), 400)
        assert "id" in body["message"], op


def test_another_accounts_integration_is_404_and_does_not_leak(
    client: TestClient, world: World
) -> None:
    # Even the district the integration is installed in does not see the integration itself.
    install(client, world)
    for who in (world.other_vendor, world.district, world.other_district):
        for op in id_ops(world.integration_id):
            response = call(client, op, who.headers)
            body = error(response, 404)
            assert body["code"] == "not_found", op
            assert "acme-lms" not in response.text, op
            assert "Acme LMS" not in response.text, op
        assert data(client.get(API, headers=who.headers)) == []
        assert data(client.get(API, params={"name": "acme-lms"}, headers=who.headers)) == []
    assert_untouched(client, world)


def test_a_tenant_of_another_integration_cannot_see_this_one(
    client: TestClient, hub: Hub, world: World
) -> None:
    other = create(client, world.other_vendor, "globex-sis")
    upload(client, world.other_vendor, other["id"], blueprint("1.0", name="globex-sis"))
    tenant = data(
        client.post(
            "/v2/platform/tenants",
            json={"cloud_id": world.cloud_id, "integration_id": other["id"]},
            headers=world.operator.headers,
        ),
        201,
    )
    actor = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    for op in id_ops(world.integration_id):
        response = call(client, op, actor)
        assert response.status_code == 404, (op, response.text)
        assert "acme-lms" not in response.text
    assert [i["id"] for i in data(client.get(API, headers=actor))] == [other["id"]]
    assert_untouched(client, world)


# --- createIntegration -----------------------------------------------------------------------


def test_create_integration(client: TestClient, hub: Hub) -> None:
    vendor = make_account(hub, "developer")
    created = create(client, vendor, "acme-lms", title="Acme LMS")
    assert created["name"] == "acme-lms"
    assert created["title"] == "Acme LMS"
    assert created["version"] is None
    assert created["account_id"] == str(vendor.id)
    uuid.UUID(created["id"])
    assert find(client, vendor, created["id"]) == created
    bare = create(client, vendor, "bare")
    assert bare["title"] is None


def test_only_vendors_create_integrations(client: TestClient, hub: Hub, world: World) -> None:
    tenant = install(client, world)
    actor = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    for headers in (world.district.headers, world.operator.headers, actor):
        body = error(client.post(API, json={"name": "sneaky"}, headers=headers), 403)
        assert body["code"] == "forbidden"
    assert data(client.get(API, params={"name": "sneaky"}, headers=world.operator.headers)) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"title": "No name"}, "name", id="missing-name"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": None}, "name", id="null-name"),
        pytest.param({"name": "x" * 201}, "name", id="long-name"),
        pytest.param({"name": "ok", "title": "t" * 201}, "title", id="long-title"),
        pytest.param({"name": "ok", "version": ""}, "version", id="empty-version"),
    ],
)
def test_create_integration_bad_input_is_400_naming_the_field(
    client: TestClient, hub: Hub, body: dict[str, Any], field: str
) -> None:
    vendor = make_account(hub, "developer")
    found = error(client.post(API, json=body, headers=vendor.headers), 400)
    assert field in found["message"]
    assert any(d["location"] == f"body.{field}" for d in found["details"]), found["details"]
    assert data(client.get(API, headers=vendor.headers)) == []


def test_create_integration_rejects_a_body_that_is_not_json(client: TestClient, hub: Hub) -> None:
    vendor = make_account(hub, "developer")
    error(
        client.post(
            API, content=b"name=acme", headers={**vendor.headers, "Content-Type": "text/plain"}
        ),
        400,
    )
    error(
        client.post(
            API,
            content=b"{not json",
            headers={**vendor.headers, "Content-Type": "application/json"},
        ),
        400,
    )
    assert data(client.get(API, headers=vendor.headers)) == []


def test_duplicate_name_is_409_only_within_one_account(client: TestClient, world: World) -> None:
    body = error(client.post(API, json={"name": "acme-lms"}, headers=world.vendor.headers), 409)
    assert "acme-lms" in body["message"]
    assert [i["id"] for i in data(client.get(API, headers=world.vendor.headers))] == [
        world.integration_id
    ]

    theirs = create(client, world.other_vendor, "acme-lms", title="Globex's Acme")
    assert theirs["id"] != world.integration_id
    assert theirs["account_id"] == str(world.other_vendor.id)
    assert find(client, world.vendor, world.integration_id)["title"] == "Acme LMS"


# --- listIntegrations ------------------------------------------------------------------------


def test_list_integrations_is_scoped_and_filters_by_name(client: TestClient, world: World) -> None:
    mine = [world.integration_id] + [
        create(client, world.vendor, name)["id"] for name in ("acme-sis", "acme-gradebook")
    ]
    theirs = create(client, world.other_vendor, "acme-sis")["id"]

    response = client.get(API, headers=world.vendor.headers)
    assert response.status_code == 200
    assert set(response.json()) == {"data", "paging"}
    assert response.json()["paging"] == {"next": None}
    listed = response.json()["data"]
    assert [i["id"] for i in listed] == mine
    assert [i["name"] for i in listed] == ["acme-lms", "acme-sis", "acme-gradebook"]
    assert listed[0]["version"] == "1.0"

    named = data(client.get(API, params={"name": "acme-sis"}, headers=world.vendor.headers))
    assert [i["id"] for i in named] == [mine[1]]
    named = data(client.get(API, params={"name": "acme-sis"}, headers=world.other_vendor.headers))
    assert [i["id"] for i in named] == [theirs]
    assert data(client.get(API, params={"name": "nope"}, headers=world.vendor.headers)) == []
    assert data(client.get(API, params={"name": "acme"}, headers=world.vendor.headers)) == []

    everything = data(client.get(API, headers=world.operator.headers))
    assert [i["id"] for i in everything] == [*mine, theirs]
    assert data(client.get(API, headers=world.district.headers)) == []


def test_a_tenant_actor_lists_just_its_integration(client: TestClient, world: World) -> None:
    create(client, world.vendor, "acme-sis")
    tenant = install(client, world)
    actor = bearer(token(client, tenant["client_id"], tenant["client_secret"]))

    listed = data(client.get(API, headers=actor))
    assert [(i["id"], i["name"], i["version"]) for i in listed] == [
        (world.integration_id, "acme-lms", "1.0")
    ]
    assert data(client.get(API, params={"name": "acme-sis"}, headers=actor)) == []
    assert data(client.get(f"{API}/{world.integration_id}", headers=actor))["name"] == "acme-lms"
    listed_versions = data(client.get(f"{API}/{world.integration_id}/versions", headers=actor))
    assert [v["version"] for v in listed_versions] == ["1.0"]


def test_a_tenant_actor_cannot_change_its_integration(client: TestClient, world: World) -> None:
    tenant = install(client, world)
    actor = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    base = f"{API}/{world.integration_id}"
    responses = [
        client.patch(base, json={"title": "Mine now"}, headers=actor),
        client.delete(base, headers=actor),
        client.post(f"{base}/versions", content=blueprint("2.0"), headers=xml(actor)),
        client.patch(f"{base}/versions/1.0", json={"release_state": "beta"}, headers=actor),
        client.put(
            f"{base}/versions/1.0/blueprint",
            content=TEACHERS_ONLY.format(version="1.0"),
            headers=xml(actor),
        ),
        client.delete(f"{base}/versions/1.0", headers=actor),
    ]
    for response in responses:
        assert error(response, 403)["code"] == "forbidden"
    assert_untouched(client, world)


def test_list_integrations_pages(client: TestClient, hub: Hub) -> None:
    vendor = make_account(hub, "developer")
    ids = [create(client, vendor, f"product-{n}")["id"] for n in range(5)]

    response = client.get(API, params={"page_size": 2}, headers=vendor.headers)
    first = response.json()
    assert [i["id"] for i in first["data"]] == ids[:2]
    assert first["paging"]["next"]

    second = client.get(first["paging"]["next"], headers=vendor.headers).json()
    assert [i["id"] for i in second["data"]] == ids[2:4]
    third = client.get(second["paging"]["next"], headers=vendor.headers).json()
    assert [i["id"] for i in third["data"]] == ids[4:]
    assert third["paging"]["next"] is None

    by_page = data(client.get(API, params={"page": 1, "page_size": 2}, headers=vendor.headers))
    assert [i["id"] for i in by_page] == ids[2:4]
    past_end = data(client.get(API, params={"page": 9, "page_size": 2}, headers=vendor.headers))
    assert past_end == []

    for params in ({"page_size": 0}, {"page": -1}, {"page": "x"}, {"cursor": "!!!"}):
        error(client.get(API, params=params, headers=vendor.headers), 400)


# --- createIntegrationVersion ----------------------------------------------------------------


def test_create_version_from_a_blueprint(client: TestClient, hub: Hub) -> None:
    vendor = make_account(hub, "developer")
    integration = create(client, vendor, "acme-lms")
    assert integration["version"] is None

    first = upload(client, vendor, integration["id"], blueprint("1.0", title="Acme LMS One"))
    assert first["version"] == "1.0"
    assert first["title"] == "Acme LMS One"
    assert first["release_state"] == "unspecified"
    assert first["integration_id"] == integration["id"]
    assert first["topics"] == ["School", "Student", "Section"]
    assert find(client, vendor, integration["id"])["version"] == "1.0"

    second = upload(client, vendor, integration["id"], TEACHERS_ONLY.format(version="2.0"))
    assert second["version"] == "2.0"
    assert second["title"] == "Acme LMS for teachers"
    assert second["topics"] == ["Teacher", "TeacherSectionEnrollment"]
    # The integration keeps the version it had: only the first upload sets it.
    assert find(client, vendor, integration["id"])["version"] == "1.0"

    listed = versions(client, vendor, integration["id"])
    assert list(listed) == ["1.0", "2.0"]
    assert listed["1.0"] == first
    assert listed["2.0"] == second


@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/xml", "application/xml; charset=utf-8"]
)
def test_create_version_accepts_xml_content_types(
    client: TestClient, world: World, content_type: str
) -> None:
    created = data(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=blueprint("2.0"),
            headers=xml(world.vendor.headers, content_type),
        )
    )
    assert created["version"] == "2.0"
    assert stored_xml(client, world.vendor, world.integration_id, "2.0") == blueprint("2.0")


def test_create_version_accepts_a_json_string(client: TestClient, world: World) -> None:
    created = data(
        client.post(
            f"{API}/{world.integration_id}/versions",
            json=blueprint("2.0", title="From JSON"),
            headers=world.vendor.headers,
        )
    )
    assert (created["version"], created["title"]) == ("2.0", "From JSON")
    assert stored_xml(client, world.vendor, world.integration_id, "2.0") == blueprint(
        "2.0", title="From JSON"
    )
    for body in ({"blueprint": blueprint("3.0")}, [blueprint("3.0")]):
        error(
            client.post(
                f"{API}/{world.integration_id}/versions", json=body, headers=world.vendor.headers
            ),
            400,
        )
    error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=b'"unterminated',
            headers={**world.vendor.headers, "Content-Type": "application/json"},
        ),
        400,
    )
    assert list(versions(client, world.vendor, world.integration_id)) == ["1.0", "2.0"]


def test_duplicate_version_is_409(client: TestClient, world: World) -> None:
    body = error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=TEACHERS_ONLY.format(version="1.0"),
            headers=xml(world.vendor.headers),
        ),
        409,
    )
    assert "1.0" in body["message"]
    assert_untouched(client, world)


@pytest.mark.parametrize(("document", "line", "words"), BROKEN_BLUEPRINTS)
def test_a_broken_blueprint_is_400_naming_the_line(
    client: TestClient, world: World, document: str, line: int, words: str
) -> None:
    body = error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=document,
            headers=xml(world.vendor.headers),
        ),
        400,
    )
    assert body["code"] == "invalid_blueprint"
    assert f"line {line}" in body["message"]
    assert words in body["message"]
    assert body["details"]["line"] == line
    assert_untouched(client, world)


def test_a_blueprint_whose_version_or_title_is_too_long_is_400(
    client: TestClient, world: World
) -> None:
    url = f"{API}/{world.integration_id}/versions"
    too_long = [
        (blueprint("9" * 65), 2, "Version"),
        (blueprint("2.0", title="T" * 201), 4, "Title"),
    ]
    for document, line, words in too_long:
        for response in (
            client.post(url, content=document, headers=xml(world.vendor.headers)),
            client.put(
                f"{url}/1.0/blueprint",
                content=document.replace("2.0", "1.0"),
                headers=xml(world.vendor.headers),
            ),
        ):
            body = error(response, 400)
            assert body["code"] == "invalid_blueprint"
            assert f"line {line}" in body["message"]
            assert words in body["message"]
            assert body["details"]["line"] == line
    assert_untouched(client, world)

    # The longest allowed values fit the columns on every backend.
    longest = data(
        client.post(
            url,
            content=blueprint("9" * 64, title="T" * 200),
            headers=xml(world.vendor.headers),
        )
    )
    assert (longest["version"], longest["title"]) == ("9" * 64, "T" * 200)
    assert versions(client, world.vendor, world.integration_id)["9" * 64]["title"] == "T" * 200


def test_a_version_that_cannot_be_addressed_is_400(client: TestClient, world: World) -> None:
    body = error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=blueprint("2024/25"),
            headers=xml(world.vendor.headers),
        ),
        400,
    )
    assert body["code"] == "invalid_blueprint"
    assert body["details"]["line"] == 2
    assert "'/'" in body["message"]
    assert_untouched(client, world)


@pytest.mark.parametrize("content", [b"", b"   \n"])
def test_an_empty_blueprint_is_400(client: TestClient, world: World, content: bytes) -> None:
    body = error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=content,
            headers=xml(world.vendor.headers),
        ),
        400,
    )
    assert body["code"] == "invalid_blueprint"
    assert "empty" in body["message"]
    assert_untouched(client, world)


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "image/png", "application/pdf"]
)
def test_create_version_with_a_wrong_content_type_is_415(
    client: TestClient, world: World, content_type: str
) -> None:
    body = error(
        client.post(
            f"{API}/{world.integration_id}/versions",
            content=blueprint("2.0"),
            headers=xml(world.vendor.headers, content_type),
        ),
        415,
    )
    assert body["code"] == "unsupported_media_type"
    assert content_type in body["message"]
    assert_untouched(client, world)


def test_a_blueprint_over_the_size_limit_is_413(client: TestClient, hub: Hub, world: World) -> None:
    hub.settings.max_blueprint_bytes = 2048
    small = blueprint("2.0")
    assert len(small.encode()) < 2048
    big = blueprint("3.0").replace("<Topics>", f"<!-- {'x' * 2048} --><Topics>")
    url = f"{API}/{world.integration_id}/versions"

    body = error(client.post(url, content=big, headers=xml(world.vendor.headers)), 413)
    assert body["code"] == "payload_too_large"
    assert "2048" in body["message"]
    error(client.post(url, json=big, headers=world.vendor.headers), 413)
    error(client.put(f"{url}/1.0/blueprint", content=big, headers=xml(world.vendor.headers)), 413)
    assert data(client.post(url, content=small, headers=xml(world.vendor.headers)))["version"] == (
        "2.0"
    )
    assert list(versions(client, world.vendor, world.integration_id)) == ["1.0", "2.0"]


def test_the_size_limit_holds_without_a_content_length(
    client: TestClient, hub: Hub, world: World
) -> None:
    hub.settings.max_blueprint_bytes = 2048
    url = f"{API}/{world.integration_id}/versions"

    def chunked(document: str) -> Iterator[bytes]:
        raw = document.encode()
        for start in range(0, len(raw), 256):
            yield raw[start : start + 256]

    big = blueprint("3.0").replace("<Topics>", f"<!-- {'x' * 4096} --><Topics>")
    response = client.post(url, content=chunked(big), headers=xml(world.vendor.headers))
    assert error(response, 413)["code"] == "payload_too_large"
    response = client.post(
        url, content=chunked(blueprint("2.0")), headers=xml(world.vendor.headers)
    )
    assert data(response)["version"] == "2.0"
    assert stored_xml(client, world.vendor, world.integration_id, "2.0") == blueprint("2.0")


# --- updateIntegrationVersion ----------------------------------------------------------------


def test_update_version_title_and_release_state(client: TestClient, world: World) -> None:
    upload(client, world.vendor, world.integration_id, blueprint("2.0", title="Two"))
    url = f"{API}/{world.integration_id}/versions/1.0"
    response = client.patch(
        url,
        json={"title": "Acme LMS (classic)", "release_state": "released"},
        headers=world.vendor.headers,
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    listed = versions(client, world.vendor, world.integration_id)
    assert (listed["1.0"]["title"], listed["1.0"]["release_state"]) == (
        "Acme LMS (classic)",
        "released",
    )
    assert (listed["2.0"]["title"], listed["2.0"]["release_state"]) == ("Two", "unspecified")

    # A partial update changes only what it names; the same version name is allowed.
    response = client.patch(
        url, json={"version": "1.0", "release_state": "deprecated"}, headers=world.vendor.headers
    )
    assert response.status_code == 204, response.text
    listed = versions(client, world.vendor, world.integration_id)
    assert (listed["1.0"]["title"], listed["1.0"]["release_state"]) == (
        "Acme LMS (classic)",
        "deprecated",
    )
    assert client.patch(url, json={}, headers=world.vendor.headers).status_code == 204
    assert versions(client, world.vendor, world.integration_id)["1.0"] == listed["1.0"]


@pytest.mark.parametrize("state", RELEASE_STATES)
def test_every_release_state_is_accepted(client: TestClient, world: World, state: str) -> None:
    url = f"{API}/{world.integration_id}/versions/1.0"
    if state == "unspecified":  # move away first so that the change is visible
        client.patch(url, json={"release_state": "beta"}, headers=world.vendor.headers)
    response = client.patch(url, json={"release_state": state}, headers=world.vendor.headers)
    assert response.status_code == 204, response.text
    assert versions(client, world.vendor, world.integration_id)["1.0"]["release_state"] == state


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"release_state": "retired"}, "release_state", id="unknown-state"),
        pytest.param({"release_state": "Released"}, "release_state", id="wrong-case"),
        pytest.param({"release_state": 3}, "release_state", id="number"),
        pytest.param({"title": "t" * 201}, "title", id="long-title"),
        pytest.param({"version": ""}, "version", id="empty-version"),
    ],
)
def test_update_version_bad_input_is_400(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    found = error(
        client.patch(
            f"{API}/{world.integration_id}/versions/1.0", json=body, headers=world.vendor.headers
        ),
        400,
    )
    assert field in found["message"]
    assert_untouched(client, world)


def test_a_version_cannot_be_renamed(client: TestClient, world: World) -> None:
    body = error(
        client.patch(
            f"{API}/{world.integration_id}/versions/1.0",
            json={"version": "1.1", "title": "Renamed"},
            headers=world.vendor.headers,
        ),
        400,
    )
    assert "version" in body["message"]
    assert_untouched(client, world)


# --- updateIntegrationBlueprint --------------------------------------------------------------


def test_replace_blueprint(client: TestClient, world: World) -> None:
    url = f"{API}/{world.integration_id}/versions/1.0"
    client.patch(url, json={"release_state": "beta"}, headers=world.vendor.headers)
    document = TEACHERS_ONLY.format(version="1.0")

    replaced = data(
        client.put(f"{url}/blueprint", content=document, headers=xml(world.vendor.headers))
    )
    assert replaced["version"] == "1.0"
    assert replaced["title"] == "Acme LMS for teachers"
    assert replaced["topics"] == ["Teacher", "TeacherSectionEnrollment"]
    assert replaced["release_state"] == "beta"
    assert replaced["integration_id"] == world.integration_id
    assert versions(client, world.vendor, world.integration_id) == {"1.0": replaced}

    response = client.get(f"{url}/blueprint", headers=world.vendor.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == document
    assert find(client, world.vendor, world.integration_id)["version"] == "1.0"


def test_get_blueprint_returns_the_document_as_uploaded(client: TestClient, world: World) -> None:
    document = blueprint("2.0").replace("<Topics>", "<!-- kept verbatim -->\n  <Topics>")
    upload(client, world.vendor, world.integration_id, document)
    response = client.get(
        f"{API}/{world.integration_id}/versions/2.0/blueprint", headers=world.vendor.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == document


def test_replace_blueprint_with_another_version_is_400(client: TestClient, world: World) -> None:
    body = error(
        client.put(
            f"{API}/{world.integration_id}/versions/1.0/blueprint",
            content=TEACHERS_ONLY.format(version="2.0"),
            headers=xml(world.vendor.headers),
        ),
        400,
    )
    assert body["code"] == "invalid_blueprint"
    assert "2.0" in body["message"]
    assert "1.0" in body["message"]
    assert_untouched(client, world)


@pytest.mark.parametrize(("document", "line", "words"), BROKEN_BLUEPRINTS)
def test_replace_with_a_broken_blueprint_is_400_naming_the_line(
    client: TestClient, world: World, document: str, line: int, words: str
) -> None:
    body = error(
        client.put(
            f"{API}/{world.integration_id}/versions/1.0/blueprint",
            content=document,
            headers=xml(world.vendor.headers),
        ),
        400,
    )
    assert body["code"] == "invalid_blueprint"
    assert f"line {line}" in body["message"]
    assert words in body["message"]
    assert body["details"]["line"] == line
    assert_untouched(client, world)


def test_replace_blueprint_with_a_wrong_content_type_is_415(
    client: TestClient, world: World
) -> None:
    body = error(
        client.put(
            f"{API}/{world.integration_id}/versions/1.0/blueprint",
            content=TEACHERS_ONLY.format(version="1.0"),
            headers=xml(world.vendor.headers, "image/png"),
        ),
        415,
    )
    assert body["code"] == "unsupported_media_type"
    assert_untouched(client, world)


# --- deleteIntegrationVersion ----------------------------------------------------------------


def test_delete_version(client: TestClient, world: World) -> None:
    upload(client, world.vendor, world.integration_id, blueprint("2.0"))
    url = f"{API}/{world.integration_id}/versions/2.0"
    response = client.delete(url, headers=world.vendor.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert list(versions(client, world.vendor, world.integration_id)) == ["1.0"]
    error(client.get(f"{url}/blueprint", headers=world.vendor.headers), 404)
    error(client.delete(url, headers=world.vendor.headers), 404)
    error(client.patch(url, json={"title": "x"}, headers=world.vendor.headers), 404)
    # Deleting a version that is not the integration's version leaves that alone.
    assert find(client, world.vendor, world.integration_id)["version"] == "1.0"
    # The name is free again.
    assert upload(client, world.vendor, world.integration_id, blueprint("2.0"))["version"] == "2.0"


def test_an_installed_version_cannot_be_deleted(client: TestClient, world: World) -> None:
    tenant = install(client, world)
    url = f"{API}/{world.integration_id}/versions/1.0"
    body = error(client.delete(url, headers=world.vendor.headers), 409)
    assert "installed" in body["message"]
    assert body["details"] == {"installed_tenants": 1}
    assert_untouched(client, world)

    uninstall(client, world, tenant["id"])
    assert client.delete(url, headers=world.vendor.headers).status_code == 204
    assert versions(client, world.vendor, world.integration_id) == {}
    assert find(client, world.vendor, world.integration_id)["version"] is None


def test_deleting_the_current_version_moves_the_integrations_version(
    client: TestClient, world: World
) -> None:
    upload(client, world.vendor, world.integration_id, blueprint("2.0"))
    base = f"{API}/{world.integration_id}/versions"
    assert find(client, world.vendor, world.integration_id)["version"] == "1.0"

    assert client.delete(f"{base}/1.0", headers=world.vendor.headers).status_code == 204
    assert find(client, world.vendor, world.integration_id)["version"] == "2.0"

    assert client.delete(f"{base}/2.0", headers=world.vendor.headers).status_code == 204
    assert find(client, world.vendor, world.integration_id)["version"] is None

    # The next upload becomes the integration's version again.
    upload(client, world.vendor, world.integration_id, blueprint("3.0"))
    assert find(client, world.vendor, world.integration_id)["version"] == "3.0"


# --- findIntegration / updateIntegration / deleteIntegration ----------------------------------


def test_find_integration(client: TestClient, world: World) -> None:
    found = find(client, world.vendor, world.integration_id)
    assert found["id"] == world.integration_id
    assert (found["name"], found["title"], found["version"]) == ("acme-lms", "Acme LMS", "1.0")
    assert found["account_id"] == str(world.vendor.id)
    assert find(client, world.operator, world.integration_id) == found


def test_update_integration(client: TestClient, world: World) -> None:
    upload(client, world.vendor, world.integration_id, blueprint("2.0"))
    url = f"{API}/{world.integration_id}"
    response = client.patch(
        url,
        json={"name": "acme-classroom", "title": "Acme Classroom", "version": "2.0"},
        headers=world.vendor.headers,
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    found = find(client, world.vendor, world.integration_id)
    assert (found["name"], found["title"], found["version"]) == (
        "acme-classroom",
        "Acme Classroom",
        "2.0",
    )
    named = data(client.get(API, params={"name": "acme-classroom"}, headers=world.vendor.headers))
    assert [i["id"] for i in named] == [world.integration_id]
    assert data(client.get(API, params={"name": "acme-lms"}, headers=world.vendor.headers)) == []

    # Only what the body names changes; a null title clears it; keeping the name is fine.
    assert client.patch(url, json={"title": None}, headers=world.vendor.headers).status_code == 204
    assert (
        client.patch(url, json={"name": "acme-classroom"}, headers=world.vendor.headers).status_code
        == 204
    )
    found = find(client, world.vendor, world.integration_id)
    assert (found["name"], found["title"], found["version"]) == ("acme-classroom", None, "2.0")

    # The old name is free again.
    assert create(client, world.vendor, "acme-lms")["name"] == "acme-lms"


def test_update_integration_to_a_missing_version_is_404(client: TestClient, world: World) -> None:
    body = error(
        client.patch(
            f"{API}/{world.integration_id}",
            json={"title": "Changed", "version": "9.9"},
            headers=world.vendor.headers,
        ),
        404,
    )
    assert "9.9" in body["message"]
    assert_untouched(client, world)


def test_rename_to_a_taken_name_is_409(client: TestClient, world: World) -> None:
    create(client, world.vendor, "acme-sis")
    create(client, world.other_vendor, "globex-lms")
    url = f"{API}/{world.integration_id}"
    body = error(client.patch(url, json={"name": "acme-sis"}, headers=world.vendor.headers), 409)
    assert "acme-sis" in body["message"]
    assert_untouched(client, world)
    # A name taken only in another account is fine.
    assert (
        client.patch(url, json={"name": "globex-lms"}, headers=world.vendor.headers).status_code
        == 204
    )
    assert find(client, world.vendor, world.integration_id)["name"] == "globex-lms"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": "x" * 201}, "name", id="long-name"),
        pytest.param({"title": "t" * 201}, "title", id="long-title"),
        pytest.param({"version": ""}, "version", id="empty-version"),
        pytest.param({"name": ["acme"]}, "name", id="list-name"),
    ],
)
def test_update_integration_bad_input_is_400(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    found = error(
        client.patch(f"{API}/{world.integration_id}", json=body, headers=world.vendor.headers), 400
    )
    assert field in found["message"]
    assert_untouched(client, world)


def test_delete_integration(client: TestClient, world: World) -> None:
    upload(client, world.vendor, world.integration_id, blueprint("2.0"))
    url = f"{API}/{world.integration_id}"
    response = client.delete(url, headers=world.vendor.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    error(client.get(url, headers=world.vendor.headers), 404)
    error(client.get(f"{url}/versions", headers=world.vendor.headers), 404)
    error(client.get(f"{url}/versions/1.0/blueprint", headers=world.vendor.headers), 404)
    error(client.delete(url, headers=world.vendor.headers), 404)
    assert data(client.get(API, headers=world.vendor.headers)) == []
    # The name is free again, and the new integration starts without versions.
    again = create(client, world.vendor, "acme-lms")
    assert again["id"] != world.integration_id
    assert versions(client, world.vendor, again["id"]) == {}


def test_an_installed_integration_cannot_be_deleted(client: TestClient, world: World) -> None:
    tenant = install(client, world)
    url = f"{API}/{world.integration_id}"
    body = error(client.delete(url, headers=world.vendor.headers), 409)
    assert "installed" in body["message"]
    assert body["details"] == {"installed_tenants": 1}
    error(client.delete(url, headers=world.operator.headers), 409)
    assert_untouched(client, world)

    uninstall(client, world, tenant["id"])
    assert client.delete(url, headers=world.vendor.headers).status_code == 204
    error(client.get(url, headers=world.vendor.headers), 404)
    error(client.get(url, headers=world.operator.headers), 404)


# --- the operator ----------------------------------------------------------------------------


def test_the_operator_reads_and_changes_any_integration(client: TestClient, world: World) -> None:
    ops = world.operator.headers
    base = f"{API}/{world.integration_id}"
    assert data(client.get(base, headers=ops))["name"] == "acme-lms"
    named = data(client.get(API, params={"name": "acme-lms"}, headers=ops))
    assert [i["id"] for i in named] == [world.integration_id]

    created = data(client.post(f"{base}/versions", content=blueprint("2.0"), headers=xml(ops)))
    assert created["version"] == "2.0"
    assert (
        client.patch(
            f"{base}/versions/2.0", json={"release_state": "released", "title": "Two"}, headers=ops
        ).status_code
        == 204
    )
    replaced = data(
        client.put(
            f"{base}/versions/1.0/blueprint",
            content=TEACHERS_ONLY.format(version="1.0"),
            headers=xml(ops),
        )
    )
    assert replaced["topics"] == ["Teacher", "TeacherSectionEnrollment"]
    assert stored_xml(client, world.operator, world.integration_id, "1.0") == (
        TEACHERS_ONLY.format(version="1.0")
    )
    assert (
        client.patch(base, json={"title": "Acme by Ops", "version": "2.0"}, headers=ops).status_code
        == 204
    )

    # The vendor sees what the operator did.
    found = find(client, world.vendor, world.integration_id)
    assert (found["name"], found["title"], found["version"]) == ("acme-lms", "Acme by Ops", "2.0")
    listed = versions(client, world.vendor, world.integration_id)
    assert (listed["2.0"]["title"], listed["2.0"]["release_state"]) == ("Two", "released")
    assert listed["1.0"]["title"] == "Acme LMS for teachers"

    assert client.delete(f"{base}/versions/1.0", headers=ops).status_code == 204
    assert list(versions(client, world.vendor, world.integration_id)) == ["2.0"]
    assert client.delete(base, headers=ops).status_code == 204
    error(client.get(base, headers=world.vendor.headers), 404)


def test_first_upload_replaces_a_current_version_that_was_never_uploaded(
    client: TestClient, hub: Hub
) -> None:
    vendor = make_account(hub, "developer")
    created = create(client, vendor, "planned", version="9.9")
    assert created["version"] == "9.9"
    upload(client, vendor, created["id"], blueprint("1.0"))
    assert find(client, vendor, created["id"])["version"] == "1.0"
    upload(client, vendor, created["id"], blueprint("2.0"))
    assert find(client, vendor, created["id"])["version"] == "1.0"  # a real version stays
