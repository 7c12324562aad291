"""Input types shared by the request schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

INT32_MAX = 2**31 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it on every backend instead of failing with a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]
"""A string the database can store on every backend."""
