"""Messages between the server and a Python child process it started (`python -m <module>`, no
shell): length-prefixed pickles over the child's stdin and stdout, both ends ours.

Used where work must run in another process: a model fit that may have to be killed
(engines.aiops.fit_worker) and Avro records decoded or encoded on every core
(engines.formats.avro_parallel).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from typing import IO, Any

HEADER = struct.Struct("!Q")


def send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the other end has closed or died."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    size = HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own child process, over its private pipe


def protocol_stdout() -> IO[bytes]:
    """In the child: the stream to answer on. sys.stdout becomes stderr, so a stray print cannot
    corrupt the protocol."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child if it still runs, reap it and close our ends of its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()
