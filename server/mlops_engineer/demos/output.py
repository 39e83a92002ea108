"""The demo's terminal shows only the demo's own lines; everything else goes to a log file.

The SDKs the demo drives write to the terminal in every way there is: Python warnings
(MLflow, Evidently, Litestar), logging handlers that captured `sys.stderr` at import
(MLflow's), `print` to stdout (Feast's "Materializing ..."), tqdm progress bars, and
child processes that inherit our file descriptors (Prefect's flow run, DVC). Filtering
each of them would be a list that is never complete, so we move the file descriptors
themselves: for the length of the demo, fd 1 and fd 2 point at the log, and the demo's
own lines go to a duplicate of the original stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def terminal_to_log(log_path: Path) -> Iterator[TextIO]:
    """Send fd 1 and fd 2 to `log_path` (rewritten each run); yield a stream to the real stdout.

    Both descriptors are restored on the way out, also after an exception, so a crash's
    traceback still reaches the terminal.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding=sys.stdout.encoding or "utf-8", errors="replace")
    try:
        with log_path.open("wb") as log:
            for fd in (1, 2):
                os.dup2(log.fileno(), fd)
            try:
                yield terminal
            finally:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                for fd, copy in saved.items():
                    os.dup2(copy, fd)
    finally:
        terminal.close()
        for copy in saved.values():
            os.close(copy)
