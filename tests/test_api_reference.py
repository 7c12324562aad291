"""``docs/api-reference.md`` matches the app's OpenAPI document (regenerate it with
``python -m interop_hub.docs.api_reference`` when this fails)."""

from __future__ import annotations

from pathlib import Path

from interop_hub.docs import api_reference


def test_the_committed_reference_is_current() -> None:
    assert api_reference.main(["--check"]) == 0, (
        "docs/api-reference.md is stale: run `python -m interop_hub.docs.api_reference`"
    )


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "api-reference.md"
    stale.write_text("# API reference\n", encoding="utf-8")
    assert api_reference.main(["--check", "--output", str(stale)]) == 1
    assert api_reference.main(["--output", str(stale)]) == 0
    assert api_reference.main(["--check", "--output", str(stale)]) == 0


def test_every_spec_operation_is_findable() -> None:
    text = api_reference.DEFAULT_OUTPUT.read_text(encoding="utf-8")
    spec = api_reference.spec_operations()
    assert [s.number for s in spec] == list(range(1, 81))
    for s in spec:
        served = f"### `{s.method} {s.path}` (#{s.number})"
        not_yet = f"| {s.number} | {s.method} | `{s.path}` |"
        assert (served in text) != (not_yet in text), s
