"""Secrets never reach outputs or logs."""

from __future__ import annotations

import pytest

from mlops_engineer.redact import redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://mlflow:s3cret@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
        ("postgresql+psycopg2://u:p4ss@127.0.0.1/db", "postgresql+psycopg2://u:***@127.0.0.1/db"),
        ("https://alice:tok3n@mlflow.example.com/", "https://alice:***@mlflow.example.com/"),
        ("mysql://root:hunter2@host", "mysql://root:***@host"),
        ("redis://default:pw@redis:6379/0", "redis://default:***@redis:6379/0"),
        (
            "could not connect to http://u:x@a:1 and s3://k:v@b/c",
            "could not connect to http://u:***@a:1 and s3://k:***@b/c",
        ),
        ("https://host/api?token=abc123&x=1", "https://host/api?token=***&x=1"),
        ("https://host/api?x=1&api_key=ZZZ", "https://host/api?x=1&api_key=***"),
        ("PASSWORD=hunter2 other", "PASSWORD=*** other"),
        ("MLFLOW_TRACKING_PASSWORD=pw", "MLFLOW_TRACKING_PASSWORD=***"),
        ("MLFLOW_TRACKING_TOKEN=t0k", "MLFLOW_TRACKING_TOKEN=***"),
        ("AWS_SECRET_ACCESS_KEY=abcd/efgh", "AWS_SECRET_ACCESS_KEY=***"),
        ("client_secret=xyz", "client_secret=***"),
    ],
)
def test_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain message with no secrets",
        "http://127.0.0.1:5000",
        "http://127.0.0.1:5000/#/experiments/1",
        "sqlite:////tmp/ws/.mlops/mlflow.db",
        "postgresql://mlflow@db:5432/mlflow",
        "file:///home/user/mlruns",
        "runs:/0123abcd/model",
        "models:/churn@champion",
        "contact ops@example.com",
        "s3://bucket/path/to/artifact",
        "http://host:5000/path@not-userinfo",
        "learning_rate=0.1 max_depth=3",
    ],
)
def test_harmless_text_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize("text", ["postgresql://u:pw@h/db", "https://h?token=abc"])
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


def test_password_without_username_is_redacted() -> None:
    assert "s3cret" not in redact_text("redis://:s3cret@localhost:6379/0")


def test_password_containing_at_sign_is_fully_redacted() -> None:
    out = redact_text("postgresql://user:p@ssw0rd@db:5432/mlflow")
    assert "ssw0rd" not in out
    assert out.endswith("@db:5432/mlflow")


def test_without_credentials_drops_user_and_password() -> None:
    from mlops_engineer.redact import without_credentials

    assert without_credentials("http://alice:s3cret@mlflow:5000") == "http://mlflow:5000"
    assert without_credentials("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
