"""``GET /metrics``: the Prometheus metrics, for an operator or the configured scrape token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from interop_hub.auth.dependencies import HubDep, SessionDep, get_principal
from interop_hub.kit import metrics
from interop_hub.kit.errors import Forbidden

router = APIRouter(tags=["Service"])


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
def read_metrics(request: Request, session: SessionDep, hub: HubDep) -> Response:
    """Prometheus text format. A scraper that cannot do OAuth sends
    ``Authorization: Bearer $INTEROP_HUB_METRICS_TOKEN``; otherwise an operator credential."""
    token = hub.settings.metrics_token
    scraper = metrics.is_scrape_token(request.headers.get("authorization"), token)
    if not scraper and not get_principal(request, session, hub).is_operator:
        raise Forbidden("The metrics are for operators (or the configured metrics token).")
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
