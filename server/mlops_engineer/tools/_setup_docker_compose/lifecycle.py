"""Actions `up`, `status`, `down`: the `docker compose` CLI on the stack's project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._setup_docker_compose.models import ComposeInput, ComposeOutput, Down, ServiceState, Status, Up
from mlops_engineer.tools._setup_docker_compose.stack_files import check_env, compose_file, project_name, required_env


def _base(op: Up | Status | Down, ctx: ToolContext, out: ComposeOutput) -> tuple[list[str], Path, dict[str, str]]:
    from mlops_engineer.engines.compose import cli

    path = compose_file(ctx, op.stack, op.directory)
    out.project = project_name(ctx, op.stack)
    out.compose_file = ctx.workspace.relative(path)
    argv = [*cli.compose_command(), "-p", out.project, "-f", path.name, "--project-directory", str(path.parent)]
    example = path.parent / ".env.example"
    if not isinstance(op, Up) and not (path.parent / ".env").is_file() and example.is_file():
        # status and down need no secrets, but Compose interpolates `${KEY:?}` before anything:
        # the placeholders let them work where .env was never written (or was already deleted).
        argv += ["--env-file", str(example)]
    return argv, path, cli.compose_env(op.docker_host)


def _ps(argv: list[str], path: Path, env: dict[str, str], ctx: ToolContext) -> list[ServiceState]:
    from mlops_engineer.engines.compose import cli

    result = cli.run([*argv, "--profile", "*", "ps", "--all", "--format", "json"], cwd=path.parent, env=env, timeout=60,
                     check_cancelled=ctx.check_cancelled)
    if result.returncode != 0:
        raise _unreachable_or_failed("ps", result.stderr)
    states = []
    for item in cli.parse_ps(result.stdout):
        ports = [f"{p.get('URL', '')}:{p['PublishedPort']}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}"
                 for p in item.get("Publishers") or [] if p.get("PublishedPort")]
        states.append(ServiceState(service=item.get("Service", ""), container=item.get("Name", ""), state=item.get("State", ""),
                                   health=item.get("Health", ""), exit_code=item.get("ExitCode"), ports=sorted(set(ports))))
    return sorted(states, key=lambda s: s.service)


def _unreachable_or_failed(what: str, stderr: str) -> ToolError:
    tail = "\n".join(stderr.strip().splitlines()[-12:])
    if "Cannot connect to the Docker daemon" in stderr or "docker.sock" in stderr and "connect" in stderr:
        return ToolError("backend_unreachable", f"No Docker engine answers ({tail[-300:]}).",
                         "Start Docker, or pass docker_host (or set DOCKER_HOST) to a reachable engine.")
    return ToolError("failed", f"docker compose {what} failed:\n{tail}", "Read the output above; `docker compose logs <service>` shows a service's own output.")


def _every(seconds: float, report: Callable[[float], None]) -> Callable[[float], None]:
    """A tick callback that reports at most once per `seconds` of elapsed time."""
    last = [-seconds]

    def tick(elapsed: float) -> None:
        if elapsed - last[0] >= seconds:
            last[0] = elapsed
            report(elapsed)

    return tick


def _expected_services(path: Path, profiles: list[str]) -> set[str]:
    """Services `up` starts: those without profiles, and those of an enabled profile."""
    from mlops_engineer.engines.compose import yaml_io

    services = (yaml_io.load(path.read_text("utf-8")) or {}).get("services") or {}
    return {name for name, svc in services.items() if not (svc or {}).get("profiles") or set(svc["profiles"]) & set(profiles)}


def _only_jobs_exited(services: list[ServiceState]) -> bool:
    """What makes `up --wait` fail although all is well: a job that finished with 0."""
    return any(s.state == "exited" for s in services) and all(s.exit_code == 0 for s in services if s.state == "exited")


def _healthy(services: list[ServiceState]) -> bool:
    running = [s for s in services if s.state == "running"]
    jobs_ok = all(s.exit_code == 0 for s in services if s.state == "exited")
    return bool(running) and jobs_ok and all(s.health in ("healthy", "") for s in running)


def run_up(op: Up, inp: ComposeInput, ctx: ToolContext, out: ComposeOutput) -> ComposeOutput:
    from mlops_engineer.engines.compose import cli
    from mlops_engineer.locks import workspace_lock

    argv, path, env = _base(op, ctx, out)
    out.env_keys = required_env(path.parent)
    profiles = [a for p in op.profiles for a in ("--profile", p)]
    command = [*argv, *profiles, "up", "--detach", "--wait", "--wait-timeout", str(op.timeout_seconds), "--remove-orphans",
               *(["--build"] if op.build else [])]
    out.planned_calls = [" ".join(command[command.index("-p"):])]
    if inp.dry_run:
        return out
    check_env(ctx, path.parent)
    with workspace_lock(ctx.workspace, f"compose-{out.project}", check_cancelled=ctx.check_cancelled):
        ctx.progress(0, None, f"docker compose up {op.stack}: building and waiting for health")
        result = cli.run(command, cwd=path.parent, env=env, timeout=op.timeout_seconds + 60, check_cancelled=ctx.check_cancelled,
                         on_tick=_every(5.0, lambda s: ctx.progress(s, None, f"up {op.stack}: building, then waiting for health ({s:.0f} s)")))
        services = _ps(argv, path, env, ctx)
    # `up --wait` also fails when a job it started (a profile's trainer) exits, even with 0:
    # every running service healthy and every exited one at 0 is what we asked for.
    missing = sorted(_expected_services(path, op.profiles) - {s.service for s in services})
    out.services, out.healthy = services, _healthy(services) and not missing and (result.returncode == 0 or _only_jobs_exited(services))
    if not out.healthy:
        report = ", ".join(f"{s.service}: {s.state}{'/' + s.health if s.health else ''}" for s in services) or "no containers"
        raise _unreachable_or_failed(f"up ({report})", result.stderr)
    out.next_steps = [f"Status: {{\"operation\": {{\"action\": \"status\", \"stack\": \"{op.stack}\"}}}}",
                      f"Stop: {{\"operation\": {{\"action\": \"down\", \"stack\": \"{op.stack}\"}}}}"]
    return out


def run_status(op: Status, ctx: ToolContext, out: ComposeOutput) -> ComposeOutput:
    argv, path, env = _base(op, ctx, out)
    out.services = _ps(argv, path, env, ctx)
    out.healthy = _healthy(out.services) if out.services else None
    return out


def run_down(op: Down, inp: ComposeInput, ctx: ToolContext, out: ComposeOutput) -> ComposeOutput:
    from mlops_engineer.engines.compose import cli
    from mlops_engineer.locks import workspace_lock

    argv, path, env = _base(op, ctx, out)
    command = [*argv, "--profile", "*", "down", "--remove-orphans", "--timeout", "10", *(["--volumes"] if op.volumes else [])]
    out.planned_calls = [" ".join(command[command.index("-p"):])]
    if inp.dry_run:
        return out
    if op.volumes and not inp.confirm:
        raise ToolError("needs_confirm", f"down with volumes=true deletes the named volumes of {out.project} (the stack's data).",
                        "Repeat with confirm=true to delete them, or leave volumes=false to keep the data.")
    with workspace_lock(ctx.workspace, f"compose-{out.project}", check_cancelled=ctx.check_cancelled):
        out.services = _ps(argv, path, env, ctx)
        ctx.progress(0, None, f"docker compose down {op.stack}")
        result = cli.run(command, cwd=path.parent, env=env, timeout=op.timeout_seconds, check_cancelled=ctx.check_cancelled)
        if result.returncode != 0:
            raise _unreachable_or_failed("down", result.stderr)
        out.left = [s.container for s in _ps(argv, path, env, ctx)]
    return out
