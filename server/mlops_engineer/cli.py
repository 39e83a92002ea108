"""Command line: serve | skills | call | doctor | demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_engineer import __version__
from mlops_engineer.errors import ToolError

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",  # the common switch: MLflow, BentoML, Evidently, Prefect read it
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_USAGE_STATS_ENABLED": "0",
    "FEAST_USAGE": "False",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-engineer", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlops-engineer {__version__}")
    parser.add_argument(
        "--workspace", help="Folder the tools work in (default: $CLAUDE_PROJECT_DIR, else the current folder)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run the MCP server.")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument(
        "--catalog", choices=["compact", "full"],
        help="compact (default): tools/list shows actions, fields on demand; full: every field's schema.",
    )
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1).")
    serve.add_argument("--port", type=int, help="HTTP port (default 8765).")
    serve.add_argument(
        "--token",
        help="Bearer token HTTP clients must send (required off loopback). Prefer MLOPS_ENGINEER_HTTP_TOKEN: "
        "a command-line argument is visible to other users in `ps`.",
    )

    skills = commands.add_parser("skills", help="List skills or print one procedure.")
    skills_commands = skills.add_subparsers(dest="skills_command", required=True)
    skills_commands.add_parser("list", help="One line per skill: id, tool, description.")
    show = skills_commands.add_parser("show", help="Print a skill's SKILL.md.")
    show.add_argument("skill_id")

    call = commands.add_parser("call", help="Run one tool in-process and print its structured result.")
    call.add_argument("tool", help="Tool name, e.g. track_ml_experiments.")
    call.add_argument("--input", default="{}", help="Input as JSON, or @path/to/input.json.")

    commands.add_parser("doctor", help="Which SDK groups are installed, which backends answer.")
    commands.add_parser("demo", help="Run the churn demo end to end on the embedded backends.")
    return parser


def _load_input(raw: str) -> dict[str, object]:
    text = Path(raw[1:]).read_text("utf-8") if raw.startswith("@") else raw
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the input must be a JSON object")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlops_engineer.app import build_server
    from mlops_engineer.settings import Settings
    from mlops_engineer.transport_http import InsecureBindError, serve_http

    flags = {"http_host": args.host, "http_port": args.port, "http_token": args.token, "catalog": args.catalog}
    overrides = {k: v for k, v in flags.items() if v}
    settings = Settings(**overrides)
    # stdout belongs to the stdio transport: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=settings.log_level)
    server = build_server(settings)
    if args.transport == "stdio":
        import anyio

        from mlops_engineer.transport_stdio import serve_stdio

        anyio.run(serve_stdio, server)
        return 0
    try:
        serve_http(server, settings)
    except InsecureBindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_skills(args: argparse.Namespace) -> int:
    from mlops_engineer.registry import load_registry

    registry = load_registry()
    if args.skills_command == "list":
        for skill in registry.skills():
            summary = skill.description.split(". ")[0]
            summary = summary if len(summary) <= 80 else summary[:77].rsplit(" ", 1)[0] + "..."
            print(f"{skill.id:28} {skill.tool_name:28} {summary}")
        return 0
    try:
        print(registry.skill(args.skill_id).path.read_text("utf-8"), end="")
    except KeyError:
        print(f"error: no skill {args.skill_id!r}; `mlops-engineer skills list` shows them.", file=sys.stderr)
        return 2
    return 0


def _cmd_call(args: argparse.Namespace) -> int:
    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute, wants_help
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    registry = load_registry()
    try:
        spec = registry.tool(args.tool)
        skill = registry.skill(args.tool.replace("_", "-"))
    except KeyError:
        names = ", ".join(t.name for t in registry.tools())
        print(f"error: no tool {args.tool!r}. Tools: {names}", file=sys.stderr)
        return 2
    try:
        arguments = _load_input(args.input)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read --input: {exc}", file=sys.stderr)
        return 2

    settings = Settings()

    def on_progress(done: float, total: float | None, message: str | None) -> None:
        of = f"/{total:g}" if total else ""
        print(f"[{done:g}{of}] {message or ''}", file=sys.stderr)

    ctx = ToolContext(workspace=Workspace(settings.workspace), settings=settings, on_progress=on_progress)
    try:
        output = execute(spec, arguments, ctx, skill.examples if wants_help(arguments) else None)
    except ToolError as error:
        print(json.dumps(error.structured(), indent=2))
        return 1
    print(output.model_dump_json(indent=2))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from mlops_engineer.doctor import run_doctor

    return run_doctor()


def _cmd_demo(args: argparse.Namespace) -> int:
    from mlops_engineer.demo import run_demo

    return run_demo()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Our stdout is JSON-RPC (serve) or a result to parse (call): MLflow must not
    # print its "View run at <url>" links there.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # The SDKs' usage telemetry phones home and writes state outside the workspace (MLflow's
    # ~/.config/mlflow/telemetry.json): off in our process and its children unless the user set them.
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
    if args.workspace:
        # Through the environment, so Settings and any subprocess see the same root.
        os.environ["MLOPS_ENGINEER_WORKSPACE"] = str(Path(args.workspace).resolve())
    handlers = {
        "serve": _cmd_serve,
        "skills": _cmd_skills,
        "call": _cmd_call,
        "doctor": _cmd_doctor,
        "demo": _cmd_demo,
    }
    return handlers[args.command](args)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
