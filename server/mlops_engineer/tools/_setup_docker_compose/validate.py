"""Action `validate`: YAML, round trip, JSON schema, policy, `docker compose config`."""

from __future__ import annotations

from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_docker_compose.models import CheckResult, ComposeOutput, Validate
from mlops_engineer.tools._setup_docker_compose.stack_files import compose_file

MAX_BYTES = 2 * 1024 * 1024


def run_validate(op: Validate, ctx: ToolContext, out: ComposeOutput) -> ComposeOutput:
    from mlops_engineer.engines.compose import policy, schema, yaml_io

    if op.path:
        path = ctx.workspace.resolve(op.path, must_exist=True)
    elif op.stack:
        path = compose_file(ctx, op.stack, op.directory)
    else:
        raise ToolError("invalid_input", "validate needs a stack or a path.", '{"operation": {"action": "validate", "stack": "ml"}}')
    schema_given = ctx.workspace.resolve(op.schema_path, must_exist=True) if op.schema_path else None
    if path.stat().st_size > MAX_BYTES:
        raise ToolError("invalid_input", f"{ctx.workspace.relative(path)} is larger than {MAX_BYTES // 1024} KiB.", "Validate a compose file, not a data file.")
    out.compose_file = ctx.workspace.relative(path)
    text = path.read_text("utf-8", errors="replace")
    try:
        document = yaml_io.load(text, out.compose_file)
    except ToolError as exc:
        out.checks = [CheckResult(name="yaml", ok=False, details=[exc.message])]
        out.valid = False
        return out
    checks = [CheckResult(name="yaml", ok=isinstance(document, dict), details=[] if isinstance(document, dict) else ["the top level is not a mapping"])]
    dumped = yaml_io.dump(document)
    again = yaml_io.load(dumped, "re-dumped file")
    same = again == document and yaml_io.key_order(again) == yaml_io.key_order(document)
    checks.append(CheckResult(name="round_trip", ok=same, details=[] if same else ["our reader changes this document when it writes it back"]))
    schema_path = schema.schema_file(schema_given)
    if schema_path is None:
        checks.append(CheckResult(name="schema", ok=None, details=[f"skipped: no schema file (schema_path or {schema.SCHEMA_ENV}); compose_config checks the schema Compose carries"]))
    else:
        errors = schema.schema_errors(document, schema.load_schema(schema_path))
        checks.append(CheckResult(name="schema", ok=not errors, details=errors))
    if op.policy and isinstance(document, dict):
        found = policy.findings(document)
        checks.append(CheckResult(name="policy", ok=not found, details=found[:50]))
    checks.append(_compose_config(path, ctx))
    out.checks = checks
    out.valid = all(c.ok is not False for c in checks)
    return out


def _compose_config(path: Path, ctx: ToolContext) -> CheckResult:
    """`docker compose config --quiet` with every profile; variables from .env, else .env.example."""
    from mlops_engineer.engines.compose import cli

    try:
        argv = cli.compose_command()
    except ToolError as exc:
        return CheckResult(name="compose_config", ok=None, details=[f"skipped: {exc.message} {cli.INSTALL_HINT}"])
    folder = path.parent
    env_file = folder / ".env" if (folder / ".env").is_file() else folder / ".env.example"
    args = [*argv, "-f", path.name, "--project-directory", str(folder), "--profile", "*"]
    if env_file.is_file():
        args += ["--env-file", str(env_file)]
    result = cli.run([*args, "config", "--quiet"], cwd=folder, env=cli.compose_env(None), timeout=60,
                     check_cancelled=ctx.check_cancelled)
    lines = [line for line in result.stderr.splitlines() if line.strip()][-10:]
    return CheckResult(name="compose_config", ok=result.returncode == 0, details=[] if result.returncode == 0 else lines)
