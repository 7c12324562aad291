"""Generated secrets never begin with a dash, which a command line would read as an option."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Iterator

import pytest

from interop_hub.kit import crypto


def test_a_secret_that_would_begin_with_a_dash_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws: Iterator[str] = iter(["-abc", "-def", "ghi-"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(draws))
    assert crypto.random_secret() == "ghi-"


def test_secrets_are_long_url_safe_and_pass_as_an_option_value() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client-secret")
    seen = set()
    for _ in range(2000):  # without the redraw, all 2,000 would miss a dash: (63/64)^2000 ≈ 2e-14
        secret = crypto.random_secret()
        assert len(secret) == 43
        assert set(secret) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        assert parser.parse_args(["--client-secret", secret]).client_secret == secret
        seen.add(secret)
    assert len(seen) == 2000
