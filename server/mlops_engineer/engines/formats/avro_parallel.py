"""Decode a large Avro container file on every core, in order, a chunk of blocks at a time.

fastavro builds a Python dict per record while holding the GIL, so one process decodes at about
100k records a second whatever the machine, and threads do not help. An Avro container file is
a header (magic, metadata, a 16-byte sync marker) followed by self-contained blocks, each ending
in that marker: the parent only cuts the file into runs of whole blocks (reading their two
length prefixes, never decoding a record), and worker processes decode each run, behind a copy
of the header, into Arrow batches. Blocks are compressed or not as the file says; the workers
decompress them.

The batches come back in the file's order and each worker holds one run at a time, so memory
stays bounded however large the file is.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops_engineer.errors import ToolError

if TYPE_CHECKING:
    import pyarrow as pa

MAGIC = b"Obj\x01"
SYNC_BYTES = 16
MIN_PARALLEL_BYTES = 16 << 20  # below this, starting the workers costs more than it saves


def worker_count() -> int:
    """Processes to decode with: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def worth_parallel(path: Path) -> bool:
    return worker_count() > 1 and path.stat().st_size >= MIN_PARALLEL_BYTES


def _long(handle: BinaryIO) -> int:
    """One zig-zag varint (Avro's `long`); EOFError at the end of the file."""
    shift = value = 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise EOFError("the file ends inside a block header")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return (value >> 1) ^ -(value & 1)
        shift += 7
        if shift > 63:
            raise ValueError("a length in the file is not a valid Avro long")


