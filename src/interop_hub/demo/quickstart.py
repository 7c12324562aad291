"""What ``interop-hub quickstart`` does, through the hub's own services: a demo district (a
synthetic OneRoster bundle collected into its cloud), a demo vendor whose integration is
installed and activated there, and the example driver (:mod:`interop_hub.demo.roster_mirror`)
run in-process until the tenant's queue is empty.

Running it again reuses what the first run made (found by name): the accounts, the cloud, its
connector, the integration and its version, the tenant. API keys are stored as digests only, so
each run issues the operator a new key to show (the earlier ones keep working).
"""

from __future__ import annotations

import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.accounts.models import Account
from interop_hub.app import create_app
from interop_hub.auth.principal import Principal
from interop_hub.client import Driver, TenantStats
from interop_hub.clouds import service as clouds
from interop_hub.clouds.models import Actor, Cloud
from interop_hub.clouds.schemas import CloudCreate
from interop_hub.demo.district import generate_district
from interop_hub.demo.roster_mirror import RosterMirror
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.integrations import service as integrations
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.integrations.schemas import IntegrationCreate
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.errors import HubError
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate, ConnectorCreate
from interop_hub.runtime import Hub
from interop_hub.tasks import projection, renderings
from interop_hub.tenants import lifecycle
from interop_hub.tenants import service as tenants
from interop_hub.tenants.models import Tenant

OPERATOR_NAME = "Demo Operator"
DISTRICT_NAME = "Springfield Demo USD"
CLOUD_NAME = "Springfield Demo"
VENDOR_NAME = "Demo Learning"
INTEGRATION_NAME = "roster-mirror"
VERSION = "1.0"
STUDENTS = 300
SEED = 1
OPERATOR = Principal(kind="account", account_type="operator")

EVERYTHING = (
    '<Attributes><Attribute Name="*"/><Attribute Name="$schools"/>'
    '<Attribute Name="$sections"/><Attribute Name="$students"/>'
    '<Attribute Name="$teachers"/></Attributes>'
)
MEMBERSHIP_TOPICS = "".join(
    f'<Topic Name="{topic}"/>' for topic in projection.SECTION_MEMBERSHIP_TOPICS
)


def full_blueprint(
    version: str = "2.0",
    topics: tuple[str, ...] = tuple(projection.OBJECT_TOPICS),
    extra: str = "",
    name: str = "acme-lms",
    title: str = "Acme LMS",
    id_space: str = "acme",
) -> str:
    """A blueprint that sees every attribute (roll-ups included) of ``topics``, and ``extra``
    topics as given (the tests' blueprint of choice too)."""
    body = "".join(f'<Topic Name="{t}">{EVERYTHING}</Topic>' for t in topics)
    return (
        f'<IntegrationBlueprint Name="{name}" Version="{version}" SchemaVersion="1.0">'
        f"<Integration><Title>{title}</Title><IdSpace>{id_space}</IdSpace></Integration>"
        f"<Topics>{body}{extra}</Topics></IntegrationBlueprint>"
    )


def demo_blueprint() -> str:
    """Every object topic with every attribute, and the section membership topics."""
    return full_blueprint(
        VERSION,
        extra=MEMBERSHIP_TOPICS,
        name=INTEGRATION_NAME,
        title="Roster Mirror",
        id_space=INTEGRATION_NAME,
    )


@dataclass
class Demo:
    """What the quickstart made and did."""

    district_dir: Path
    mirror_path: Path
    operator_api_key: str
    cloud_id: uuid.UUID
    tenant_id: uuid.UUID
    client_id: str
    client_secret: str
    collection: Ingestion
    stats: TenantStats
    objects: Counter[str] = field(default_factory=Counter)
    """The mirror's objects by topic, memberships included."""


def run(hub: Hub, demo_dir: Path, students: int = STUDENTS) -> Demo:
    """Set the demo up (or reuse it), collect its district, and run the example driver."""
    district_dir = demo_dir / "district"
    if not (district_dir / "manifest.csv").exists():
        generate_district(district_dir, students=students, seed=SEED)
    with transaction(hub.sessions) as session:
        operator_key = _api_key(session, OPERATOR_NAME, "operator")
        district = _account(session, DISTRICT_NAME, "education_agency")
        vendor = _account(session, VENDOR_NAME, "developer")
        cloud = _cloud(session, district)
        _connector(session, hub, cloud, district_dir)
        integration = _integration(session, vendor)
    collection = _collect(hub, cloud.id, district_dir)
    with transaction(hub.sessions) as session:
        tenant = _tenant(session, hub, cloud, integration)
        info = tenants.tenant_infos(session, OPERATOR, [tenant], hub.keyring)[0]
        auth = info.auth  # the operator sees the tenant's secret
        assert auth is not None
        assert auth.client_secret is not None
        client_id, client_secret = auth.client_id, auth.client_secret
    mirror = RosterMirror(demo_dir / "mirror.db")
    stats = mirror_in_process(hub, mirror, client_id, client_secret)
    return Demo(
        district_dir=district_dir,
        mirror_path=mirror.path,
        operator_api_key=operator_key,
        cloud_id=cloud.id,
        tenant_id=tenant.id,
        client_id=client_id,
        client_secret=client_secret,
        collection=collection,
        stats=stats,
        objects=mirror.counts(tenant.id),
    )


