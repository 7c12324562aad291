"""Stored projections of the renderings, for the query API's projecting readers (issue 3).

See :mod:`interop_hub.rostering.views`.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.ingest.models import BigId
from interop_hub.kit.db import Base


class PayloadView(Base):
    """One payload (an object's rendering) as one kind of topic projects it.

    ``view`` names the projection (:func:`interop_hub.rostering.views.view_key`: a digest of
    the attributes the topic keeps), so every tenant whose topic keeps the same attributes
    shares the row, and a topic that changes its attributes looks for another key. A row is
    derived from its payload alone, whose body never changes, so it can never be stale; it goes
    with its payload (pruned, or its cloud deleted)."""

    __tablename__ = "task_payload_views"

    payload_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("task_payloads.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    view: Mapped[str] = mapped_column(String(32), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
