"""Every model, imported in one place so that the metadata is complete (Alembic, tests)."""

from interop_hub.accounts.models import Account, ApiKey
from interop_hub.clouds.models import Actor, Cloud
from interop_hub.ingest.models import Ingestion, IngestionError, RepoChange
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.kit.db import Base
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.rollovers.models import Rollover
from interop_hub.rostering.models import PayloadView
from interop_hub.schedules.models import Schedule, ScheduleTick
from interop_hub.scoping.models import TenantScoping, TenantVisible
from interop_hub.tasks.models import Task, TaskAck, TaskPayload, TenantAppId
from interop_hub.tenants.models import Tenant, TenantAuthSession

metadata = Base.metadata

__all__ = [
    "Account",
    "Actor",
    "ApiKey",
    "Base",
    "Cloud",
    "Ingestion",
    "IngestionError",
    "Integration",
    "IntegrationVersion",
    "PayloadView",
    "RepoChange",
    "RepoLink",
    "RepoMembership",
    "RepoObject",
    "Rollover",
    "Schedule",
    "ScheduleTick",
    "Task",
    "TaskAck",
    "TaskPayload",
    "Tenant",
    "TenantAppId",
    "TenantAuthSession",
    "TenantScoping",
    "TenantVisible",
    "metadata",
]
