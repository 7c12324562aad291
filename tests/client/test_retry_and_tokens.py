"""Retries and token refresh against a scripted hub (issue 6, acceptance): 429 with
Retry-After, 503 and an expired token; POST never retried; connection errors retried."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
from typing import Any

import httpx
import pytest

from interop_hub.client import (
    AsyncInteropClient,
    AuthenticationError,
    InteropClient,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from interop_hub.client.models import Ingestion
from tests.client.fake_hub import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeHub,
    expired,
    failure,
    ok,
    valid_token,
)

STATE = {
    "rollover_mode_enabled": False,
    "synchronization_suspended": False,
    "setup_mode_enabled": False,
    "mass_change_pending": False,
}
TASK_ID = "6f1c1d0e-8f0a-4c4b-9a37-0c9d2f7f3a11"
OUTCOME = {"task_id": TASK_ID, "status": 200, "message": "success", "app_id": None}
CEILING = RetryPolicy(jitter=lambda ceiling: ceiling)
"""Backoff without randomness: each wait is its ceiling (0.5 s, 1 s, 2 s, ...)."""


def client(fake: FakeHub, sleeps: list[float], **options: Any) -> InteropClient:
    options.setdefault("retry", CEILING)
    if "api_key" not in options:
        options.update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return InteropClient(BASE_URL, transport=fake.transport, sleep=sleeps.append, **options)


def test_429_503_and_an_expired_token_then_success() -> None:
    fake = FakeHub(
        [
            failure(429, "too_many_requests", **{"Retry-After": "2"}),
            failure(503, "unavailable"),
            expired(),
            valid_token("t2", ok(STATE)),
        ]
    )
    sleeps: list[float] = []
    with client(fake, sleeps) as hub:
        state = hub.get_tenant_state()
    assert state.mass_change_pending is False
    assert sleeps == [2.0, 1.0]  # Retry-After as asked, then backoff (its second ceiling)
    assert fake.issued == 2  # the expired token was replaced exactly once
    assert fake.bearers() == ["Bearer t1"] * 3 + ["Bearer t2"]
    assert fake.token_requests[0] == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }


def test_retry_after_as_an_http_date() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    date = email.utils.format_datetime(when, usegmt=True)
    fake = FakeHub([failure(429, "too_many_requests", **{"Retry-After": date}), ok(STATE)])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub:
        hub.get_tenant_state()
    (slept,) = sleeps
    assert 28 <= slept <= 30


def test_a_retry_after_too_long_is_not_waited_for() -> None:
    fake = FakeHub([failure(429, "too_many_requests", **{"Retry-After": "3600"})])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub, pytest.raises(RateLimited) as caught:
        hub.get_tenant_state()
    assert caught.value.retry_after == 3600
    assert sleeps == []


def test_retries_end_with_the_last_error() -> None:
    fake = FakeHub([failure(503, "unavailable", "down for maintenance")] * 3)
    sleeps: list[float] = []
    with client(fake, sleeps, max_retries=2) as hub, pytest.raises(ServerError) as caught:
        hub.list_ingestions()
    assert (caught.value.status, caught.value.code) == (503, "unavailable")
    assert caught.value.message == "down for maintenance"
    assert sleeps == [0.5, 1.0]
    assert len(fake.requests) == 3


def test_backoff_has_full_jitter_up_to_its_ceiling() -> None:
    ceilings: list[float] = []

    def jitter(ceiling: float) -> float:
        ceilings.append(ceiling)
        return ceiling / 4

    policy = RetryPolicy(max_retries=6, backoff=1.0, max_backoff=8.0, jitter=jitter)
    fake = FakeHub([failure(500, "internal_error")] * 6 + [ok([])])
    sleeps: list[float] = []
    with client(fake, sleeps, retry=policy) as hub:
        hub.list_ingestions()
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert sleeps == [c / 4 for c in ceilings]


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_is_never_retried(status: int) -> None:
    fake = FakeHub([failure(status, "busy")])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub, pytest.raises((RateLimited, ServerError)):
        hub.create_schedule(3)
    assert (len(fake.requests), sleeps) == (1, [])


def test_neither_is_a_patch() -> None:
    fake = FakeHub([failure(503, "unavailable")])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub, pytest.raises(ServerError):
        hub.update_schedule(TASK_ID, enabled=False)
    assert (len(fake.requests), sleeps) == (1, [])


def test_an_ack_is_a_put_and_is_retried() -> None:
    fake = FakeHub([failure(502, "bad_gateway"), ok(OUTCOME)])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub:
        outcome = hub.ack_task(TASK_ID, "retry", message="later")
    assert outcome.status == 200
    assert sleeps == [0.5]
    first, second = fake.requests
    assert (first.method, first.url.path) == ("PUT", f"/v2/interop/data/tasks/{TASK_ID}/ack")
    assert first.content == second.content == b'{"status":"retry","message":"later"}'


def test_connection_errors_are_retried() -> None:
    refused = httpx.ConnectError("connection refused")
    fake = FakeHub([refused, httpx.ReadTimeout("too slow"), ok([], 200)])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub:
        assert list(hub.list_ingestions()) == []
    assert sleeps == [0.5, 1.0]


def test_connection_errors_end_in_a_transport_error() -> None:
    fake = FakeHub([httpx.ConnectError("connection refused")] * 2)
    sleeps: list[float] = []
    with client(fake, sleeps, max_retries=1) as hub, pytest.raises(TransportError) as caught:
        hub.list_ingestions()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert sleeps == [0.5]


def test_a_post_is_not_retried_after_a_connection_error() -> None:
    fake = FakeHub([httpx.ReadError("connection reset")])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub, pytest.raises(TransportError):
        hub.create_cloud("Springfield")
    assert sleeps == []


def test_a_token_refused_twice_is_an_authentication_error() -> None:
    fake = FakeHub([expired(), expired()])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub, pytest.raises(AuthenticationError) as caught:
        hub.get_tenant()
    assert caught.value.status == 401
    assert "expired" in caught.value.message
    assert fake.issued == 2  # one refresh, not more
    assert fake.bearers() == ["Bearer t1", "Bearer t2"]
    assert sleeps == []


def test_a_token_is_refreshed_before_it_expires() -> None:
    now = [0.0]
    fake = FakeHub([ok(STATE)] * 3, expires_in=100)
    with client(fake, [], clock=lambda: now[0]) as hub:
        hub.get_tenant_state()
        now[0] = 89.0  # a tenth of its lifetime before it expires: still used
        hub.get_tenant_state()
        now[0] = 91.0
        hub.get_tenant_state()
    assert fake.bearers() == ["Bearer t1", "Bearer t1", "Bearer t2"]


def test_wrong_credentials() -> None:
    fake = FakeHub([], token_script=[failure(401, "unauthorized", "not valid")])
    with client(fake, []) as hub, pytest.raises(AuthenticationError) as caught:
        hub.get_tenant()
    assert caught.value.message == "not valid"
    assert fake.requests == []


def test_a_failed_token_request_is_retried_with_the_call() -> None:
    fake = FakeHub([ok(STATE)], token_script=[failure(503, "unavailable")])
    sleeps: list[float] = []
    with client(fake, sleeps) as hub:
        hub.get_tenant_state()
    assert sleeps == [0.5]
    assert len(fake.token_requests) == 2


def test_an_api_key_is_sent_as_basic() -> None:
    key = "ihk_0123456789abcdef.secret"
    fake = FakeHub([ok(STATE), expired()])
    with client(fake, [], api_key=key) as hub:
        hub.get_tenant_state()
        with pytest.raises(AuthenticationError):
            hub.get_tenant_state()  # Basic has nothing to refresh
    expected = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    assert fake.bearers() == [expected, expected]
    assert fake.token_requests == []


def test_an_api_key_exchanged_for_tokens() -> None:
    fake = FakeHub([ok(STATE)])
    with client(fake, [], api_key="ihk_0123456789abcdef.secret", exchange_api_key=True) as hub:
        hub.get_tenant_state()
    assert fake.token_requests[0]["client_id"] == ["ihk_0123456789abcdef"]
    assert fake.token_requests[0]["client_secret"] == ["secret"]
    assert fake.bearers() == ["Bearer t1"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"client_id": "a"},
        {"api_key": "not-a-key"},
        {"api_key": "ihk_a.b", "client_id": "a", "client_secret": "b"},
    ],
)
def test_credentials_are_checked(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"client_id|API key"):
        InteropClient(BASE_URL, **options)


def test_the_async_client_retries_and_refreshes_alike() -> None:
    fake = FakeHub(
        [
            failure(429, "too_many_requests", **{"Retry-After": "2"}),
            failure(503, "unavailable"),
            expired(),
            valid_token("t2", ok(STATE)),
            failure(503, "unavailable"),
        ]
    )
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> None:
        async with AsyncInteropClient(
            BASE_URL,
            transport=fake.transport,
            sleep=sleep,
            retry=CEILING,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        ) as hub:
            assert (await hub.get_tenant_state()).setup_mode_enabled is False
            with pytest.raises(ServerError):
                await hub.create_cloud("Springfield")

    asyncio.run(main())
    assert sleeps == [2.0, 1.0]
    assert fake.issued == 2


INGESTION = {"type": "collection", "state": "success"}


def page(ids: range, next_link: str | None) -> httpx.Response:
    items = [{**INGESTION, "id": f"00000000-0000-4000-8000-{i:012d}"} for i in ids]
    return httpx.Response(200, json={"data": items, "paging": {"next": next_link}})


def test_iterators_follow_next_links_on_the_clients_own_host() -> None:
    """``paging.next`` names the hub's public address; the client fetches it where it
    reaches the hub, and credentials go nowhere else."""
    link = "https://hub.example.org/v2/interop/ingestions?page=1&page_size=2&cursor=abc"
    fake = FakeHub([page(range(2), link), page(range(2, 3), None)])

    async def main() -> list[Ingestion]:
        async with AsyncInteropClient(
            BASE_URL, transport=fake.transport, api_key="ihk_a.b", sleep=asyncio.sleep
        ) as hub:
            return [item async for item in hub.iter_ingestions(page_size=2)]

    found = asyncio.run(main())
    assert [str(i.id)[-1] for i in found] == ["0", "1", "2"]
    first, second = (str(r.url) for r in fake.requests)
    assert first == f"{BASE_URL}/v2/interop/ingestions?page_size=2"
    assert second == f"{BASE_URL}/v2/interop/ingestions?page=1&page_size=2&cursor=abc"
