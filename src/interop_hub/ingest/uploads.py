"""Uploaded bundles: streamed to the data directory (never held whole in memory), size-capped."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import Request

from interop_hub.kit.errors import BadRequest, PayloadTooLarge

ZIP_MAGIC = b"PK\x03\x04"


async def save_upload(request: Request, folder: Path, limit: int) -> Path:
    """Write the request body to ``folder`` as a new .zip file and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}.zip"
    size = 0
    try:
        with target.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"An uploaded bundle may be at most {limit} bytes.")
                handle.write(chunk)
        with target.open("rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                raise BadRequest("The uploaded body is not a zip file.")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
