"""Building test data through the services (each in its own committed unit of work)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from interop_hub.demo.quickstart import full_blueprint as full_blueprint  # the tests take it here
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate
from interop_hub.runtime import Hub
from interop_hub.tasks import projection

BLUEPRINT = """<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="{name}" Version="{version}" SchemaVersion="1.0">
  <Integration>
    <Title>{title}</Title>
    <IdSpace>acme</IdSpace>
    <Capabilities><Capability>Rostering</Capability></Capabilities>
  </Integration>
  <Topics>
    <Topic Name="School"><Attributes><Attribute Name="name"/></Attributes></Topic>
    <Topic Name="Student">
      <Attributes><Attribute Name="name"/><Attribute Name="$schools"/></Attributes>
    </Topic>
    <Topic Name="CourseSection"/>
  </Topics>
</IntegrationBlueprint>
"""


def blueprint(version: str = "1.0", name: str = "acme-lms", title: str = "Acme LMS") -> str:
    return BLUEPRINT.format(version=version, name=name, title=title)


OBJECT_TOPICS = tuple(projection.OBJECT_TOPICS)


def add_version(client: TestClient, world: World, document: str) -> dict[str, Any]:
    result: dict[str, Any] = data(
        client.post(
            f"/v2/interop/integrations/{world.integration_id}/versions",
            content=document,
            headers={**world.vendor.headers, "Content-Type": "application/xml"},
        )
    )
    return result


def basic(api_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{api_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class AccountRef:
    id: uuid.UUID
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.api_key)


def make_account(hub: Hub, type: str, name: str | None = None) -> AccountRef:
    with transaction(hub.sessions) as session:
        created = platform.create_account(
            session,
            AccountCreate(name=name or f"{type} {uuid.uuid4().hex[:6]}", type=type),
        )
    return AccountRef(created.id, created.api_key)


def data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == status
    assert {"status", "code", "message", "ext_message", "details"} <= set(body["error"])
    result: dict[str, Any] = body["error"]
    return result


@dataclass
class World:
    """An operator, two vendors, two districts, a cloud each, and an integration with a version."""

    operator: AccountRef
    vendor: AccountRef
    other_vendor: AccountRef
    district: AccountRef
    other_district: AccountRef
    cloud_id: str
    other_cloud_id: str
    integration_id: str


def make_world(client: TestClient, hub: Hub) -> World:
    operator = make_account(hub, "operator", "Ops")
    vendor = make_account(hub, "developer", "Acme")
    other_vendor = make_account(hub, "developer", "Globex")
    district = make_account(hub, "education_agency", "Springfield USD")
    other_district = make_account(hub, "education_agency", "Shelbyville USD")
    cloud = data(
        client.post("/v2/interop/clouds", json={"name": "Springfield"}, headers=district.headers)
    )
    other_cloud = data(
        client.post(
            "/v2/interop/clouds", json={"name": "Shelbyville"}, headers=other_district.headers
        )
    )
    integration = data(
        client.post(
            "/v2/interop/integrations",
            json={"name": "acme-lms", "title": "Acme LMS"},
            headers=vendor.headers,
        )
    )
    data(
        client.post(
            f"/v2/interop/integrations/{integration['id']}/versions",
            content=blueprint("1.0"),
            headers={**vendor.headers, "Content-Type": "application/xml"},
        )
    )
    return World(
        operator,
        vendor,
        other_vendor,
        district,
        other_district,
        cloud["id"],
        other_cloud["id"],
        integration["id"],
    )


def install(
    client: TestClient, world: World, cloud_id: str | None = None, version: str | None = None
) -> dict[str, Any]:
    body = {"cloud_id": cloud_id or world.cloud_id, "integration_id": world.integration_id}
    if version is not None:
        body["version"] = version
    result: dict[str, Any] = data(
        client.post(
            "/v2/platform/tenants",
            json=body,
            headers=world.operator.headers,
        ),
        201,
    )
    return result


def token(client: TestClient, client_id: str, client_secret: str) -> str:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def run_collection(hub: Hub, cloud_id: uuid.UUID | str, source: Path) -> Ingestion:
    """Queue, claim and run one collection of ``source`` into the cloud, as the worker would."""
    with write_transaction(hub.sessions) as session:
        queued = ingest.queue_ingestion(
            session, uuid.UUID(str(cloud_id)), str(source), now=hub.now()
        )
        assert ingest.claim(session, queued.id, hub.now())
    return ingest.run(hub, queued.id)


def collect(hub: Hub, cloud_id: uuid.UUID | str, source: Path) -> Ingestion:
    """:func:`run_collection`, which must succeed."""
    done = run_collection(hub, cloud_id, source)
    assert done.state == "success", done.message
    return done
