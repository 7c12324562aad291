"""The principal of a request: an account (vendor, district, operator) or an actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    kind: Literal["account", "actor"]
    account_id: uuid.UUID | None = None
    account_type: str | None = None
    actor_id: uuid.UUID | None = None
    cloud_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None
    api_key_id: str | None = None  # the account API key this principal authenticated with

    @property
    def is_operator(self) -> bool:
        return self.kind == "account" and self.account_type == "operator"

    @property
    def is_vendor(self) -> bool:
        return self.kind == "account" and self.account_type == "developer"

    @property
    def is_district(self) -> bool:
        return self.kind == "account" and self.account_type == "education_agency"

    @property
    def is_actor(self) -> bool:
        return self.kind == "actor"

    @property
    def subject(self) -> str:
        """Who acts, as tokens and the task history record it. The command line acts as an
        operator without an account of its own: ``account:operator``."""
        ident = self.account_id if self.kind == "account" else self.actor_id
        return f"{self.kind}:{ident or self.account_type}"
