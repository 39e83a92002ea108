"""app.build_server: the registry it is given is the one it serves."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from mlops_engineer import app
from mlops_engineer.app import build_server, error_result
from mlops_engineer.errors import ToolError
from mlops_engineer.registry import Registry
from mlops_engineer.settings import Settings


def test_build_server_serves_the_registry_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_registry import _skill, _spec

    monkeypatch.setattr(app, "builtin_catalog", lambda: pytest.fail("the built-in catalog must not be loaded"))
    registry = Registry()
    registry.register(_skill("only-one"), _spec("only_one"))
    server = build_server(Settings(workspace=tmp_path), registry=registry)
    assert [t.name for t in anyio.run(server.list_tools)] == ["only_one"]


def test_error_result_carries_code_message_and_hint() -> None:
    result = error_result(ToolError("needs_confirm", "edited: a.txt", "pass confirm=true"))
    assert result.is_error is True
    assert result.structured_content == {"error": {"code": "needs_confirm", "message": "edited: a.txt", "hint": "pass confirm=true"}}
    assert "[needs_confirm] edited: a.txt" in result.content[0].text  # type: ignore[union-attr]


def test_build_server_serves_an_empty_registry_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def load_registry() -> Registry:
        raise AssertionError("build_server loaded the built-in registry although one was passed")

    monkeypatch.setattr(app, "builtin_catalog", load_registry)
    server = build_server(Settings(workspace=tmp_path), registry=Registry())
    assert anyio.run(server.list_tools) == []
