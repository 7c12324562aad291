"""A test driver that behaves like the drivers in the wild.

It gets a token by posting its client id and secret in the form body, polls ``/tasks``, handles
each task type, acknowledges in batches (``success``, ``error`` or ``retry`` as told), and keeps
a local copy of the tenant's roster: data events are applied by ``object_id`` in ``sequence``
order, a full sync (``initial``, ``resend``, ``rollover``) is the whole state,
``TENANT_UNINSTALLED`` empties the copy. With an ``authenticator`` it answers ``authenticate``
tasks: it checks their credentials and confirms or refuses the session with ``PATCH
/v2/interop/tenant/application``. Works with any ``httpx.Client`` (the in-process
``TestClient`` or a real server).

Run as a script (``python -m tests.driver URL CLIENT_ID CLIENT_SECRET``), it is a driver that
dies holding a batch: see :func:`hold_a_batch`.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

DATA = "/v2/interop/data"
LISTS = (
    "/rostering/orgs",
    "/rostering/persons",
    "/rostering/courses",
    "/rostering/sections",
    "/rostering/terms",
    "/grades/gradingCategories",
)
FULL_SYNC_ORIGINS = ("initial", "resend", "rollover")
"""Syncs that are the whole state: what the copy holds and they do not send is gone."""
APPLICATION = "/v2/interop/tenant/application"
Verdict = Callable[[dict[str, Any]], str | None]
"""Given a task, the ack status to answer instead of ``success`` (or None)."""
Authenticator = Callable[[dict[str, Any]], tuple[str, str | None]]
"""Given an ``authenticate`` event (its ``data`` holds the credentials to check), the answer to
its session: ``confirmed`` or ``error``, and a message."""


@dataclass
class Driver:
    http: httpx.Client
    client_id: str | None = None
    client_secret: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Fixed credentials (e.g. a vendor's Basic API key) instead of a client id and secret."""
    tenant_id: str | None = None
    verdict: Verdict = lambda _task: None
    app_id: Callable[[dict[str, Any]], str | None] = lambda _task: None
    copy: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # object id → object_type
    seen: list[dict[str, Any]] = field(default_factory=list)  # every event, as delivered
    acked: list[tuple[str, str]] = field(default_factory=list)  # (task id, status) accepted
    lifecycle: list[str] = field(default_factory=list)
    strict: bool = True
    """Assert that the hub accepts every ack; False collects the refused ones in ``failed``."""
    failed: list[dict[str, Any]] = field(default_factory=list)  # refused acks (404 and the like)
    authenticator: Authenticator | None = None
    sessions: list[tuple[str, str]] = field(default_factory=list)  # (session id, answer) given
    _token: str | None = None
    _full_sync: set[str] | None = None

    # --- HTTP -----------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        if self.headers:
            return self.headers
        if self._token is None:
            response = self.http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, headers=self._auth(), **kwargs)
        if response.status_code == 401 and not self.headers:
            self._token = None  # expired: get a new token once
            response = self.http.request(method, path, headers=self._auth(), **kwargs)
        return response

    # --- the loop -------------------------------------------------------------------------------

    def poll(self) -> list[dict[str, Any]]:
        """One poll: handle the batch in order and acknowledge it in one request."""
        params = {"tenant_id": self.tenant_id} if self.tenant_id else {}
        response = self.call("GET", f"{DATA}/tasks", params=params)
        assert response.status_code == 200, response.text
        tasks: list[dict[str, Any]] = response.json()["data"]
        acks = [self.handle(task) for task in tasks]
        if acks:
            answer = self.call("PUT", f"{DATA}/tasks/ack", json=acks)
            assert answer.status_code == 200, answer.text
            failed: list[dict[str, Any]] = answer.json()["data"]["failed"]
            if self.strict:
                assert failed == [], answer.text
            self.failed += failed
            refused = {f["task_id"] for f in failed}
            self.acked += [(a["task_id"], a["status"]) for a in acks if a["task_id"] not in refused]
        return tasks

    def drain(self, max_polls: int = 10_000) -> int:
        """Poll until a poll returns nothing; returns the number of tasks handled."""
        handled = 0
        for _ in range(max_polls):
            batch = self.poll()
            if not batch:
                return handled
            handled += len(batch)
        raise AssertionError("the queue did not drain")

    def handle(self, task: dict[str, Any]) -> dict[str, Any]:
        kind = task["type"]
        event = task[kind]
        status = self.verdict(task)
        ack: dict[str, Any] = {"task_id": event["id"], "status": status or "success"}
        if status is not None:
            ack["message"] = f"told to answer {status}"
            return ack
        self.seen.append(task)
        if kind == "lifecycle_event":
            self.lifecycle.append(event["action"])
            if event["action"] == "TENANT_UNINSTALLED":
                self.copy.clear()
                self.types.clear()
        elif kind == "sync_event":
            self._sync(event)
        elif kind == "data_event":
            self._data(event)
            if (app_id := self.app_id(task)) is not None:
                ack["$sys.app_id"] = app_id
        elif kind == "authenticate" and self.authenticator is not None:
            self._authenticate(event, self.authenticator)
        return ack

    def _authenticate(self, event: dict[str, Any], authenticator: Authenticator) -> None:
        """Answer the task's session. The PATCH names the session, so an answer to one that a
        newer session superseded is refused (409) rather than applied to the newer one."""
        answer, message = authenticator(event)
        body = {
            "auth_state_pending": answer,
            "auth_message": message,
            "auth_session_id_pending": event["session_id"],
        }
        response = self.call("PATCH", APPLICATION, json=body)
        assert response.status_code == 204, response.text
        self.sessions.append((event["session_id"], answer))

    def application(self) -> dict[str, Any]:
        """The tenant application (#34), as the driver reads it."""
        response = self.call("GET", APPLICATION)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["data"]
        return found

    def _sync(self, event: dict[str, Any]) -> None:
        full = event["origin"] in FULL_SYNC_ORIGINS
        if event["action"] == "SYNC_START" and full:
            self._full_sync = set()
        elif event["action"] == "SYNC_END" and full and self._full_sync is not None:
            for object_id in set(self.copy) - self._full_sync:
                del self.copy[object_id]
                self.types.pop(object_id, None)
            self._full_sync = None

    def _data(self, event: dict[str, Any]) -> None:
        object_id = event["object_id"]
        if event["action"] == "DELETE":
            self.copy.pop(object_id, None)
            self.types.pop(object_id, None)
            return
        self.copy[object_id] = event["data"]
        self.types[object_id] = event["object_type"]
        if self._full_sync is not None:
            self._full_sync.add(object_id)

    # --- comparing ------------------------------------------------------------------------------

    def objects(self) -> dict[str, dict[str, Any]]:
        """The copy's objects (memberships aside), without ``$sys.updated_at``."""
        return {
            object_id: comparable(data)
            for object_id, data in self.copy.items()
            if not self.types[object_id].endswith(("Enrollment", "Membership"))
        }

    def query_api(self) -> dict[str, dict[str, Any]]:
        """Everything the query API shows the tenant, without ``$sys.updated_at``."""
        found: dict[str, dict[str, Any]] = {}
        for path in LISTS:
            url: str | None = f"{DATA}{path}"
            while url is not None:
                response = self.call("GET", url)
                assert response.status_code == 200, response.text
                body = response.json()
                for item in body["data"]:
                    found[item["$sys"]["id"]] = comparable(item)
                url = body["paging"]["next"]
        return found


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """``$sys.updated_at`` moves with any change of the Repository object, also with changes the
    tenant cannot see (which send it nothing): it is left out of comparisons."""
    result = dict(data)
    result["$sys"] = {k: v for k, v in data["$sys"].items() if k != "updated_at"}
    return result


def new_id() -> str:
    return str(uuid.uuid4())


def hold_a_batch(base_url: str, client_id: str, client_secret: str) -> None:
    """Poll one batch from the server at ``base_url``, print its tasks' ``[id, sequence]``
    pairs as one JSON line, and never acknowledge them: wait until killed (or until stdin
    closes)."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        response = Driver(http, client_id, client_secret).call("GET", f"{DATA}/tasks")
        response.raise_for_status()
        tasks = response.json()["data"]
        batch = [[task[task["type"]]["id"], task[task["type"]]["sequence"]] for task in tasks]
        print(json.dumps(batch), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    hold_a_batch(*sys.argv[1:4])
