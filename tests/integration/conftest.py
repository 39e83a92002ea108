"""Backends the MLflow tools are tested on: the embedded SQLite store, and a real tracking
server (PostgreSQL + S3 artifacts) started by the shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ToolRunner


@pytest.fixture(params=["embedded", "server"])
def tracking_uri(request: pytest.FixtureRequest) -> str | None:
    if request.param == "embedded":
        return None
    return str(request.getfixturevalue("mlflow_server").tracking_uri)


@pytest.fixture
def tools(tmp_path: Path, tracking_uri: str | None) -> ToolRunner:
    return ToolRunner(tmp_path, tracking_uri)


@pytest.fixture
def mlflow_client(tools: ToolRunner):  # noqa: ANN201 - mlflow is imported lazily
    from mlops_engineer.engines.mlflow.backend import make_client, resolve_target

    return make_client(resolve_target(tools.ctx.workspace, tools.settings, tools.tracking_uri))


def write_training_files(root: Path, seed: int = 0, c: float = 1.0) -> dict[str, str]:
    """A small dataset and a fitted model in the workspace; returns their relative paths."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    target = (features.a + 0.5 * features.b > 0).astype(int)
    (root / "data").mkdir(exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    features.assign(label=target).to_csv(root / "data/train.csv", index=False)
    features.head(5).to_csv(root / "data/sample.csv", index=False)
    joblib.dump(LogisticRegression(C=c).fit(features, target), root / f"models/model-{seed}-{c}.joblib")
    return {"train": "data/train.csv", "sample": "data/sample.csv", "model": f"models/model-{seed}-{c}.joblib"}
