"""Interop API #36–#51: a tenant's rollovers, its cloud's collection schedules, and ingestions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interop_hub.client.answers import Page, count, nothing, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import (
    Call,
    Id,
    delete,
    get,
    get_page,
    interop,
    json_of,
    paging,
    patch,
    post,
)
from interop_hub.client.models import Ingestion, Rollover, Schedule

ROLLOVERS = "/tenant/rollovers"
SCHEDULES = "/tenant/schedules"


class ScheduleOperations:
    @operation
    def list_rollovers(
        self, *, sort: str | None = None, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Rollover]]:
        """#36 List Rollovers (``sort`` by a field, ``-`` first for descending: ``-name``)."""
        return get_page(interop(ROLLOVERS), Rollover, paging(page, page_size, sort=sort))

    @operation
    def create_rollover(self, rollover: Rollover | Mapping[str, Any]) -> Call[Rollover]:
        """#37 Create a rollover (409 when it overlaps another)."""
        return post(interop(ROLLOVERS), one(Rollover), json_of(rollover))

    @operation
    def count_rollovers(self) -> Call[int]:
        """#38 Count Rollovers."""
        return get(interop(ROLLOVERS + "/count"), count)

    @operation
    def find_rollover(self, rollover_id: Id) -> Call[Rollover]:
        """#39 Get a Rollover."""
        return get(interop(ROLLOVERS + "/{}", rollover_id), one(Rollover))

    @operation
    def update_rollover(
        self, rollover_id: Id, rollover: Rollover | Mapping[str, Any]
    ) -> Call[Rollover]:
        """#40 Update a rollover (409 when it would overlap another)."""
        url = interop(ROLLOVERS + "/{}", rollover_id)
        return Call("PUT", url, one(Rollover), json=json_of(rollover))

    @operation
    def delete_rollover(self, rollover_id: Id) -> Call[None]:
        """#41 Delete a rollover (409 while it is active)."""
        return delete(interop(ROLLOVERS + "/{}", rollover_id))

    @operation
    def list_schedules(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Schedule]]:
        """#42 List Schedules of the caller's cloud."""
        return get_page(interop(SCHEDULES), Schedule, paging(page, page_size))

    @operation
    def create_schedule(self, hour: int) -> Call[Schedule]:
        """#43 Create a collection Schedule at ``hour`` (0–23, UTC); 409 on an overlap."""
        return post(interop(SCHEDULES), one(Schedule), {"hour": hour})

    @operation
    def run_schedule(self, schedule_id: Id) -> Call[None]:
        """#44 Run a schedule now (400: not runnable on demand; 409: paused, or an ingestion
        is pending)."""
        return post(interop(SCHEDULES + "/{}/run", schedule_id), nothing, {})

    @operation
    def count_schedules(self) -> Call[int]:
        """#45 Count Schedules."""
        return get(interop(SCHEDULES + "/count"), count)

    @operation
    def find_schedule(self, schedule_id: Id) -> Call[Schedule]:
        """#46 Find a Schedule by id."""
        return get(interop(SCHEDULES + "/{}", schedule_id), one(Schedule))

    @operation
    def update_schedule(self, schedule_id: Id, *, enabled: bool) -> Call[None]:
        """#47 Update Schedule: only ``enabled`` may change."""
        return patch(interop(SCHEDULES + "/{}", schedule_id), {"enabled": enabled})

    @operation
    def delete_schedule(self, schedule_id: Id) -> Call[None]:
        """#48 Delete Schedule."""
        return delete(interop(SCHEDULES + "/{}", schedule_id))

    @operation
    def list_ingestions(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Ingestion]]:
        """#49 List Ingestions of the clouds the caller sees."""
        return get_page(interop("/ingestions"), Ingestion, paging(page, page_size))

    @operation
    def count_ingestions(self) -> Call[int]:
        """#50 Count Ingestions."""
        return get(interop("/ingestions/count"), count)

    @operation
    def find_ingestion(self, ingestion_id: Id) -> Call[Ingestion]:
        """#51 Find an Ingestion by id."""
        return get(interop("/ingestions/{}", ingestion_id), one(Ingestion))

    iter_rollovers = pages(list_rollovers)
    iter_schedules = pages(list_schedules)
    iter_ingestions = pages(list_ingestions)
