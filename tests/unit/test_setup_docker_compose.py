"""setup_docker_compose without an engine: the YAML 1.2 reader and its round trip over the 39
awesome-compose files, the Compose Specification schema, every template through schema, policy
and the real `docker compose config`, .env handling, and the guards of up/down."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlops_engineer.engines.compose import policy, stack, yaml_io
from mlops_engineer.errors import ToolError
from mlops_engineer.tools import setup_docker_compose as tool
from tests.helpers import ToolRunner
from tests.shared_data import missing_reason, shared_data

ROOT = Path(__file__).resolve().parents[2]


AWESOME = shared_data("awesome-compose")
SCHEMA = shared_data("compose-spec", "compose-spec.json")
AWESOME_FILES = sorted(AWESOME.glob("*/compose.y*ml")) if AWESOME else []
needs_awesome = pytest.mark.skipif(not AWESOME_FILES, reason=missing_reason("awesome-compose"))
needs_schema = pytest.mark.skipif(SCHEMA is None, reason=missing_reason("compose-spec", "compose-spec.json"))
ALL_KINDS = list(stack.IMAGES)


def _component(kind: str) -> dict:
    return {"kind": kind, **({"model_uri": "models:/churn@champion"} if kind == "bentoml" else {})}


@pytest.fixture(scope="module")
def validator():
    if SCHEMA is None:
        pytest.skip(missing_reason("compose-spec", "compose-spec.json"))
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].startswith("https://json-schema.org/draft-07")
    return jsonschema.Draft7Validator(schema)


@needs_awesome
def test_the_awesome_compose_corpus_is_complete() -> None:
    assert len(AWESOME_FILES) == 39


@needs_awesome
@pytest.mark.parametrize("path", AWESOME_FILES, ids=lambda p: p.parent.name)
def test_awesome_compose_parses_validates_and_round_trips(path: Path, validator) -> None:
    first, second, dumped = yaml_io.round_trip(path.read_text())
    assert isinstance(first, dict) and first.get("services")
    assert list(validator.iter_errors(first)) == []
    # Unchanged: the same data, and every mapping's keys in the same order.
    assert second == first
    assert yaml_io.key_order(second) == yaml_io.key_order(first)
    # And what we wrote is still a valid Compose file.
    assert list(validator.iter_errors(second)) == []


def test_yaml_12_scalars_as_compose_reads_them() -> None:
    text = "a: on\nb: yes\nc: 22:22\nd: 2024-01-01\ne: 0o17\nf: 010\ng: 1e3\nh: true\ni: ~\nj: '0o17'\nk: 0x1F\n"
    data = yaml_io.load(text)
    assert data == {"a": "on", "b": "yes", "c": "22:22", "d": "2024-01-01", "e": 15, "f": 10, "g": 1000.0,
                    "h": True, "i": None, "j": "0o17", "k": 31}
    dumped = yaml_io.dump(data)
    # Strings a YAML 1.1 reader would turn into bools, numbers or dates stay quoted.
    for word in ("'on'", "'yes'", "'22:22'", "'2024-01-01'", "'0o17'"):
        assert word in dumped
    assert yaml_io.load(dumped) == data


def test_merge_keys_resolve_and_duplicate_keys_are_refused() -> None:
    text = "x-base: &base\n  image: a\n  restart: always\nservices:\n  web:\n    <<: *base\n    image: b\n"
    data = yaml_io.load(text)
    assert data["services"]["web"] == {"image": "b", "restart": "always"}
    with pytest.raises(ToolError, match="duplicate key 'image'.*line 3"):
        yaml_io.load("services:\n  web:\n    image: a\n    image: b\n")
    with pytest.raises(ToolError, match="not valid YAML at line"):
        yaml_io.load("services:\n  web: [\n")


def test_policy_finds_what_a_stack_must_not_do() -> None:
    document = yaml_io.load("""
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: hunter2
    volumes: [/var/lib/postgresql/data]
  web:
    image: nginx
    depends_on: [db]
    volumes: ["cache:/cache", "./site:/usr/share/nginx/html"]
    healthcheck: {test: ["CMD", "true"]}
