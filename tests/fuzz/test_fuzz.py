"""Fuzz every tool through the real stdio server with the corpus of tests/fuzz/corpus.py.

Asserted over the whole run, with totals printed (and written to fuzz-summary.json in the
test's temporary folder):
- the server survives every case (a dead server is a crash; it is restarted and counted);
- every case is answered within its deadline (else a hang) by a result, or by an error
  in our structured shape with a known code and a hint;
- nothing is written outside the workspace: not in the canary folder the hostile paths
  point at, nor in the server's working folder or home;
- no secret given in an input comes back, in any answer or in any file the call wrote.

Then identical calls are made at once (REPLAYED), and any duplicate state they leave is counted.
Bounded to a few minutes: about 60 cases a tool, heavy actions as dry runs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any, get_args

import pytest
from mcp.client.stdio import StdioServerParameters, stdio_client

from mlops_engineer.errors import ErrorCode
from tests.e2e._support import SERVER_SCRIPT, SyncClient, sync_client, text_of
from tests.fuzz.corpus import SECRET_PREFIX, Case, build_corpus

CALL_DEADLINE_S = 120
CODES = set(get_args(ErrorCode))


class FuzzServer:
    """The stdio server, restartable: a crash is counted and the run goes on."""

    def __init__(self, workspace: Path, cwd: Path, home: Path, errlog: Path) -> None:
        self.params = StdioServerParameters(
            command=str(SERVER_SCRIPT), args=["--workspace", str(workspace), "serve"], cwd=str(cwd),
            # HOME is a folder of the test's, watched for writes; the catalog cache lives apart from it.
            env={"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml"), "HOME": str(home),
                 "MLOPS_ENGINEER_CACHE_DIR": str(workspace.parent / "catalog-cache")},
        )
        self.errlog_path = errlog
        self.stack: ExitStack | None = None
        self.client: SyncClient | None = None

    def start(self) -> SyncClient:
        self.stack = ExitStack()
        errlog = self.stack.enter_context(open(self.errlog_path, "a"))  # noqa: SIM115 - closed with the stack
        self.client = self.stack.enter_context(sync_client(stdio_client(self.params, errlog=errlog)))
        return self.client

    def stop(self) -> None:
        if self.stack is not None:
            try:
                self.stack.close()
            except Exception:  # noqa: BLE001 - a crashed server may not close cleanly
                pass
        self.stack, self.client = None, None

    def alive(self) -> bool:
        try:
            assert self.client is not None
            self.client.list_tools()
            return True
        except Exception:  # noqa: BLE001
            return False


def _snapshot(*folders: Path) -> set[str]:
    return {str(p) for folder in folders for p in folder.rglob("*")}


def _secrets_in_files(workspace: Path, secrets: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in workspace.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 2_000_000:
            data = path.read_bytes()
            hits = [s for s in secrets if s.encode() in data]
            if hits:
                found[str(path.relative_to(workspace))] = hits
    return found


def _check_answer(case: Case, structured: Any, text: str, is_error: bool) -> list[str]:
    problems = []
    if is_error:
        error = (structured or {}).get("error") if isinstance(structured, dict) else None
        if not isinstance(error, dict) or error.get("code") not in CODES or not error.get("message") or not error.get("hint"):
            problems.append(f"unstructured error: {text[:200]!r} / {str(structured)[:200]}")
        elif not text.startswith(f"[{error['code']}]"):
            problems.append(f"error text does not lead with its code: {text[:120]!r}")
    elif not isinstance(structured, dict):
        problems.append("a result without structured content")
    answer = text + json.dumps(structured)
    problems += [f"secret {s} echoed" for s in case.secrets if s in answer]
    return problems


REPLAYED = {  # identical calls made at once: each must leave one copy of its state
    "track_ml_experiments": {"operation": {"action": "log_run", "experiment": "fuzz-replay", "run_name": "same",
                                           "params": {"C": 1.0}, "metrics": {"auc": 0.8}}},
}
REPLAYS = 8


def _replay_concurrently(client: SyncClient, workspace: Path) -> int:
    """Extra copies left by REPLAYS identical calls at once (duplicate runs by input digest)."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow import MlflowClient

    from mlops_engineer.engines.mlflow.tracking import DIGEST_TAG

    calls = [call for call in REPLAYED.items() for _ in range(REPLAYS)]
    with ThreadPoolExecutor(REPLAYS) as pool:
        results = list(pool.map(lambda call: client.call_tool(*call, read_timeout_seconds=CALL_DEADLINE_S), calls))
    assert not any(r.is_error for r in results), [text_of(r) for r in results if r.is_error]
    store = MlflowClient(tracking_uri=f"sqlite:///{workspace / '.mlops' / 'mlflow.db'}")
    experiment = store.get_experiment_by_name("fuzz-replay")
    runs = store.search_runs([experiment.experiment_id])
    digests = Counter(run.data.tags.get(DIGEST_TAG) for run in runs)
    return sum(count - 1 for count in digests.values())


