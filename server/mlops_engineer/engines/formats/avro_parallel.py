"""Decode and encode large Avro container files on every core, in order, a run of blocks at a time.

fastavro builds a Python dict per record while holding the GIL, so one process decodes at about
100k records a second whatever the machine, and threads do not help. An Avro container file is
a header (magic, metadata, a 16-byte sync marker) followed by self-contained blocks, each ending
in that marker: the parent only cuts the file into runs of whole blocks (reading their two
length prefixes, never decoding a record), and worker processes decode each run, behind a copy
of the header, into Arrow batches. Blocks are compressed or not as the file says; the workers
decompress them. Writing is the same in reverse: the parent writes the header, workers encode
batches into blocks ending in its sync marker, and the parent appends them.

The results come back in the file's order and each worker holds one run at a time, so memory
stays bounded however large the file is.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops_engineer.child_pipes import protocol_stdout, receive, send, stop
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
# Plain child processes speaking `child_pipes` messages on their stdin and stdout, rather than
# multiprocessing: its "spawn" re-imports the caller's main module in every worker (an unguarded
# script would run again), and "fork" would copy the server's threads' locks mid-use.


def encode_run(ipc: bytes, schema: Any, codec: str, sync: bytes) -> bytes:
    """The rows of the IPC stream `ipc` as whole Avro blocks ending in `sync`, with no header."""
    import fastavro
    import pyarrow as pa

    from mlops_engineer.engines.formats.avro import records

    out = io.BytesIO()
    rows = [row for batch in pa.ipc.open_stream(pa.py_buffer(ipc)) for row in records(batch)]
    fastavro.writer(out, schema, rows, codec=codec, sync_marker=sync)
    out.seek(0)
    read_header(out)
    return out.read()


def serve_worker() -> None:
    """A worker's loop: a set-up message (the job and what it needs), then one answer per run:
    ("ok", the run decoded as an IPC stream or encoded as Avro blocks) or ("error", why)."""
    import fastavro
    import pyarrow as pa

    out, stdin = protocol_stdout(), sys.stdin.buffer
    try:
        options = receive(stdin)
    except EOFError:
        return
    if options["job"] == "decode":
        schema = pa.ipc.read_schema(pa.py_buffer(options["schema"]))

        def run(data: bytes) -> bytes:
            return decode_run(options["header"], data, schema, options["batch_rows"], options["plain"])
    else:
        parsed = fastavro.parse_schema(options["schema"])

        def run(data: bytes) -> bytes:
            return encode_run(data, parsed, options["codec"], options["sync"])
    while True:
        try:
            data = receive(stdin)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", run(data))
        except Exception as exc:  # the data's fault, reported to the parent, which raises it there
            answer = ("error", f"{type(exc).__name__}: {exc}")
        send(out, answer)


def _start_worker(setup: dict[str, Any]) -> subprocess.Popen[bytes]:
    package_root = Path(__file__).resolve().parents[3]  # the folder holding mlops_engineer
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")]))}
    worker = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    send(worker.stdin, setup)  # type: ignore[arg-type]
    return worker


def _answer(worker: subprocess.Popen[bytes], label: str) -> bytes:
    try:
        kind, payload = receive(worker.stdout)  # type: ignore[arg-type]
    except EOFError:
        raise ToolError("failed", f"A worker converting {label} stopped (exit code {worker.wait()}).",
                        "Run the call again; if it stops again, the machine may be short of memory for "
                        f"{worker_count()} worker processes.") from None
    if kind == "error":
        raise ValueError(payload)
    return payload


def _in_workers(setup: dict[str, Any], runs: Iterator[bytes], label: str) -> Iterator[bytes]:
    """Each run's answer, in the runs' order. Run k goes to worker k mod n, and each worker holds
    one run at a time, so a worker never waits on a pipe the parent is not reading and memory
    stays bounded. No worker outlives the iteration, whether it ends, fails or is abandoned."""
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [_start_worker(setup) for _ in range(worker_count())]
        busy: deque[subprocess.Popen[bytes]] = deque()
        for index, run in enumerate(runs):
            if len(busy) == len(workers):  # every worker holds a run: take the oldest answer first
                yield _answer(busy.popleft(), label)
            worker = workers[index % len(workers)]
            send(worker.stdin, run)  # type: ignore[arg-type]
            busy.append(worker)
        while busy:
            yield _answer(busy.popleft(), label)
    finally:
        for worker in workers:
            stop(worker)


def parallel_batches(path: Path, schema: pa.Schema, batch_rows: int, needs_plain: bool) -> Iterator[pa.RecordBatch]:
    """The records of the Avro file `path` as batches of `schema`, decoded by worker processes."""
    import pyarrow as pa

    with path.open("rb") as handle:
        header, sync = read_header(handle)
        setup = {"job": "decode", "header": header, "schema": schema.serialize().to_pybytes(),
                 "batch_rows": batch_rows, "plain": needs_plain}
        runs = (blocks for blocks, _ in block_runs(handle, sync, batch_rows))
        with contextlib.closing(_in_workers(setup, runs, f"'{path.name}'")) as answers:  # closed at once if abandoned
            for answer in answers:
                yield from pa.ipc.open_stream(pa.py_buffer(answer))


def encoded_blocks(batches: Iterator[pa.RecordBatch], schema: dict[str, Any], codec: str, sync: bytes) -> Iterator[bytes]:
    """Each batch as Avro blocks ending in `sync` (to follow a header with that marker), encoded by
    worker processes, in the batches' order."""
    import pyarrow as pa

    def runs() -> Iterator[bytes]:
        for batch in batches:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            yield sink.getvalue().to_pybytes()

    setup = {"job": "encode", "schema": schema, "codec": codec, "sync": sync}
    yield from _in_workers(setup, runs(), "the Avro output")


if __name__ == "__main__":
    serve_worker()
