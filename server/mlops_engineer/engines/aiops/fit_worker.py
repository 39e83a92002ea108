"""Model fits in a child process, so a fit that overruns its time can be stopped.

A statsmodels fit cannot be interrupted from another thread (the optimiser runs in C and
Python without a cancellation point), and a thread left running would keep a core busy
long after the call answered. So the backtest sends every fit to one child process
(`python -m mlops_engineer.engines.aiops.fit_worker`, no shell), waits for the answer
at most `timeout` seconds, and on overrun kills the child and starts a fresh one for
the next fit. The child imports statsmodels once, before its first task, and that import
is not charged to any model.

Protocol: `mlops_engineer.child_pipes` messages over the child's stdin/stdout; the child sends
("ready", None) once, then ("ok", Prediction) or ("error", "Type: message") per task.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlops_engineer.child_pipes import protocol_stdout, receive, send, stop

if TYPE_CHECKING:
    import numpy as np

    from mlops_engineer.engines.aiops.forecasters import Prediction

START_TIMEOUT = 120.0  # importing statsmodels on a busy machine; never charged to a model
POLL = 0.25  # how often a waiting parent checks for cancellation


class FitTimeout(Exception):
    """The fit did not answer within its time."""


class FitFailed(Exception):
    """The fit raised in the child; the message is the child's `Type: message`."""


class FitWorker:
    """One child process at a time; use as a context manager so it never outlives the call."""

    def __init__(self, check: Callable[[], None] | None = None) -> None:
        self._check = check or (lambda: None)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False

    def __enter__(self) -> FitWorker:
        self._spawn()  # the child imports statsmodels while the caller prepares the series
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Wait until the child has imported statsmodels (not charged to any fit's timeout)."""
        self._ensure_started()

    def predict(self, model: str, y: np.ndarray, h: int, periods: Sequence[int], level: float,
                timeout: float) -> Prediction:
        """forecasters.predict(model, y, h, periods, level) in the child, within `timeout` seconds."""
        proc = self._ensure_started()
        send(proc.stdin, (model, y, h, list(periods), level))  # type: ignore[arg-type]
        kind, payload = self._receive(timeout)
        if kind == "error":
            raise FitFailed(payload)
        return payload

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop(proc)

    def _spawn(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=env)
        self._ready = False

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        self._spawn()
        if not self._ready:
            kind, _ = self._receive(START_TIMEOUT)
            if kind != "ready":
                raise FitFailed("the fit worker did not start")
            self._ready = True
        assert self._proc is not None
        return self._proc

    def _receive(self, timeout: float) -> tuple[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._check()
            except BaseException:
                self.close()  # cancelled: the fit stops with the call
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise FitTimeout(f"no answer within {timeout:.1f} s")
            ready, _, _ = select.select([proc.stdout], [], [], min(POLL, left))
            if ready:
                try:
                    return receive(proc.stdout)
                except EOFError as exc:
                    code = proc.wait()
                    self.close()
                    raise FitFailed(f"the fit worker exited (code {code})") from exc


def _serve() -> None:
    """The child: answer tasks until stdin closes. stdout carries only the protocol."""
    out = protocol_stdout()
    from mlops_engineer.engines.aiops import forecasters

    for module in ("statsmodels.tsa.statespace.sarimax", "statsmodels.tsa.exponential_smoothing.ets",
                   "statsmodels.tsa.forecasting.theta", "statsmodels.tsa.arima.model", "statsmodels.tsa.seasonal"):
        __import__(module)
    send(out, ("ready", None))
    stdin = sys.stdin.buffer
    while True:
        try:
            model, y, h, periods, level = receive(stdin)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", forecasters.predict(model, y, h, periods, level))
        except Exception as exc:  # reported to the parent, which records the model as failed
            answer = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        send(out, answer)


if __name__ == "__main__":
    _serve()