def mirror_in_process(
    hub: Hub, mirror: RosterMirror, client_id: str, client_secret: str
) -> TenantStats:
    """Run the example driver against the hub in this process until its queue is empty."""
    with warnings.catch_warnings():
        # Starlette's TestClient (an in-process httpx transport) suggests another httpx.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    with TestClient(create_app(hub), base_url="http://quickstart") as http:
        driver = Driver(
            "http://quickstart",
            transport=httpx.MockTransport(http.send),
            client_id=client_id,
            client_secret=client_secret,
        )
        mirror.register(driver)
        (stats,) = driver.drain().values()
    return stats


# --- finding or making ----------------------------------------------------------------------------


def _find_account(session: Session, name: str, type: str) -> Account | None:
    return session.scalar(select(Account).where(Account.name == name, Account.type == type))


def _account(session: Session, name: str, type: str) -> Account:
    found = _find_account(session, name, type)
    if found is None:
        created = platform.create_account(session, AccountCreate(name=name, type=type))
        found = session.get_one(Account, created.id)
    return found


def _api_key(session: Session, name: str, type: str) -> str:
    """A new API key of the account (made if need be): only a digest of the old ones is kept."""
    found = _find_account(session, name, type)
    if found is None:
        return platform.create_account(session, AccountCreate(name=name, type=type)).api_key
    return platform.create_api_key(session, found.id, "quickstart").api_key


def _cloud(session: Session, district: Account) -> Cloud:
    found = session.scalar(
        select(Cloud).where(Cloud.account_id == district.id, Cloud.name == CLOUD_NAME)
    )
    return found or clouds.create_cloud(session, district.id, CloudCreate(name=CLOUD_NAME))


def _connector(session: Session, hub: Hub, cloud: Cloud, source: Path) -> None:
    found = session.scalar(
        select(Actor.id).where(Actor.cloud_id == cloud.id, Actor.type == "connector")
    )
    if found is None:
        body = ConnectorCreate(type="oneroster-csv", source=str(source), name="Demo SIS")
        platform.create_connector(session, hub.keyring, cloud.id, body)


def _integration(session: Session, vendor: Account) -> Integration:
    principal = Principal(kind="account", account_id=vendor.id, account_type=vendor.type)
    found = session.scalar(
        select(Integration).where(
            Integration.account_id == vendor.id, Integration.name == INTEGRATION_NAME
        )
    )
    if found is None:
        body = IntegrationCreate(name=INTEGRATION_NAME, title="Roster Mirror")
        found = integrations.create_integration(session, principal, body)
    has_version = session.scalar(
        select(IntegrationVersion.id).where(
            IntegrationVersion.integration_id == found.id, IntegrationVersion.version == VERSION
        )
    )
    if has_version is None:
        integrations.create_version(session, principal, found.id, demo_blueprint().encode())
    return found


def _collect(hub: Hub, cloud_id: uuid.UUID, source: Path) -> Ingestion:
    with write_transaction(hub.sessions) as session:
        queued = ingest.queue_ingestion(session, cloud_id, str(source), now=hub.now())
        if not ingest.claim(session, queued.id, hub.now()):
            raise HubError(f"Ingestion {queued.id} was taken by another process.")
    done = ingest.run(hub, queued.id)
    if done.state not in ("success", "scheduled"):
        raise HubError(f"The demo district's collection ended {done.state}: {done.message}")
    renderings.refresh_quietly(hub, cloud_id)  # what the query API serves, stored
    return done


def _tenant(session: Session, hub: Hub, cloud: Cloud, integration: Integration) -> Tenant:
    """The demo tenant, installed and activated."""
    found = session.scalar(
        select(Tenant).where(
            Tenant.cloud_id == cloud.id,
            Tenant.integration_id == integration.id,
            Tenant.op_state != "uninstalled",
        )
    )
    if found is None:
        found = lifecycle.install(
            session,
            hub.keyring,
            cloud_id=cloud.id,
            integration_id=integration.id,
            version=VERSION,
            now=hub.now(),
        ).tenant
    if found.op_state != "active":
        found = lifecycle.transition(session, found.id, "activate", hub.now())
    return found