""")
    found = policy.findings(document)
    assert "services.db: no healthcheck (add one that works inside its image)" in found
    assert any("POSTGRES_PASSWORD: a literal secret" in f for f in found)
    assert any("anonymous volume" in f for f in found)
    assert any("volume 'cache' is not declared" in f for f in found)
    assert any("depends_on.db: no condition" in f for f in found)
    assert not any("site" in f for f in found)  # a bind mount is not a named volume
    orphan = yaml_io.load("services:\n  migrate:\n    image: a\n    restart: 'no'\n")
    assert policy.findings(orphan) == ["services.migrate: a one-shot job no service waits for (depend on it with "
                                       "service_completed_successfully, or give it a profile)"]


@pytest.mark.parametrize("kinds", [[k] for k in ALL_KINDS] + [ALL_KINDS], ids=lambda k: "+".join(k) if len(k) < 3 else "all")
def test_every_template_validates(tmp_path: Path, kinds: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if SCHEMA is not None:
        monkeypatch.setenv("MLOPS_ENGINEER_COMPOSE_SCHEMA", str(SCHEMA))
    run = ToolRunner(tmp_path)
    rendered = run(tool.TOOL, {"action": "render", "stack": "ml", "components": [_component(k) for k in kinds]})
    folder = tmp_path / "compose" / "ml"
    assert (folder / ".env.example").is_file() and not (folder / ".env").exists()
    checked = run(tool.TOOL, {"action": "validate", "stack": "ml"})
    results = {c.name: c for c in checked.checks}
    assert checked.valid, [c for c in checked.checks if c.ok is False]
    assert results["compose_config"].ok is True, results["compose_config"].details  # the real docker compose config
    assert results["policy"].ok is True and results["round_trip"].ok is True
    if SCHEMA is not None:
        assert results["schema"].ok is True
    document = yaml_io.load((folder / "docker-compose.yml").read_text())
    for name, service in document["services"].items():
        if not policy.is_job(service):
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    # Only placeholders in .env.example, and every ${KEY:?} the file reads is listed there.
    example = stack.read_env_keys((folder / ".env.example").read_text())
    assert set(example.values()) <= {"change-me"}
    assert set(re.findall(r"\$\{([A-Z_]+):\?", (folder / "docker-compose.yml").read_text())) == set(example) == set(rendered.env_keys)


def test_healthcheck_commands_exist_in_their_images(tmp_path: Path) -> None:
    """Each public image's healthcheck uses what that image ships (no curl where there is none)."""
    text, _, _ = stack.render_stack("ml", [stack.Component(**_component(k)) for k in ALL_KINDS])
    services = yaml_io.load(text)["services"]
    expected = {"mlflow-db": "pg_isready", "label-studio-db": "pg_isready", "minio": "mc", "redis": "redis-cli",
                "prometheus": "wget", "pushgateway": "wget", "grafana": "wget", "mlflow": "python",
                "label-studio": "python3", "feature-server": "python", "model-server": "python",
                "model": "python3", "gateway": "python3"}
    for name, command in expected.items():
        test = services[name]["healthcheck"]["test"]
        assert (test[1].split()[0] if test[0] == "CMD-SHELL" else test[1]) == command, name
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    # The rendered file says, above each healthcheck, why its command exists in that image.
    lines = text.splitlines()
    reasons = [lines[i - 1].strip() for i, line in enumerate(lines) if line == "    healthcheck:"]
    assert len(reasons) == len(expected) and all(r.startswith("# ") for r in reasons), reasons
    assert not any("curl" in json.dumps(s.get("healthcheck")) for s in services.values())
    trainer = services["trainer"]
    assert trainer["profiles"] == ["train"] and trainer["gpus"] == "all"
    assert trainer["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_dashboard_queries_the_drift_tools_metrics() -> None:
    source = (ROOT / "server/mlops_engineer/tools/monitor_model_drift.py").read_text()
    written = {f"mlops_drift_{m}" for m in re.findall(r'f"\{p\}_(\w+)"', source)} | {
        f"mlops_drift_{m}" for m in re.findall(r'\("(\w+)", "\w+", "', source)}
    dashboard = json.loads(stack.drift_dashboard())
    queried = {m for panel in dashboard["panels"] for t in panel["targets"] for m in re.findall(r"mlops_drift_\w+", t["expr"])}
    assert queried and queried <= written, queried - written
    assert dashboard["templating"]["list"][0]["name"] == "monitor"


def test_render_refuses_bad_components_before_writing(tmp_path: Path) -> None:
    run = ToolRunner(tmp_path)
    with pytest.raises(ToolError, match="listed twice"):
        run(tool.TOOL, {"action": "render", "stack": "ml", "components": [{"kind": "feast"}, {"kind": "feast"}]})
    with pytest.raises(ToolError, match="Host port 9000 is used by both"):
        run(tool.TOOL, {"action": "render", "stack": "ml", "components": [{"kind": "feast", "port": 9000}, {"kind": "mlflow", "port": 9000}]})
    with pytest.raises(ToolError, match="model_uri"):
        run(tool.TOOL, {"action": "render", "stack": "ml", "components": [{"kind": "bentoml"}]})
    with pytest.raises(ToolError, match="outside|escape"):
        run(tool.TOOL, {"action": "render", "stack": "ml", "directory": "../x", "components": [{"kind": "feast"}]})
    assert not (tmp_path / "compose").exists()


def test_render_is_idempotent_and_keeps_edits_without_confirm(tmp_path: Path) -> None:
    run = ToolRunner(tmp_path)
    op = {"action": "render", "stack": "ml", "components": [{"kind": "feast"}]}
    run(tool.TOOL, op)
    again = run(tool.TOOL, op)
    assert {f.action for f in again.files} == {"unchanged"}
    compose_file = tmp_path / "compose/ml/docker-compose.yml"
    compose_file.write_text(compose_file.read_text() + "# mine\n")
    with pytest.raises(ToolError) as err:
        run(tool.TOOL, op)
    assert err.value.code == "needs_confirm"


def test_up_needs_a_complete_env_and_down_volumes_needs_confirm(tmp_path: Path) -> None:
    run = ToolRunner(tmp_path)
    run(tool.TOOL, {"action": "render", "stack": "ml", "components": [{"kind": "model_api"}]})
    with pytest.raises(ToolError) as unreachable:  # status needs no .env; no engine answers on this socket
        run(tool.TOOL, {"action": "status", "stack": "ml", "docker_host": f"unix://{tmp_path}/none.sock"})
    assert unreachable.value.code == "backend_unreachable", unreachable.value.message
    with pytest.raises(ToolError, match=r"\.env is missing; the stack needs MODEL_API_TOKEN"):
        run(tool.TOOL, {"action": "up", "stack": "ml"})
    (tmp_path / "compose/ml/.env").write_text("MODEL_API_TOKEN=change-me\n")
    with pytest.raises(ToolError, match="still 'change-me': MODEL_API_TOKEN"):
        run(tool.TOOL, {"action": "up", "stack": "ml"})
    plan = run(tool.TOOL, {"action": "up", "stack": "ml", "profiles": ["train"]}, dry_run=True)
    assert plan.project.startswith("ml-") and "--wait" in plan.planned_calls[0] and "--profile train" in plan.planned_calls[0]
    with pytest.raises(ToolError) as err:
        run(tool.TOOL, {"action": "down", "stack": "ml", "volumes": True})
    assert err.value.code == "needs_confirm"
    with pytest.raises(ToolError) as missing:
        run(tool.TOOL, {"action": "status", "stack": "other"})
    assert missing.value.code == "not_found"


@needs_awesome
def test_validate_a_third_party_file_in_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tool reads workspace files only, so this test copies one file into its temporary workspace.
    (tmp_path / "compose.yaml").write_text((AWESOME / "flask-redis" / "compose.yaml").read_text())
    if SCHEMA is not None:
        monkeypatch.setenv("MLOPS_ENGINEER_COMPOSE_SCHEMA", str(SCHEMA))
    out = ToolRunner(tmp_path)(tool.TOOL, {"action": "validate", "path": "compose.yaml", "policy": False})
    assert out.valid, out.checks
    strict = ToolRunner(tmp_path)(tool.TOOL, {"action": "validate", "path": "compose.yaml"})
    assert strict.valid is False and any("no healthcheck" in d for c in strict.checks for d in c.details)


@needs_schema
def test_schema_errors_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("services:\n  web:\n    image: nginx\n    ports: {a: 1}\n    restart: sometimes\n    bogus: 1\n")
    (tmp_path / "spec.json").write_text(SCHEMA.read_text())  # schema_path reads from the workspace
    out = ToolRunner(tmp_path)(tool.TOOL, {"action": "validate", "path": "bad.yml", "schema_path": "spec.json", "policy": False})
    schema = next(c for c in out.checks if c.name == "schema")
    assert schema.ok is False and any(d.startswith("$.services.web") for d in schema.details)
    assert next(c for c in out.checks if c.name == "compose_config").ok is False


def test_a_cancelled_compose_command_dies_with_its_process_group(tmp_path: Path) -> None:
    """cli.run kills the whole group (a child's children too) when the call is cancelled."""
    import os
    import time

    from mlops_engineer.engines.compose import cli

    marker = tmp_path / "child.pid"
    started = time.monotonic()

    def cancel_after_a_moment() -> None:
        if marker.exists() and time.monotonic() - started > 0.3:
            raise KeyboardInterrupt  # stands in for CallCancelled (a BaseException too)

    with pytest.raises(KeyboardInterrupt):
        cli.run(["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], cwd=tmp_path, env=dict(os.environ), timeout=30,
                check_cancelled=cancel_after_a_moment)
    child = int(marker.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild `sleep 60` outlived the cancelled call")
