"""The SDK against the app in-process: ``connect`` makes sync clients whose requests
``forward`` hands to the ``TestClient``; the async client uses ``httpx.ASGITransport``.
:func:`install` builds, through the SDK, what most tests need: a district's cloud with a small
district collected into it, a vendor's integration, and its tenant installed and activated by the
operator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.generate_district import generate_district
from fastapi.testclient import TestClient

from interop_hub.client import InteropClient
from interop_hub.client.models import Cloud, Integration, IntegrationVersion
from interop_hub.runtime import Hub
from tests.factories import AccountRef, blueprint, make_account
from tests.test_driver_e2e import collect

BASE_URL = "http://testserver"
STUDENTS = 12


@pytest.fixture(scope="module")
def district_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sdk-district") / "district"
    generate_district(root, students=STUDENTS, seed=21)
    return root


@pytest.fixture
def forward(client: TestClient) -> httpx.MockTransport:
    """A transport that hands each request to the app, in-process."""
    return httpx.MockTransport(client.send)


@dataclass(frozen=True)
class Accounts:
    operator: AccountRef
    vendor: AccountRef
    district: AccountRef


def make_accounts(hub: Hub) -> Accounts:
    return Accounts(
        make_account(hub, "operator", "Ops"),
        make_account(hub, "developer", "Acme"),
        make_account(hub, "education_agency", "Springfield USD"),
    )


@pytest.fixture
def accounts(hub: Hub) -> Accounts:
    return make_accounts(hub)


Connect = Callable[..., InteropClient]
"""Credentials (``client_id``/``client_secret``, ``api_key``, ...) → a client of the hub."""


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"the SDK slept {seconds} s against the app in-process")


@pytest.fixture
def connect(forward: httpx.MockTransport) -> Connect:
    def sdk(**credentials: Any) -> InteropClient:
        return InteropClient(BASE_URL, transport=forward, sleep=no_sleep, **credentials)

    return sdk


@dataclass(frozen=True)
class Installation:
    cloud: Cloud
    integration: Integration
    version: IntegrationVersion
    tenant_id: uuid.UUID
    client_id: str
    client_secret: str


def install(
    connect: Connect,
    accounts: Accounts,
    hub: Hub,
    district_dir: Path,
    document: str = blueprint("1.0"),
) -> Installation:
    """A cloud (as the district) with the district collected into it, an integration and a
    version of it described by ``document`` (as the vendor, with a token for its API key), and a
    tenant of it installed and activated (as the operator, through ``/v2/platform``)."""
    with (
        connect(api_key=accounts.district.api_key) as district,
        connect(api_key=accounts.vendor.api_key, exchange_api_key=True) as vendor,
        connect(api_key=accounts.operator.api_key) as operator,
    ):
        cloud = district.create_cloud("Springfield", userdata="sis: oneroster")
        collect(hub, str(cloud.id), district_dir)
        integration = vendor.create_integration("acme-lms", title="Acme LMS")
        version = vendor.create_integration_version(integration.id, document)
        body = {"cloud_id": str(cloud.id), "integration_id": str(integration.id)}
        tenant = operator.request("POST", "/v2/platform/tenants", json=body)["data"]
        operator.request("POST", f"/v2/platform/tenants/{tenant['id']}/activate")
    return Installation(
        cloud,
        integration,
        version,
        uuid.UUID(tenant["id"]),
        tenant["client_id"],
        tenant["client_secret"],
    )