@pytest.mark.timeout(1800)
def test_fuzz_corpus_through_the_stdio_server(tmp_path: Path) -> None:
    workspace, canary, cwd, home = (tmp_path / name for name in ("ws", "canary", "cwd", "home"))
    for folder in (workspace, canary, cwd, home):
        folder.mkdir()
    (workspace / "out").symlink_to(canary, target_is_directory=True)
    cases = build_corpus(canary, "out")
    outside_before = _snapshot(canary, cwd, home) | {str(p) for p in tmp_path.iterdir()}

    server = FuzzServer(workspace, cwd, home, tmp_path / "server-stderr.log")
    client = server.start()
    totals: Counter[str] = Counter()
    failures: list[str] = []
    for case in cases:
        totals["cases"] += 1
        totals[f"kind:{case.kind}"] += 1
        for relative, content in case.files.items():
            target = workspace / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            result = client.call_tool(case.tool, case.arguments, read_timeout_seconds=CALL_DEADLINE_S)
        except Exception as exc:  # noqa: BLE001 - a timeout or a dead server, told apart below
            alive = server.alive()
            totals["hangs" if alive else "crashes"] += 1
            failures.append(f"{case.id}: {'hang' if alive else 'crash'}: {type(exc).__name__}: {str(exc)[:200]}")
            if not alive:
                server.stop()
                client = server.start()
            continue
        totals["errors" if result.is_error else "results"] += 1
        if result.is_error and isinstance(result.structured_content, dict):
            totals[f"code:{result.structured_content.get('error', {}).get('code')}"] += 1
        for problem in _check_answer(case, result.structured_content, text_of(result), bool(result.is_error)):
            totals["secrets" if problem.startswith("secret") else "unstructured"] += 1
            failures.append(f"{case.id}: {problem}")
    totals["duplicates"] = _replay_concurrently(client, workspace)
    if totals["duplicates"]:
        failures.append(f"{totals['duplicates']} duplicate run(s) from identical concurrent calls")
    still_up = server.alive()
    server.stop()

    escapes = sorted((_snapshot(canary, cwd, home) | {str(p) for p in tmp_path.iterdir()}) - outside_before
                     - {str(tmp_path / "server-stderr.log")} - _snapshot(tmp_path / "catalog-cache")
                     - {str(tmp_path / "catalog-cache"), str(tmp_path / "fuzz-summary.json")})
    totals["escapes"] = len(escapes)
    failures += [f"written outside the workspace: {path}" for path in escapes]
    all_secrets = {s for case in cases for s in case.secrets}
    in_files = _secrets_in_files(workspace, all_secrets)
    totals["secrets_in_files"] = len(in_files)
    failures += [f"secret {hits} written into {path}" for path, hits in in_files.items()]

    summary = {"totals": dict(sorted(totals.items())), "failures": failures}
    (tmp_path / "fuzz-summary.json").write_text(json.dumps(summary, indent=2))
    print("fuzz totals:", json.dumps(summary["totals"]))
    assert still_up, "the server did not survive the corpus"
    assert not failures, f"{len(failures)} problem(s) in {totals['cases']} cases:\n" + "\n".join(failures[:80])
    assert SECRET_PREFIX not in (tmp_path / "server-stderr.log").read_text(errors="replace"), "a secret reached the log"
    assert os.listdir(cwd) == [] and os.listdir(canary) == []
