"""What the sync and the async client share: their options, credentials and retry policy, how a
call becomes a request, and where ``paging.next`` links are fetched."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import httpx

from interop_hub import __version__
from interop_hub.client.auth import make_auth
from interop_hub.client.calls import Call
from interop_hub.client.retry import RetryPolicy

DEFAULT_TIMEOUT = 30.0


class Options(TypedDict, total=False):
    """The options of both clients, besides their ``transport`` and ``sleep``."""

    client_id: str
    """A tenant's OAuth2 client id (with ``client_secret``): tokens from ``/oauth/token``."""
    client_secret: str
    api_key: str
    """An account API key ``ihk_<id>.<secret>``, sent as HTTP Basic..."""
    exchange_api_key: bool
    """...or, when True, exchanged for tokens with its two halves."""
    timeout: float | httpx.Timeout | None
    """Seconds per request (httpx's meaning); 30 by default."""
    max_retries: int
    """Retries of an idempotent call (3 by default; 0: none)."""
    retry: RetryPolicy
    """The whole retry policy (backoff, jitter, longest Retry-After waited for)."""
    headers: Mapping[str, str]
    """Headers added to every request."""
    clock: Callable[[], float]
    """Seconds, for token expiry (``time.monotonic``)."""


class ClientBase:
    def __init__(self, base_url: str | httpx.URL, options: Options) -> None:
        url = httpx.URL(base_url)
        # As httpx does: a base path ends with "/", so that paths are appended to it.
        self.base_url = url if url.raw_path.endswith(b"/") else url.copy_with(path=url.path + "/")
        self.auth = make_auth(
            self.base_url.join("oauth/token"),
            client_id=options.get("client_id"),
            client_secret=options.get("client_secret"),
            api_key=options.get("api_key"),
            exchange_api_key=bool(options.get("exchange_api_key")),
            clock=options.get("clock", time.monotonic),
        )
        retry = options.get("retry") or RetryPolicy()
        if "max_retries" in options:
            retry = dataclasses.replace(retry, max_retries=options["max_retries"])
        self.retry = retry
        self._http_options: dict[str, Any] = {
            "base_url": self.base_url,
            "auth": self.auth,
            "timeout": options.get("timeout", DEFAULT_TIMEOUT),
            "headers": {
                "Accept": "application/json",
                "User-Agent": f"interop-hub-client/{__version__}",
                **options.get("headers", {}),
            },
        }

    def _next_link(self, link: str) -> str:
        """A ``paging.next`` link, on the client's own scheme, host and port: the hub writes its
        links with its public name (``PUBLIC_BASE_URL``), which may not be the one this client
        reaches it at, and credentials go nowhere else."""
        return str(self.base_url.copy_with(raw_path=httpx.URL(link).raw_path))


def build_request(http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    return http.build_request(
        call.method,
        call.url,
        params=call.params,
        json=call.json,
        content=call.content,
        headers=call.headers,
    )
