"""Error answers of the app in-process, as the SDK's exceptions, with the envelope's fields."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from interop_hub.client import (
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    InteropError,
    NotFound,
    PermissionDenied,
    ServerError,
    UnexpectedResponse,
)
from interop_hub.client.answers import decoded
from interop_hub.client.errors import error_from_response
from interop_hub.runtime import Hub
from tests.client.conftest import Accounts, Connect, install


def test_the_envelope_of_each_error(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)
    with (
        connect(api_key=accounts.district.api_key) as district,
        connect(api_key=accounts.vendor.api_key) as vendor,
        connect(client_id=site.client_id, client_secret=site.client_secret) as tenant,
    ):
        # 404: not there, not visible to the caller, and no such operation.
        with pytest.raises(NotFound) as missing:
            tenant.find_person(uuid.uuid4())
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        assert missing.value.message
        assert missing.value.ext_message is None
        with pytest.raises(NotFound):
            vendor.find_cloud(site.cloud.id)
        with pytest.raises(NotFound):
            tenant.request("GET", "/v2/interop/tenant/not-served")

        # 400, with the invalid fields in details.
        with pytest.raises(BadRequest) as invalid:
            district.create_cloud("")
        assert invalid.value.status == 400
        assert invalid.value.code == "bad_request"
        assert [d["location"] for d in invalid.value.details] == ["body.name"]

        # 403: an account's credentials where an installed actor's are needed.
        with pytest.raises(PermissionDenied) as denied:
            vendor.list_schedules()
        assert (denied.value.status, denied.value.code) == (403, "actor_required")
        with pytest.raises(PermissionDenied):
            vendor.request("GET", "/v2/platform/accounts")

        # 409: a cloud with a tenant installed cannot be deleted; two schedules at one hour.
        with pytest.raises(Conflict) as conflict:
            district.delete_cloud(site.cloud.id)
        assert conflict.value.status == 409
        tenant.create_schedule(5)
        with pytest.raises(Conflict):
            tenant.create_schedule(5)

    with connect(client_id=site.client_id, client_secret="wrong") as stranger:
        with pytest.raises(AuthenticationError) as refused:
            stranger.get_tenant()
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert isinstance(refused.value, APIError)
        assert isinstance(refused.value, InteropError)
        assert refused.value.response is not None


def test_an_answer_without_the_envelope() -> None:
    request = httpx.Request("GET", "http://hub.test/v2/interop/clouds")
    page = httpx.Response(502, text="<html>Bad Gateway</html>", request=request)
    error = error_from_response(page)
    assert isinstance(error, ServerError)
    assert (error.status, error.code, error.message) == (
        502,
        "http_502",
        "<html>Bad Gateway</html>",
    )
    other = error_from_response(httpx.Response(418, request=request))
    assert type(other) is APIError
    assert other.message == "I'm a teapot"


def test_a_success_whose_body_is_not_json_is_an_unexpected_response() -> None:
    request = httpx.Request("GET", "http://hub.test/v2/interop/clouds")
    for body in (b"<html>Moved</html>", b'{"data": [1, 2', b'{"data": "\xff"}'):
        with pytest.raises(UnexpectedResponse, match="answered 200 with a body that is not JSON"):
            decoded(httpx.Response(200, content=body, request=request))
    answer = httpx.Response(200, content='{"data": ["é", 1.5, null]}'.encode(), request=request)
    assert decoded(answer) == {"data": ["é", 1.5, None]}
    assert decoded(httpx.Response(204, request=request)) is None
