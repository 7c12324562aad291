"""The tenant application (Interop API #34–#35) and its authentication workflow (DESIGN §3.7).

A district (through the operator surface) enters credentials for the vendor's application:
they become ``auth_props_pending``, ``auth_state_pending`` turns ``updating`` under a new
``auth_session_id_pending``, the session is recorded in ``tenant_auth_sessions``, and an
``authenticate`` task carrying the session id and the pending properties is queued. The
tenant's driver checks them against its application and answers with #35:

- ``confirmed``: the pending properties become the active ones (``auth_state`` confirmed), the
  session closes, and delivery paused by a ``reauthenticate`` ack resumes;
- ``error``: the session closes with the driver's message; the active properties stay.

#35 is refused (409) unless a session is ``updating``. A district opening a new session while
one is updating supersedes it (its authenticate task, if still queued, is deleted).

Credentials are encrypted at rest: in the tenant row (``app_auth_enc``, ``app_auth_pending_enc``)
and, sealed, in the authenticate task's payload (:mod:`interop_hub.tasks.sealed`). The tenant's
own driver reads them in clear (#34 and the task, as the spec gives them); every other view
masks the properties the blueprint does not declare public.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import Cloud
from interop_hub.integrations.blueprint import AuthSpec, Blueprint
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit import crypto
from interop_hub.kit.errors import BadRequest, Conflict, NotFound
from interop_hub.kit.ids import new_id
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.tasks import queue, sealed
from interop_hub.tasks import service as tasks
from interop_hub.tasks.models import Task
from interop_hub.tenants.models import Tenant, TenantAuthSession
from interop_hub.tenants.schemas import (
    ApplicationSettings,
    ApplicationUpdate,
    AuthSessionOut,
    TenantApplication,
)

OUTCOMES = ("confirmed", "error")


def auth_spec(blueprint: dict[str, Any]) -> AuthSpec | None:
    """The authentication a stored (parsed) blueprint declares."""
    return Blueprint.from_json(blueprint).auth


def auth_type(spec: AuthSpec | None) -> str:
    return "unspecified" if spec is None else spec.type


def _spec_of(session: Session, tenant: Tenant) -> AuthSpec | None:
    blueprint = session.scalar(
        select(IntegrationVersion.blueprint).where(IntegrationVersion.id == tenant.version_id)
    )
    assert blueprint is not None  # a foreign key
    return auth_spec(blueprint)


def masked(spec: AuthSpec | None, props: dict[str, str]) -> dict[str, str]:
    """``props`` with every value masked but those of properties the blueprint declares
    public (``Secret="false"``)."""
    public = {p.name for p in spec.properties if not p.secret} if spec is not None else set()
    return {name: value if name in public else sealed.MASK for name, value in props.items()}


def view(
    session: Session, keyring: crypto.Keyring, tenant: Tenant, *, reveal: bool
) -> TenantApplication:
    """#34. ``reveal``: the tenant's own driver, which gets its credentials in clear; anyone
    else gets the secrets masked."""
    spec = _spec_of(session, tenant)
    active = sealed.decrypt_props(keyring, tenant.app_auth_enc)
    pending = sealed.decrypt_props(keyring, tenant.app_auth_pending_enc)
    if not reveal:
        active, pending = masked(spec, active), masked(spec, pending)
    account_id = session.scalar(select(Cloud.account_id).where(Cloud.id == tenant.cloud_id))
    assert account_id is not None  # a foreign key
    return TenantApplication(
        account_id=account_id,
        tenant_id=tenant.id,
        deliver_tasks=tenant.deliver_tasks,
        validate_tasks=tenant.validate_tasks,
        auth_type=auth_type(spec),
        auth_state=tenant.auth_state,
        options=dict(tenant.app_options or {}),
        auth_props=active,
        auth_session_id_pending=tenant.auth_session_id_pending,
        auth_message=tenant.auth_message,
        auth_props_pending=pending,
        auth_state_pending=tenant.auth_state_pending,
    )


def _locked(session: Session, tenant_id: uuid.UUID) -> Tenant:
    """The tenant, its row locked until the transaction ends (sessions open and close one at a
    time), read afresh."""
    tenant = session.scalar(
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return tenant


def _check_names(spec: AuthSpec | None, props: dict[str, str]) -> None:
    declared = [p.name for p in spec.properties] if spec is not None else []
    unknown = sorted(set(props) - set(declared)) if declared else []
    if unknown:
        raise BadRequest(
            f"Unknown application properties: {', '.join(unknown)}; the blueprint declares "
            f"{', '.join(declared)}.",
            code="unknown_property",
            details={"unknown": unknown, "declared": declared},
        )


# --- the district's side (operator surface and CLI) ---------------------------------------------


def open_session(
    session: Session,
    keyring: crypto.Keyring,
    tenant_id: uuid.UUID,
    props: dict[str, str],
    by: Principal,
    now: dt.datetime,
) -> TenantAuthSession:
    """Set the application's pending credentials and ask the driver to check them."""
    tenant = _locked(session, tenant_id)
    if tenant.op_state == "uninstalled":
        raise Conflict(f"Tenant {tenant.id} is uninstalled.")
    spec = _spec_of(session, tenant)
    if spec is None or spec.type == "none":
        raise Conflict(
            f"The blueprint of tenant {tenant.id}'s integration version declares no "
            "authentication for its application (<Authentication Type=...> in <Integration>).",
            code="no_authentication",
        )
    _check_names(spec, props)
    if tenant.auth_state_pending == "updating" and tenant.auth_session_id_pending is not None:
        _supersede(session, tenant.auth_session_id_pending, by, now)
    session_id = new_id()
    tenant.app_auth_pending_enc = sealed.encrypt_props(keyring, props)
    tenant.auth_state_pending = "updating"
    tenant.auth_session_id_pending = session_id
    tenant.auth_message = None
    event = queue.Event(
        "authenticate", data=sealed.seal(keyring, props), session_id=str(session_id)
    )
    queue.enqueue(session, tenant.id, [event], now)
    task_id = session.scalar(
        select(Task.id).where(Task.tenant_id == tenant.id, Task.session_id == str(session_id))
    )
    record = TenantAuthSession(
        id=session_id,
        tenant_id=tenant.id,
        state="updating",
        properties=sorted(props),
        task_id=task_id,
        opened_by=by.subject[:64],
        opened_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _supersede(session: Session, session_id: uuid.UUID, by: Principal, now: dt.datetime) -> None:
    """Close a session that a newer one replaces; its authenticate task, if still queued, is
    deleted (the history keeps it as ``deleted``)."""
    record = session.get(TenantAuthSession, session_id)
    if record is None:
        return
    record.state = "superseded"
    record.message = "superseded by a newer session"
    record.closed_by = by.subject[:64]
    record.closed_at = now
    if record.task_id is not None and session.get(Task, record.task_id) is not None:
        tasks.admin_delete(session, by, record.task_id, now)


def change_settings(
    session: Session, keyring: crypto.Keyring, tenant_id: uuid.UUID, body: ApplicationSettings
) -> TenantApplication:
    """The district's settings: ``deliver_tasks`` (false holds every task, in order, until it is
    true again), ``validate_tasks`` and ``options``."""
    tenant = _locked(session, tenant_id)
    if body.deliver_tasks is not None:
        tenant.deliver_tasks = body.deliver_tasks
    if body.validate_tasks is not None:
        tenant.validate_tasks = body.validate_tasks
    if body.options is not None:
        tenant.app_options = dict(body.options)
    session.flush()
    return view(session, keyring, tenant, reveal=False)


def sessions(session: Session, tenant_id: uuid.UUID, req: PageRequest) -> Page[AuthSessionOut]:
    """The tenant's authentication sessions, newest first."""
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    stmt = select(TenantAuthSession).where(TenantAuthSession.tenant_id == tenant_id)
    page = paginate(session, stmt, [TenantAuthSession.id], req, descending=True)
    return Page([AuthSessionOut.model_validate(s) for s in page.items], page.next)


# --- the driver's side (#35) --------------------------------------------------------------------


def update(
    session: Session,
    keyring: crypto.Keyring,
    tenant_id: uuid.UUID,
    body: ApplicationUpdate,
    by: Principal,
    now: dt.datetime,
) -> None:
    """#35: the driver's answer to the authentication session that is ``updating``."""
    outcome = body.auth_state_pending
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(
            f"auth_state_pending can only be set to 'confirmed' or 'error', not {outcome!r}.",
            code="invalid_auth_state",
        )
    tenant = _locked(session, tenant_id)
    spec = _spec_of(session, tenant)
    _check_names(spec, body.auth_props_pending or {})
    current = tenant.auth_session_id_pending
    if tenant.auth_state_pending != "updating" or current is None:
        raise Conflict(
            "The application can be updated only while an authentication session is "
            f"'updating'; auth_state_pending is {tenant.auth_state_pending!r}.",
            code="no_auth_session",
        )
    if body.auth_session_id_pending is not None and body.auth_session_id_pending != current:
        raise Conflict(
            f"Session {body.auth_session_id_pending} is not the one updating ({current}).",
            code="stale_auth_session",
        )
    if body.auth_props_pending:
        pending = sealed.decrypt_props(keyring, tenant.app_auth_pending_enc)
        tenant.app_auth_pending_enc = sealed.encrypt_props(
            keyring, pending | dict(body.auth_props_pending)
        )
    if "auth_message" in body.model_fields_set:
        tenant.auth_message = body.auth_message
    if outcome is not None:
        _close(session, tenant, current, outcome, by, now)
    session.flush()


def _close(
    session: Session,
    tenant: Tenant,
    session_id: uuid.UUID,
    outcome: str,
    by: Principal,
    now: dt.datetime,
) -> None:
    if outcome == "confirmed":
        tenant.app_auth_enc = tenant.app_auth_pending_enc
        tenant.app_auth_pending_enc = None
        tenant.auth_state = "confirmed"
        if tenant.delivery_paused == "reauthenticate":
            tenant.delivery_paused = None
    tenant.auth_state_pending = outcome
    tenant.auth_session_id_pending = None
    record = session.get(TenantAuthSession, session_id)
    if record is not None:
        record.state = outcome
        record.message = tenant.auth_message
        record.closed_by = by.subject[:64]
        record.closed_at = now
