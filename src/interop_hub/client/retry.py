"""When to try a request again, and how long to wait first.

Only idempotent calls are retried (GET, HEAD, OPTIONS, PUT, DELETE: the hub's acks are PUTs):
a POST or PATCH that failed may have been applied, so it is left to the caller. They are retried
on a transport error, on 429 and on any 5xx, up to ``max_retries`` times. The wait is the
hub's ``Retry-After`` when it sends one (up to ``max_retry_after``: a longer one is not waited
for, the error is raised so that the caller can decide), otherwise exponential backoff with
full jitter: a random wait between 0 and ``min(max_backoff, backoff * 2**attempt)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from interop_hub.client.errors import TransportError, retry_after

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def full_jitter(ceiling: float) -> float:
    return random.uniform(0.0, ceiling)  # noqa: S311 - spreading retries, not cryptography


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 0.5
    """The first backoff ceiling, in seconds; it doubles with each attempt."""
    max_backoff: float = 30.0
    max_retry_after: float = 60.0
    jitter: Callable[[float], float] = field(default=full_jitter, compare=False)
    """Given the ceiling, the wait (full jitter by default; tests pass a fixed one)."""

    def start(self, method: str) -> Attempts:
        return Attempts(self, method.upper() in IDEMPOTENT)


@dataclass
class Attempts:
    """The retry state of one call: each outcome gives the wait before the next attempt, or
    ``None`` (or the exception) when this outcome is final."""

    policy: RetryPolicy
    idempotent: bool
    retries: int = 0

    def after_response(self, response: httpx.Response) -> float | None:
        status = response.status_code
        if not (status == 429 or status >= 500) or not self._may_retry():
            return None
        asked = retry_after(response)
        if asked is not None:
            if asked > self.policy.max_retry_after:
                return None
            return self._next(asked)
        return self._next(self._backoff())

    def after_error(self, exc: httpx.TransportError) -> float:
        if not self._may_retry():
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return self._next(self._backoff())

    def _may_retry(self) -> bool:
        return self.idempotent and self.retries < self.policy.max_retries

    def _backoff(self) -> float:
        ceiling = min(self.policy.max_backoff, self.policy.backoff * 2**self.retries)
        return self.policy.jitter(ceiling)

    def _next(self, delay: float) -> float:
        self.retries += 1
        return delay
