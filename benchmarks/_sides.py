"""Run part of a benchmark in a worker process, on this build or on another one, so a before/after
comparison shares one run, interleaved round by round.

A benchmark that takes `--before DIR` compares with the source tree in DIR, made for example with

    mkdir -p /tmp/before && git archive <commit> | tar -x -C /tmp/before

The worker imports `mlops_engineer` from DIR/server (first on PYTHONPATH, ahead of the installed
editable copy; the tree's own skills/ and templates/ come with it) and the benchmark's functions
from this folder. Requests and answers are JSON lines on the worker's stdin and original stdout;
whatever the code under test prints goes to stderr.

    with Side("before", Path("/tmp/before")) as before, Side("after", None) as after:
        before.call("pipeline_run:side_round", root="/tmp/x")
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent


class Side:
    def __init__(self, label: str, source: Path | None, env: dict[str, str] | None = None) -> None:
        self.label = label
        self.source = source
        child_env = {**os.environ, **(env or {})}
        paths = [str(HERE)] + ([str(source / "server")] if source else [])
        child_env["PYTHONPATH"] = os.pathsep.join([*reversed(paths), *filter(None, [os.environ.get("PYTHONPATH")])])
        self._proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env, text=True)
        where = self.call("_sides:package_file")
        expected = (source / "server") if source else None
        if expected and not where.startswith(str(expected)):
            raise RuntimeError(f"{label}: imported mlops_engineer from {where}, not from {expected}")
        self.package = where

    def call(self, function: str, **kwargs: Any) -> Any:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps({"function": function, "kwargs": kwargs}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label}: the worker exited (code {self._proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.label}: {function} failed:\n{answer['error']}")
        return answer["value"]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def __enter__(self) -> Side:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def package_file() -> str:
    import mlops_engineer

    return str(Path(mlops_engineer.__file__).resolve())


def _serve() -> None:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints of the code under test must not corrupt the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        module, _, name = request["function"].partition(":")
        try:
            value = getattr(importlib.import_module(module), name)(**request["kwargs"])
            answer = {"value": value}
        except BaseException:  # noqa: BLE001 - reported to the benchmark, which raises it
            answer = {"error": traceback.format_exc()}
        replies.write(json.dumps(answer, default=str) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
