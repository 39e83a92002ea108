"""Optional SDK imports: a missing package is a ToolError that names the extra to install."""

from __future__ import annotations

import sys

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import EXTRAS, import_optional, install_hint, installed_version


@pytest.mark.parametrize(
    ("module", "extra"),
    [("mlflow", "tracking"), ("feast.infra", "features"), ("evidently", "monitoring"), ("label_studio_sdk", "labeling")],
)
def test_missing_module_is_missing_dependency(monkeypatch: pytest.MonkeyPatch, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module.split(".")[0], None)  # makes `import` raise ImportError
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ToolError) as info:
        import_optional(module, extra)
    error = info.value
    assert error.code == "missing_dependency"
    assert f"'{module.split('.')[0]}'" in error.message
    assert f"mlops-engineer[{extra}]" in error.hint
    assert f"--extra {extra}" in error.hint
    assert isinstance(error.__cause__, ImportError)


def test_module_that_does_not_exist_at_all() -> None:
    with pytest.raises(ToolError) as info:
        import_optional("surely_not_a_module_xyz", "tuning")
    assert info.value.code == "missing_dependency"
    assert "mlops-engineer[tuning]" in info.value.hint


def test_installed_module_is_returned() -> None:
    import json

    assert import_optional("json", "tracking") is json


def test_installed_version() -> None:
    assert installed_version("surely-not-a-distribution-xyz") is None
    version = installed_version("pydantic")
    assert version is not None and version[0].isdigit()


def test_every_extra_has_an_install_hint_and_exists_in_pyproject() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]
    for extra in EXTRAS:
        assert extra in declared, f"EXTRAS names {extra!r}, which pyproject.toml does not declare"
        assert f"mlops-engineer[{extra}]" in install_hint(extra)
