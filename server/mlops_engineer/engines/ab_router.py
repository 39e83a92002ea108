"""The A/B router service: check the model URIs, render the BentoML service, serve it, stop it.

Serving here is deliberately minimal (start `bentoml serve` detached in its own
process group, wait for /readyz, remember the pid in the workspace, stop the
whole group). It belongs to a shared local-services engine once one exists.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.ab_assignment import BUCKETS, boundaries, bucket_of
from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_engineer.workspace import Workspace

MARKER = "MLOPS_ENGINEER_AB_ROUTER"  # inherited by every process of a router, however it detaches
SERVICE_FILE = "service.py"
CONFIG_FILE = "abtest.json"
DEFAULT_LOG = "logs/assignments.jsonl"


def check_model_uri(client: MlflowClient, workspace: Workspace, uri: str) -> str:
    """Return a description of what `uri` points at, or raise not_found."""
    from mlflow.exceptions import MlflowException

    def missing(why: str) -> ToolError:
        return ToolError("not_found", f"The model URI '{uri}' does not exist: {why}.",
                         "List what is registered with register_ml_model action describe, or give a runs:/ or "
                         "models:/<name>/<version> URI that exists in this tracking store.")

    try:
        if uri.startswith("models:/"):
            ref = uri.removeprefix("models:/").rstrip("/")
            if ref.startswith("m-") and "/" not in ref:
                client.get_logged_model(ref)
                return f"logged model {ref}"
            name, sep, alias = ref.partition("@")
            if sep:
                mv = client.get_model_version_by_alias(name, alias)
                return f"{name} v{mv.version} (@{alias})"
            name, _, version = ref.rpartition("/")
            if not name or not version.isdigit():
                raise missing("expected models:/<name>@<alias> or models:/<name>/<version>")
            client.get_model_version(name, version)
            return f"{name} v{version}"
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            client.get_run(run_id)
            return f"run {run_id}"
    except MlflowException as exc:
        raise missing(str(getattr(exc, "message", exc)).splitlines()[0]) from exc
    if "://" in uri or uri.startswith(("s3:", "gs:")):
        raise missing("only models:/, runs:/ and workspace paths are checked before serving")
    path = workspace.resolve(uri)
    if not path.exists():
        raise missing("no such path in the workspace")
    return f"local model {workspace.relative(path)}"


def router_files(*, experiment: str, mode: str, salt: str, split: dict[str, float], champion_uri: str,
                 challenger_uri: str, log_path: str = DEFAULT_LOG, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """service.py, abtest.json and bentofile.yaml, relative to the router folder."""
    from mlops_engineer.render import render_template

    suffix = "".join(c if c.isalnum() else "_" for c in experiment.lower())[:40]
    config = {
        "experiment": experiment, "mode": mode, "salt": salt, "split": [list(b) for b in boundaries(split)],
        "weights": split, "champion_uri": champion_uri, "challenger_uri": challenger_uri, "log_path": log_path,
        **(extra or {}),
    }
    service = render_template("abtest/service.py.j2", experiment=experiment, buckets=BUCKETS, service_suffix=suffix,
                              bucket_of_source=inspect.getsource(bucket_of))
    bentofile = render_template("abtest/bentofile.yaml.j2", experiment=experiment)
    return {SERVICE_FILE: service, CONFIG_FILE: json.dumps(config, indent=2) + "\n", "bentofile.yaml": bentofile}


# ---------------------------------------------------------------- serving (minimal, local)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


def is_ready(url: str) -> bool:
    try:
        with _opener().open(url.rstrip("/") + "/readyz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def marked_pids(marker: str) -> list[int]:
    """Processes whose environment carries MARKER=marker: the router and every worker it spawned.

    BentoML starts its workers in sessions of their own, so neither the process
    group nor the parent link finds them all; the inherited environment does.
    """
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if not _zombie(pid)]


def _zombie(pid: int) -> bool:
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def router_alive(state: dict[str, Any]) -> bool:
    return bool(marked_pids(state["marker"])) if state.get("marker") else group_alive(state["pgid"])


def group_alive(pgid: int) -> bool:
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start_router(service_dir: Path, port: int, env: dict[str, str], log_file: Path, timeout: float,
                 progress: Any = None) -> dict[str, Any]:
    """`bentoml serve service:ABRouter` on 127.0.0.1:port in a new process group; waits for /readyz."""
    cmd = [sys.executable, "-m", "bentoml", "serve", "service:ABRouter", "--host", "127.0.0.1", "--port", str(port),
           "--working-dir", str(service_dir)]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    marker = uuid.uuid4().hex
    env = {**env, MARKER: marker}
    with log_file.open("ab") as log:
        proc = subprocess.Popen(cmd, cwd=service_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, log_file, timeout, progress)
    except BaseException:  # a cancelled or failed start leaves nothing running
        stop_router({"pgid": proc.pid, "marker": marker})
        raise
    return {"pid": proc.pid, "pgid": proc.pid, "marker": marker, "port": port, "url": url, "cmd": cmd, "started": time.time()}


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_file: Path, timeout: float, progress: Any) -> None:
    deadline = time.monotonic() + timeout
    while not is_ready(url):
        if proc.poll() is not None:
            raise ToolError("failed", f"The router exited with code {proc.returncode} before it was ready.\n"
                            + _tail(log_file), "Read the log above: a model that cannot load is the usual cause.")
        if time.monotonic() > deadline:
            raise ToolError("failed", f"The router did not answer /readyz within {timeout:.0f} s.\n" + _tail(log_file),
                            "Raise timeout_seconds on a busy machine, or read the log.")
        if progress:
            progress(min(time.monotonic() - (deadline - timeout), timeout), timeout, "waiting for the router")
        time.sleep(0.5)


def stop_router(state: dict[str, Any], timeout: float = 15.0) -> bool:
    """SIGTERM the router's group and marked processes, SIGKILL what is left after `timeout`."""
    pgid, marker = state["pgid"], state.get("marker")

    def alive() -> list[int]:
        return marked_pids(marker) if marker else ([pgid] if group_alive(pgid) else [])

    if not alive():
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        for pid in alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
        while time.monotonic() < deadline and alive():
            time.sleep(0.2)
        if not alive():
            break
    _reap(pgid)
    return True


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "--- router log tail ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no router log)"
