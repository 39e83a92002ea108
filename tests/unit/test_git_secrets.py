"""The staged-change secret scan: what it finds, what it lets pass, and that it never repeats a secret."""

from __future__ import annotations

import pytest

from mlops_engineer.engines.git.secrets import scan_line, scan_patch, secret_file_kind


@pytest.mark.parametrize(("line", "kind"), [
    ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
    ("-----BEGIN PRIVATE KEY-----", "private key"),
    ("key = 'AKIAIOSFODNN7EXAMPLQ'", "AWS access key id"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"),
    ("GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345", "GitHub token"),
    ("url: https://hooks.slack.com/services/T0001/B0001/abcdefghijkl", "Slack webhook"),
    ('client = Slack("xoxp-1234567890-abcdefghij")', "Slack token"),
    ("DATABASE_URL=postgresql://user:pa55word99@db:5432/x", "password in a URL"),
    ('db_password: "correct-horse-battery"', "secret-named value (db_password)"),
    ("HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEF", "Hugging Face token"),
])
def test_secrets_are_found_and_masked(line: str, kind: str) -> None:
    found = scan_line("f", 1, line)
    assert kind in [f.kind for f in found], found
    for finding in found:
        assert "***" in finding.preview and len(finding.preview) <= 40
        assert "EXAMPLQ" not in finding.preview and "pa55word99" not in finding.preview


@pytest.mark.parametrize("line", [
    'password = os.environ["DB_PASSWORD"]', "token = get_token(user)", "api_key: ${API_KEY}",
    'password = "<your password>"', "secret_name = settings.secret_name", "tokens = tokenizer(text)",
    "password_field = 'password'", "key = AKIAIOSFODNN7EXAMPLQ  # pragma: allowlist secret",
    "url = https://user@github.com/org/repo.git", "monkey = banana_bread_1234", "POSTGRES_PASSWORD=change-me",
    "AWS_SECRET_ACCESS_KEY=change-me-too", "  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}",
    "--backend-store-uri postgresql://${POSTGRES_USER:-mlflow}:${POSTGRES_PASSWORD}@postgres:5432/mlflow",
])
def test_placeholders_and_references_pass(line: str) -> None:
    assert scan_line("f", 1, line) == []


def test_only_added_lines_count_with_their_numbers() -> None:
    patch = ("diff --git a/c.py b/c.py\n--- a/c.py\n+++ b/c.py\n@@ -3,0 +4,2 @@\n"
             "+x = 1\n+TOKEN = 'ghp_0123456789abcdefghijABCDEFGHIJ012345'\n"
             "@@ -9 +10,0 @@\n-OLD = 'AKIAIOSFODNN7EXAMPLQ'\n")
    found = scan_patch(patch)
    assert [(f.path, f.line, f.kind) for f in found] == [("c.py", 5, "GitHub token")]


@pytest.mark.parametrize(("path", "flagged"), [
    (".env", True), ("config/.env.production", True), ("prod.env", True), (".env.example", False),
    (".env.sample", False), ("id_rsa", True), ("certs/server.pem", True), ("environment.yml", False), ("src/env.py", False),
])
def test_secret_files_by_name(path: str, flagged: bool) -> None:
    assert (secret_file_kind(path) is not None) == flagged
