"""Shared test setup: real-server fixtures as plugins, and a clean environment per test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.mlflow_server",
    "tests.fixtures.prometheus",
    "tests.fixtures.redis",
    "tests.fixtures.aiops",
    "tests.fixtures.docker_engine",
    "tests.fixtures.prefect_server",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.wheel",
    "tests.fixtures.label_studio",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's MLflow server, config file or Claude project."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CLAUDE_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in [n for n in os.environ if n.startswith("MLOPS_ENGINEER_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_ENGINEER_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("MLOPS_ENGINEER_CACHE_DIR", str(tmp_path / "catalog-cache"))
