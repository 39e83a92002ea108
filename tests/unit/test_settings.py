"""Settings precedence: init > environment > .mlops-engineer.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_engineer.settings import CONFIG_FILE_NAME, Settings, config_file_path


def _config(path: Path, monkeypatch: pytest.MonkeyPatch, **values: object) -> Path:
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("MLOPS_ENGINEER_CONFIG", str(path))
    return path


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.workspace == tmp_path
    assert settings.tracking_uri is None and settings.registry_uri is None
    assert (settings.http_host, settings.http_port, settings.http_token) == ("127.0.0.1", 8765, None)
    assert settings.log_level == "WARNING"
    assert settings.http_is_loopback


@pytest.mark.parametrize(
    ("field", "toml_value", "env_value", "init_value", "expected_env"),
    [
        ("tracking_uri", "http://from-file:5000", "http://from-env:5000", "http://from-init:5000", "http://from-env:5000"),
        ("registry_uri", "http://file-reg", "http://env-reg", "http://init-reg", "http://env-reg"),
        ("http_host", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2"),
        ("http_port", 9001, "9002", 9003, 9002),
        ("log_level", "ERROR", "INFO", "DEBUG", "INFO"),
    ],
)
def test_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    field: str, toml_value: object, env_value: str, init_value: object, expected_env: object,
) -> None:
    _config(tmp_path / "cfg.toml", monkeypatch, **{field: toml_value})
    assert getattr(Settings(), field) == toml_value  # file beats default

    monkeypatch.setenv(f"MLOPS_ENGINEER_{field.upper()}", env_value)
    assert getattr(Settings(), field) == expected_env  # env beats file

    assert getattr(Settings(**{field: init_value}), field) == init_value  # init beats env


def test_workspace_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("file", "env", "init", "claude"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(tmp_path / "claude"))
    assert Settings().workspace == tmp_path / "claude"
    _config(tmp_path / "cfg.toml", monkeypatch, workspace=str(tmp_path / "file"))
    assert Settings().workspace == tmp_path / "file"
    monkeypatch.setenv("MLOPS_ENGINEER_WORKSPACE", str(tmp_path / "env"))
    assert Settings().workspace == tmp_path / "env"
    assert Settings(workspace=tmp_path / "init").workspace == tmp_path / "init"


def test_mlflow_tracking_uri_is_a_fallback_alias(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _config(tmp_path / "cfg.toml", monkeypatch, tracking_uri="http://file")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow-env")
    assert Settings().tracking_uri == "http://mlflow-env"
    monkeypatch.setenv("MLOPS_ENGINEER_TRACKING_URI", "http://ours")
    assert Settings().tracking_uri == "http://ours"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://reg")
    assert Settings().registry_uri == "http://reg"


def test_claude_project_dir_sets_default_workspace_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(project))
    monkeypatch.delenv("MLOPS_ENGINEER_CONFIG")
    assert config_file_path() == project / CONFIG_FILE_NAME
    (project / CONFIG_FILE_NAME).write_text('log_level = "DEBUG"\n')
    settings = Settings()
    assert settings.workspace == project
    assert settings.log_level == "DEBUG"


def test_config_file_follows_workspace_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_ENGINEER_CONFIG")
    monkeypatch.setenv("MLOPS_ENGINEER_WORKSPACE", str(tmp_path))
    assert config_file_path() == tmp_path / CONFIG_FILE_NAME
    monkeypatch.setenv("MLOPS_ENGINEER_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config_file_path() == tmp_path / "elsewhere.toml"


def test_missing_config_file_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ENGINEER_CONFIG", str(tmp_path / "absent.toml"))
    assert Settings(workspace=tmp_path).http_port == 8765


@pytest.mark.parametrize(("field", "value"), [("http_port", 0), ("http_port", 70000), ("log_level", "LOUD")])
def test_invalid_values_are_rejected(field: str, value: object) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ENGINEER_HTTP_TOKEN", "tok-123")
    settings = Settings()
    assert settings.http_token is not None and settings.http_token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(settings) and "tok-123" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_http_is_loopback(host: str, loopback: bool) -> None:
    assert Settings(http_host=host).http_is_loopback is loopback


def test_settings_for_a_workspace_read_its_config_file(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("MLOPS_ENGINEER_CONFIG", raising=False)
    (tmp_path / ".mlops-engineer.toml").write_text('tracking_uri = "http://127.0.0.1:1234"\n')
    from mlops_engineer.settings import Settings

    assert Settings(workspace=tmp_path).tracking_uri == "http://127.0.0.1:1234"
