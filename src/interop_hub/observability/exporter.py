"""The worker's ``/metrics``: a small HTTP server in a thread, for the scrape token only.

Collections, their fan-out and the history pruning run in the worker, which serves no API; this
exposes what it counts. It has no database-backed login, so it answers only
``Authorization: Bearer $INTEROP_HUB_METRICS_TOKEN``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from pydantic import SecretStr

from interop_hub.kit import metrics


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access lines of its own (they would go to stderr unformatted)."""


def metrics_app(token: SecretStr) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not metrics.is_scrape_token(environ.get("HTTP_AUTHORIZATION"), token):
            headers = [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]
            start_response("401 Unauthorized", headers)
            return [b"send Authorization: Bearer $INTEROP_HUB_METRICS_TOKEN\n"]
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
        return [metrics.exposition()]

    return app


def start_exporter(host: str, port: int, token: SecretStr) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; ``shutdown()`` stops it."""
    server = make_server(host, port, metrics_app(token), _Server, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
