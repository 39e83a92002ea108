"""A warm flow runner for one workspace: Prefect imported once, every flow run forked from it.

Run as `python -m mlops_engineer.engines.pipeline.flow_runner --port P` (`local_prefect` starts
it as a local service, with the workspace's Prefect environment). A fresh `python flow.py`
spends 2-4 s importing Prefect and the modules it loads lazily during a run (FastAPI's
encoder, pydantic.v1, graphviz helpers) before its first stage; a child forked from this
process starts with all of them loaded. One process per run keeps runs apart: the flow's
globals, the user's modules that callable stages import, the working directory and the
environment all die with it.

Protocol (HTTP/1.0 on loopback, one request a connection):

    GET /health -> 200 {"fingerprint": ...}
    POST /run {"argv": [flow_file, *args], "env": {...}, "cwd": dir, "log": file}
        -> 200, a body of JSON lines: {"pid": <the run's process>} at once, {"returncode": n} when it ends

The run's process leads a session of its own, so the caller stops it and its stages with
`killpg(pid)`; its stdout and stderr go to `log`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib
import json
import os
import runpy
import socketserver
import sys
import traceback
from typing import Any

# Imported before the first fork: each is otherwise imported by every run, ~1 s together
# (`flow(...)` serializes parameters with FastAPI's encoder and checks for pydantic.v1 models).
WARM_MODULES = (
    "prefect", "prefect.flows", "prefect.tasks", "prefect.flow_engine", "prefect.task_engine",
    "prefect.task_runners", "prefect.cache_policies", "prefect.results", "prefect.utilities.visualization",
    "fastapi.encoders", "pydantic.v1", "yaml",
)


def _run_flow(request: dict[str, Any]) -> int:
    """In the forked child: become `python <flow file>` and run it; the exit code."""
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    flow_file = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(flow_file))  # what `python flow.py` puts first
    code = 0
    try:
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        # Heartbeats let a server notice a crashed run of a long flow; here the caller watches the
        # process itself, and the heartbeat thread's 1 s sleeps hold every run's end up to a second.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            runpy.run_path(flow_file, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - reported in the log, as an uncaught exception would be
        traceback.print_exc()
        code = 1
    # As at interpreter exit: Prefect drains its log and event workers in atexit handlers.
    with contextlib.suppress(BaseException):
        import atexit

        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/health":
            self.send_error(404)
            return
        self._json({"fingerprint": self.server.fingerprint})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/run":
            self.send_error(404)
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        pid = os.fork()
        if pid == 0:  # the run: never returns
            code = 1
            try:
                self.server.socket.close()
                self.connection.close()
                code = _run_flow(request)
            finally:
                os._exit(code)
        # This process (forked per request by ForkingMixIn) waits for the run and reports its end.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        self.wfile.write(json.dumps({"pid": pid}).encode() + b"\n")
        self.wfile.flush()
        _, status = os.waitpid(pid, 0)
        self.wfile.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")

    def _json(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    fingerprint = ""
    max_children = 64
    block_on_close = False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Warm Prefect flow runner (started by mlops-engineer).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fingerprint", default="")
    args = parser.parse_args(argv)
    for module in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.fingerprint = args.fingerprint
    # Forking is safe only while this process has a single thread: serve in the main thread.
    server.serve_forever(poll_interval=1.0)


if __name__ == "__main__":
    main()
