"""The collection's side of a memberships' loader process (:mod:`interop_hub.ingest.loader`):
starting it, the conversation, stopping it and dropping its table unless it was attached."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, cast

from sqlalchemy.engine import Engine

from interop_hub.ingest.loader import REFERENCES, LoadJob
from interop_hub.ingest.records import BundleError, Kind, LoadedMemberships
from interop_hub.kit import channel
from interop_hub.repository import partitions


class LoaderFailed(Exception):
    """The loader process failed or ended without a result (not a problem of the bundle)."""


class MembershipLoader:
    """The collection's side of one loader process (started at once)."""

    def __init__(self, job: LoadJob, engine: Engine) -> None:
        self.job = job
        self._engine = engine
        try:
            self._process, self._channel = channel.start("interop_hub.ingest.loader")
        except OSError as exc:
            raise LoaderFailed(f"the memberships' loader could not start ({exc})") from exc
        self._send(job)
        self._header: str | None = None
        self._heard_header = False
        self._result: LoadedMemberships | None = None

    @property
    def table(self) -> str:
        return self.job.table

    @property
    def stamp(self) -> dt.datetime:
        return self.job.stamp

    def check_header(self) -> None:
        """Raise the :class:`BundleError` the loader found opening enrollments.csv, if any."""
        if not self._heard_header:
            kind, value = self._receive()
            if kind != "header":
                raise LoaderFailed(f"the memberships' loader said {kind!r} first: {value}")
            self._header, self._heard_header = value, True
        if self._header is not None:
            raise BundleError(self._header)

    def send_refs(self, resolvable: Mapping[Kind, AbstractSet[str]]) -> None:
        """The source ids a user, class and school reference resolves to."""
        self._send(("refs", {kind: frozenset(resolvable[kind]) for kind in REFERENCES}))

    def result(self) -> LoadedMemberships:
        """Wait for the loader's end: what it loaded (committed), or :class:`LoaderFailed`."""
        if self._result is None:
            self.check_header()
            kind, value = self._receive()
            if kind == "bundle":
                raise BundleError(value)
            if kind != "done":
                raise LoaderFailed(f"the memberships' loader failed: {value}")
            self._result = cast(LoadedMemberships, value)
            self._process.wait(timeout=10)
        return self._result

    def stop(self) -> None:
        """End the loader (if it still runs) and drop its table unless it was attached: the
        collection is over, applied or not. Safe to call more than once."""
        if self._process.poll() is None:
            with contextlib.suppress(LoaderFailed):
                self._send(("stop", None))
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._channel.close()
        partitions.drop_loading(self._engine, self.job.table)

    def _send(self, message: tuple[str, Any] | LoadJob) -> None:
        try:
            self._channel.send(message)
        except OSError as exc:
            raise LoaderFailed(f"the memberships' loader is gone ({exc})") from exc

    def _receive(self) -> tuple[str, Any]:
        try:
            return cast(tuple[str, Any], self._channel.recv())
        except (EOFError, OSError) as exc:
            code = self._process.wait(timeout=10)
            raise LoaderFailed(f"the memberships' loader ended (exit code {code})") from exc
