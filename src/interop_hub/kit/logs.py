"""The process's log output: JSON lines for machines, readable text on a terminal.

Every record logged while an HTTP request is served carries that request's id (a context
variable set by :mod:`interop_hub.observability.middleware`), so one request's lines can be
found together. Nothing here ever logs headers: credentials stay out of the logs by never
being handed to a logger.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["auto", "json", "text"]
REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: ContextVar[str | None] = ContextVar("interop_hub_request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}
_NOT_EXTRAS = _STANDARD | {"color_message"}  # uvicorn's copy of the message, with ANSI colors


def request_id_from(incoming: str | None) -> str:
    """The caller's request id when it is a sane token (letters, digits, ``._:@+=-``, at most
    128), else a new one: a header value is never trusted into the logs as it is."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the context it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _NOT_EXTRAS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            body["request_id"] = request_id
        body.update(_extras(record))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``; extras are not repeated (the message of an
    access line already says them)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        request_id = getattr(record, "request_id", None)
        rid = f"[{request_id}] " if request_id else ""
        return (
            f"{self.formatTime(record)} {record.levelname:<7} {record.name} {rid}{record.message}"
        )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (as logging's last resort
    does), so that a replaced stderr never leaves it writing to a closed stream."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def make_handler(stream: TextIO | None = None, log_format: LogFormat = "auto") -> logging.Handler:
    """A handler writing to ``stream`` (default: stderr): JSON lines, text, or (``auto``) text
    on a terminal and JSON otherwise."""
    if log_format == "auto":
        log_format = "text" if (stream or sys.stderr).isatty() else "json"
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.set_name("interop-hub")
    return handler


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "auto", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record of the process (uvicorn's included) through one handler on the
    root logger, replacing one installed before. Uvicorn's own access log is silenced: the hub
    writes its own, with the request id and without the query string."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "interop-hub"]:
        root.removeHandler(old)
    handler = make_handler(stream, log_format)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    return handler


def ensure_logging(level: str, log_format: LogFormat) -> None:
    """Configure logging unless the process already has (a root handler is installed)."""
    if not logging.getLogger().handlers:
        configure_logging(level, log_format)
