"""Secrets never reach outputs or logs."""

from __future__ import annotations

import pytest

from mlops_engineer.redact import redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://mlflow:s3cret@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("postgresql+psycopg2://u:p4ss@127.0.0.1/db", "postgresql+psycopg2://***@127.0.0.1/db"),
        ("https://alice:tok3n@mlflow.example.com/", "https://***@mlflow.example.com/"),
        ("mysql://root:hunter2@host", "mysql://***@host"),
        ("redis://default:pw@redis:6379/0", "redis://***@redis:6379/0"),
        (
            "could not connect to http://u:x@a:1 and s3://k:v@b/c",
            "could not connect to http://***@a:1 and s3://***@b/c",
        ),
        # The whole userinfo: a token as the user name, an access key as the user (issue 16).
        ("http://ghp_TOKEN123@host/repo", "http://***@host/repo"),
        ("s3://AKIAEXAMPLE:PW@bucket/models", "s3://***@bucket/models"),
        ("postgresql://mlflow@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("Pushgateway at http://user:PW@127.0.0.1:1 did not answer", "Pushgateway at http://***@127.0.0.1:1 did not answer"),
        # Secret query parameters of signed URLs.
        ("https://acct.blob.core.windows.net/c?sv=2021&sig=AbC%2Bd&se=1", "https://acct.blob.core.windows.net/c?sv=2021&sig=***&se=1"),
        ("https://h/o?X-Amz-Signature=deadbeef&X-Amz-Credential=AK/x", "https://h/o?X-Amz-Signature=***&X-Amz-Credential=***"),
        ("https://h/o?key=AIzaSy123", "https://h/o?key=***"),
        ("endpointurl=http://AK:PW@minio:9000", "endpointurl=http://***@minio:9000"),
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
        "file:///home/user/mlruns",
        "runs:/0123abcd/model",
        "models:/churn@champion",
        "contact ops@example.com",
        "s3://bucket/path/to/artifact",
        "http://host:5000/path@not-userinfo",
        "learning_rate=0.1 max_depth=3",
        "monkey=1 turkey=2",
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


@pytest.mark.parametrize(
    ("uri", "clean"),
    [
        ("http://u:pw@mlflow:5000", "http://mlflow:5000"),
        ("http://TOKEN@mlflow:5000/x", "http://mlflow:5000/x"),
        ("https://h/c?sv=1&sig=abc", "https://h/c?sv=1"),
        ("https://h/c?sig=abc&sv=1", "https://h/c?sv=1"),
        ("sqlite:////tmp/ws/.mlops/mlflow.db", "sqlite:////tmp/ws/.mlops/mlflow.db"),
        ("http://127.0.0.1:9091", "http://127.0.0.1:9091"),
    ],
)
def test_without_credentials(uri: str, clean: str) -> None:
    from mlops_engineer.redact import has_credentials, without_credentials

    assert without_credentials(uri) == clean
    assert has_credentials(uri) == (uri != clean)