def _exactly(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise EOFError(f"the file ends {size - len(data)} bytes short of its last block")
    return data


def read_header(handle: BinaryIO) -> tuple[bytes, bytes]:
    """(the header's bytes, its sync marker), leaving `handle` at the first block."""
    start = handle.tell()
    if handle.read(4) != MAGIC:
        raise ValueError("not an Avro container file (no 'Obj\\x01' magic)")
    while (count := _long(handle)) != 0:  # the metadata map, in blocks of entries
        if count < 0:
            count = -count
            _long(handle)  # the block's size in bytes, which we do not need
        for _ in range(count * 2):  # key, then value: both length-prefixed
            size = _long(handle)
            if size < 0:
                raise ValueError("a metadata entry has a negative length")
            _exactly(handle, size)
    sync = _exactly(handle, SYNC_BYTES)
    end = handle.tell()
    handle.seek(start)
    return _exactly(handle, end - start), sync


def block_runs(handle: BinaryIO, sync: bytes, records_per_run: int) -> Iterator[tuple[bytes, int]]:
    """(whole blocks' bytes, their record count), `records_per_run` records or a little more each."""
    parts: list[bytes] = []
    records = 0
    while True:
        here = handle.tell()
        if not handle.read(1):
            break
        handle.seek(here)
        count, size = _long(handle), _long(handle)
        if count < 0 or size < 0:
            raise ValueError(f"the block at byte {here} has a negative record count or size")
        body = _exactly(handle, size)
        if _exactly(handle, SYNC_BYTES) != sync:
            raise ValueError(f"the block at byte {here} does not end in the file's sync marker")
        end = handle.tell()
        handle.seek(here)
        parts.append(handle.read(end - here - size - SYNC_BYTES) + body + sync)
        handle.seek(end)
        records += count
        if records >= records_per_run:
            yield b"".join(parts), records
            parts, records = [], 0
    if parts:
        yield b"".join(parts), records


def decode_run(header: bytes, blocks: bytes, schema: pa.Schema, batch_rows: int, needs_plain: bool) -> bytes:
    """The records of `blocks` as one Arrow IPC stream of batches of at most `batch_rows` rows."""
    import fastavro
    import pyarrow as pa

    from mlops_engineer.engines.formats.readers import _plain

    sink = pa.BufferOutputStream()
    rows: list[dict[str, Any]] = []
    with pa.ipc.new_stream(sink, schema) as writer:
        for record in fastavro.reader(io.BytesIO(header + blocks)):
            rows.append(_plain(record) if needs_plain else record)
            if len(rows) >= batch_rows:
                writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
                rows.clear()
        if rows:
            writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
    return sink.getvalue().to_pybytes()


# ----------------------------------------------------------------------------- the workers
# Plain child processes speaking length-prefixed frames on their stdin and stdout, rather than
# multiprocessing: its "spawn" re-imports the caller's main module in every worker (an unguarded
# script would run again), and "fork" would copy the server's threads' locks mid-use.

_FRAME = struct.Struct(">BQ")  # kind, length
_OK, _FAILED = 0, 1


def _send(stream: BinaryIO, kind: int, payload: bytes) -> None:
    stream.write(_FRAME.pack(kind, len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: BinaryIO) -> tuple[int, bytes] | None:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    kind, size = _FRAME.unpack(head)
    payload = stream.read(size)
    return (kind, payload) if len(payload) == size else None


def serve_worker(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """A worker's loop: a set-up frame (header, Arrow schema, batch rows, plain flag), then one
    answer frame per run frame: the run's IPC stream, or the error that stopped it."""
    import pyarrow as pa

    setup = _receive(stdin)
    if setup is None:
        return
    options = json.loads(setup[1])
    header, schema = bytes.fromhex(options["header"]), pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(options["schema"])))
    while (frame := _receive(stdin)) is not None:
        try:
            _send(stdout, _OK, decode_run(header, frame[1], schema, options["batch_rows"], options["plain"]))
        except Exception as exc:  # the file's fault, reported to the parent, which names the file
            _send(stdout, _FAILED, f"{type(exc).__name__}: {exc}".encode())


def _start_worker(setup: bytes) -> subprocess.Popen[bytes]:
    package_root = Path(__file__).resolve().parents[3]  # the folder holding mlops_engineer
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")]))}
    worker = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    _send(worker.stdin, _OK, setup)  # type: ignore[arg-type]
    return worker


def _answer(worker: subprocess.Popen[bytes], path: Path) -> bytes:
    frame = _receive(worker.stdout)  # type: ignore[arg-type]
    if frame is None:
        raise ToolError("failed", f"A worker decoding '{path.name}' stopped (exit code {worker.wait()}).",
                        "Run the call again; if it stops again, the machine may be short of memory for "
                        f"{worker_count()} decoding processes.")
    if frame[0] == _FAILED:
        raise ValueError(frame[1].decode(errors="replace"))
    return frame[1]


def parallel_batches(path: Path, schema: pa.Schema, batch_rows: int, needs_plain: bool) -> Iterator[pa.RecordBatch]:
    """The records of the Avro file `path` as batches of `schema`, decoded by worker processes.

    Run k goes to worker k mod n, and each worker holds one run at a time, so the answers are read
    back in the file's order and a worker never waits on a pipe the parent is not reading."""
    import pyarrow as pa

    workers: list[subprocess.Popen[bytes]] = []
    try:
        with path.open("rb") as handle:
            header, sync = read_header(handle)
            setup = json.dumps({"header": header.hex(), "schema": schema.serialize().to_pybytes().hex(),
                                "batch_rows": batch_rows, "plain": needs_plain}).encode()
            workers = [_start_worker(setup) for _ in range(worker_count())]
            busy: deque[subprocess.Popen[bytes]] = deque()
            for index, (blocks, _) in enumerate(block_runs(handle, sync, batch_rows)):
                if len(busy) == len(workers):  # every worker holds a run: take the oldest answer first
                    yield from pa.ipc.open_stream(pa.py_buffer(_answer(busy.popleft(), path)))
                worker = workers[index % len(workers)]
                _send(worker.stdin, _OK, blocks)  # type: ignore[arg-type]
                busy.append(worker)
            while busy:
                yield from pa.ipc.open_stream(pa.py_buffer(_answer(busy.popleft(), path)))
    finally:  # finished, failed or cancelled: no worker outlives the read
        for worker in workers:
            worker.kill()
            worker.wait()
            for pipe in (worker.stdin, worker.stdout):
                pipe.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    serve_worker(sys.stdin.buffer, sys.stdout.buffer)
