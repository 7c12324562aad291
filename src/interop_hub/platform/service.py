"""Operator actions, shared by the CLI and the ``/v2/platform`` routes.

Each takes the caller's session and returns the public shape; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.accounts import service as accounts
from interop_hub.accounts.models import Account
from interop_hub.clouds import service as clouds
from interop_hub.clouds.schemas import CloudCreate, CloudOut
from interop_hub.kit import crypto
from interop_hub.kit.errors import BadRequest
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.platform.schemas import (
    AccountCreate,
    AccountOut,
    AccountWithKey,
    ApiKeyOut,
    ConnectorCreate,
    ConnectorOut,
    InstalledTenant,
    QueuedTaskOut,
    ResendOut,
    TenantInstall,
)
from interop_hub.tasks import service as tasks
from interop_hub.tasks.models import Task, TaskAck
from interop_hub.tasks.schemas import TaskAckOut
from interop_hub.tenants import lifecycle


def account_out(account: Account) -> AccountOut:
    return AccountOut.model_validate(account, from_attributes=True)


def create_account(session: Session, body: AccountCreate) -> AccountWithKey:
    account = accounts.create_account(
        session, name=body.name, type=body.type, timezone=body.timezone, userdata=body.userdata
    )
    api_key = accounts.issue_api_key(session, account, label="initial")
    return AccountWithKey(**account_out(account).model_dump(), api_key=api_key)


def create_api_key(session: Session, account_id: uuid.UUID, label: str | None) -> ApiKeyOut:
    account = accounts.get_account(session, account_id)
    return ApiKeyOut(account_id=account.id, api_key=accounts.issue_api_key(session, account, label))


def create_cloud(session: Session, account_id: uuid.UUID, body: CloudCreate) -> CloudOut:
    account = accounts.get_account(session, account_id)
    if account.type == "operator":
        raise BadRequest("Clouds belong to district or vendor accounts, not operator accounts.")
    return clouds.cloud_out(clouds.create_cloud(session, account.id, body))


def create_connector(
    session: Session, keyring: crypto.Keyring, cloud_id: uuid.UUID, body: ConnectorCreate
) -> ConnectorOut:
    actor, secret = clouds.create_connector(
        session, keyring, cloud_id, connector_type=body.type, source=body.source, name=body.name
    )
    return ConnectorOut(
        id=actor.id,
        cloud_id=actor.cloud_id,
        name=actor.name,
        type=actor.type,
        connector_type=body.type,
        source=(actor.source or {})["path"],
        client_id=actor.client_id,
        client_secret=secret,
    )


def install_tenant(
    session: Session, keyring: crypto.Keyring, body: TenantInstall, now: dt.datetime
) -> InstalledTenant:
    done = lifecycle.install(
        session,
        keyring,
        cloud_id=body.cloud_id,
        integration_id=body.integration_id,
        version=body.version,
        now=now,
    )
    tenant = done.tenant
    return InstalledTenant(
        id=tenant.id,
        actor_id=tenant.actor_id,
        client_id=done.client_id,
        client_secret=done.client_secret,
        cloud_id=tenant.cloud_id,
        integration_id=tenant.integration_id,
        version=done.version,
        name=tenant.name,
        op_state=tenant.op_state,
    )


def resend(session: Session, tenant_id: uuid.UUID, now: dt.datetime) -> ResendOut:
    """Send the tenant everything it sees again, as one sync with ``origin`` = ``resend``."""
    return ResendOut(tenant_id=tenant_id, tasks_queued=lifecycle.resend(session, tenant_id, now))


def tenant_tasks(session: Session, tenant_id: uuid.UUID, req: PageRequest) -> Page[QueuedTaskOut]:
    """A tenant's queued tasks, oldest first, without leasing them. The admin queue of the Data
    API (``tasks.service.admin_list``) spans every tenant its caller may read and shows tasks as
    drivers receive them; the operator looks at one tenant, and at its delivery state too.
    ``data``, ``changes`` and ``app_id`` are those its driver receives (``tasks.service.render``:
    the tenant's projection)."""
    lifecycle.get_tenant(session, tenant_id)
    stmt = select(Task).where(Task.tenant_id == tenant_id)
    page = paginate(session, stmt, [Task.sequence], req)
    events = tasks.render(session, page.items, "flat")  # flat: the event's fields at the top
    return Page(
        [_queued(task, event) for task, event in zip(page.items, events, strict=True)], page.next
    )


def _queued(task: Task, event: dict[str, Any]) -> QueuedTaskOut:
    return QueuedTaskOut(
        id=task.id,
        tenant_id=task.tenant_id,
        sequence=task.sequence,
        type=task.type,
        action=task.action,
        origin=task.origin,
        group_id=task.group_id,
        object_id=task.object_id,
        object_type=task.object_type,
        label=task.label,
        app_id=event.get("app_id"),
        data=event.get("data"),
        changes=event.get("changes"),
        created_at=task.created_at,
        deliveries=task.deliveries,
        leased_until=task.leased_until,
        available_at=task.available_at,
    )


def task_history(session: Session, tenant_id: uuid.UUID, req: PageRequest) -> Page[TaskAckOut]:
    """A tenant's acknowledgement history (acks and admin deletes), newest first."""
    lifecycle.get_tenant(session, tenant_id)
    stmt = select(TaskAck).where(TaskAck.tenant_id == tenant_id)
    page = paginate(session, stmt, [TaskAck.id], req, descending=True)
    return Page([TaskAckOut.model_validate(ack) for ack in page.items], page.next)
