"""Convert datasets between CSV, JSON/JSONL, Parquet, Arrow IPC/Feather, Avro and Protobuf (from a
.proto), streaming batch by batch; report what each conversion loses and refuse a lossy one
unless confirmed; read folders whose schema evolved; inspect a file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.errors import ToolError
from mlops_engineer.output import TablePreview
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["csv", "jsonl", "json", "parquet", "arrow", "avro", "protobuf"]
Compression = Literal["none", "snappy", "zstd", "gzip", "brotli", "lz4", "deflate"]
MB = 1 << 20
RECORD = "formats/conversions.json"  # under .mlops: what each target was converted from (idempotence)
# Which codecs each format's writer takes (Avro's are fastavro's; the rest Arrow's).
CODECS: dict[str, set[str]] = {
    "parquet": {"none", "snappy", "zstd", "gzip", "brotli", "lz4"}, "arrow": {"none", "zstd", "lz4"}, "avro": {"none", "deflate"},
}


class ProtoMessage(StrictModel):
    proto: str = Field(description="The .proto file in the workspace (one file; well-known types may be imported).")
    message: str = Field(min_length=1, description="The message type each row is, e.g. \"ChurnRow\".")


class Convert(StrictModel):
    """Convert a file or folder; report losses.

    A lossy conversion (time zone, decimal, nested, narrowing, dropped column) needs confirm=true.
    A folder is read as one dataset: missing columns become nulls, types widen where safe.
    """

    action: Literal["convert"]
    source: str = Field(description="A file, or a folder of files of one format (schemas may differ).")
    target: str = Field(description="The file to write; replaced atomically.")
    source_format: Format | None = Field(default=None, description="Detected from the file when omitted.")
    target_format: Format | None = Field(default=None, description="From the target's suffix when omitted.")
    protobuf: ProtoMessage | None = Field(default=None, description="Needed when either side is Protobuf.")
    compression: Compression | None = Field(default=None, description="Parquet zstd, others none, by default.")
    batch_rows: int = Field(default=65_536, ge=1, le=10_000_000, description="Rows per batch read and written.")
    memory_budget_mb: int = Field(default=1024, ge=16, description="Refuse Parquet row groups larger than half of it.")


class Inspect(StrictModel):
    """Schema, rows, row groups, compression, statistics."""

    action: Literal["inspect"]
    path: str = Field(description="A data file in the workspace.")
    format: Format | None = Field(default=None, description="Detected from the file when omitted.")
    protobuf: ProtoMessage | None = None
    verify: bool = Field(default=True, description="Also decode every row (streamed) and check the count against the metadata.")
    batch_rows: int = Field(default=65_536, ge=1, le=10_000_000)
    memory_budget_mb: int = Field(default=1024, ge=16)


Operation = Annotated[Convert | Inspect, Field(discriminator="action")]


class FormatsInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")


class ChangeInfo(BaseModel):
    column: str
    kind: str = Field(description="nullability, decimal, timezone, nested, dictionary, integer_width, precision, type, dropped or default.")
    detail: str
    lossy: bool = Field(description="True when a reader of the target cannot get the source's values or types back.")


class FileInspection(BaseModel):
    format: str
    size_bytes: int
    rows: int | None = Field(default=None, description="From the metadata, or counted by the full read.")
    rows_read: int | None = Field(default=None, description="Rows decoded by the full read (verify).")
    columns: TablePreview
    row_groups: TablePreview | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="Format-specific: Parquet writer, leaf columns with "
                                    "compression, encodings and statistics; Avro codec and schema; IPC kind.")


class FormatsOutput(ToolOutput):
    action: str
    source: str | None = None
    target: str | None = None
    source_format: str | None = None
    target_format: str | None = None
    rows: int | None = Field(default=None, description="Rows written (convert) or in the file (inspect).")
    files_read: int = 0
    schema_: list[dict[str, Any]] = Field(default_factory=list, alias="schema", description="The schema read (name, type, nullable).")
    unified: list[str] = Field(default_factory=list, description="Folder read: the columns filled with nulls and types widened.")
    changes: list[ChangeInfo] = Field(default_factory=list)
    lossy: bool = False
    written: bool = Field(default=False, description="False when nothing was written (dry run, or the target was already up to date).")
    bytes_written: int | None = None
    inspection: FileInspection | None = None

    model_config = {"populate_by_name": True}


# --------------------------------------------------------------------------- shared


def _message_class(ctx: ToolContext, spec: ProtoMessage | None, side: str) -> type:
    from mlops_engineer.engines.formats.protobuf import load_message

    if spec is None:
        raise ToolError("invalid_input", f"The {side} is Protobuf, which needs its .proto and message name.",
                        'Add "protobuf": {"proto": "schema/rows.proto", "message": "Row"}.')
    proto = ctx.workspace.resolve(spec.proto, must_exist=True)
    return load_message(proto, spec.message, ctx.workspace.state_dir / "protobuf")


def _open(ctx: ToolContext, path: Path, fmt: str | None, spec: ProtoMessage | None, batch_rows: int, budget: int,
          out: FormatsOutput) -> pa.RecordBatchReader:
    """The source as one reader: a file, or a folder unified across its files."""
    from mlops_engineer.engines.formats import evolve, readers

    if path.is_dir():
        if fmt == "protobuf":
            raise ToolError("invalid_input", "A folder of Protobuf files is not supported.", "Convert the files one by one.")
        unified = evolve.unify(path, fmt)
        out.source_format, out.files_read, out.unified = unified.fmt, len(unified.files), unified.notes
        return evolve.read_unified(unified, batch_rows, budget // 2)
    fmt = fmt or readers.detect_format(path)
    out.source_format, out.files_read = fmt, 1
    if fmt != "protobuf":
        return readers.open_reader(path, fmt, batch_rows=batch_rows, max_row_group_bytes=budget // 2)
    from mlops_engineer.engines.formats.protobuf import read_messages
    from mlops_engineer.optional import import_optional

    pa = import_optional("pyarrow", readers.EXTRA)
    schema, batches = read_messages(path, _message_class(ctx, spec, "source"), batch_rows)
    return pa.RecordBatchReader.from_batches(schema, readers.guarded(path, "protobuf", batches))


def _target_format(op: Convert, target: Path) -> str:
    from mlops_engineer.engines.formats.readers import SUFFIXES

    fmt = op.target_format or SUFFIXES.get(target.suffix.lower())
    if fmt is None:
        raise ToolError("invalid_input", f"Cannot tell the target format from '{op.target}'.",
                        "Give target_format, or a suffix: .csv .jsonl .json .parquet .arrow .feather .avro .pb")
    if op.compression and op.compression != "none" and op.compression not in CODECS.get(fmt, set()):
        raise ToolError("invalid_input", f"compression '{op.compression}' is not available for {fmt}.",
                        f"Use one of: {', '.join(sorted(CODECS.get(fmt, {'none'})))}.")
    return fmt


def _progress(ctx: ToolContext, total: int | None, verb: str):  # noqa: ANN202
    def report(rows: int) -> None:
        ctx.progress(rows, total, f"{verb} {rows:,} rows")
    return report


def _known_rows(path: Path, fmt: str | None) -> int | None:
    if path.is_file() and fmt == "parquet":
        from mlops_engineer.optional import import_optional

        pq = import_optional("pyarrow.parquet", "formats")
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # the reader reports it properly
            return None
    return None


# --------------------------------------------------------------------------- convert


def _source_key(ctx: ToolContext, op: Convert, source: Path) -> str:
    from mlops_engineer.output import stable_digest

    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    stats = [[ctx.workspace.relative(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    proto = ctx.workspace.resolve(op.protobuf.proto, must_exist=True).read_text(errors="replace") if op.protobuf else ""
    return stable_digest({"op": op.model_dump(mode="json"), "files": stats, "proto": proto})


def _records(ctx: ToolContext) -> dict[str, Any]:
    path = ctx.workspace.state_dir / RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _convert(op: Convert, inp: FormatsInput, ctx: ToolContext) -> FormatsOutput:
    from mlops_engineer.engines.formats import losses, writers
    from mlops_engineer.engines.formats.inspect import describe_schema
    from mlops_engineer.locks import workspace_lock

    ws = ctx.workspace
    source, target = ws.resolve(op.source, must_exist=True), ws.resolve(op.target)
    out = FormatsOutput(action="convert", source=ws.relative(source), target=ws.relative(target), dry_run=inp.dry_run)
    if source == target or (source.is_dir() and source in target.parents):
        raise ToolError("invalid_input", "The target is the source, or inside the source folder.", "Write the target somewhere else.")
    if target.is_dir():
        raise ToolError("invalid_input", f"The target '{op.target}' is a folder.", "Give a file name, e.g. data/train.parquet.")
    fmt = _target_format(op, target)
    out.target_format = fmt
    budget = op.memory_budget_mb * MB
    reader = _open(ctx, source, op.source_format, op.protobuf, op.batch_rows, budget, out)
    out.schema_ = describe_schema(reader.schema)
    if fmt == "protobuf":
        from mlops_engineer.engines.formats import protobuf

        message_class = _message_class(ctx, op.protobuf, "target")
        found = protobuf.changes(reader.schema, message_class)
    else:
        message_class = None
        found = losses.changes(reader.schema, fmt)
    out.changes = [ChangeInfo(column=c.column, kind=c.kind, detail=c.detail, lossy=c.lossy) for c in found]
    out.lossy = any(c.lossy for c in found)
    key = _source_key(ctx, op, source)
    out.planned_calls = [f"read {out.source_format} {out.source} ({out.files_read} file(s)) in batches of {op.batch_rows:,} rows",
                         f"write {fmt} {out.target} through a temporary file, renamed when complete"]
    if inp.dry_run:
        return out
    if out.lossy and not inp.confirm:
        lossy = [f"{c.column} ({c.kind})" for c in found if c.lossy]
        raise ToolError("needs_confirm", f"Converting to {fmt} loses information in {len(lossy)} place(s): {', '.join(lossy[:10])}"
                        + (" ..." if len(lossy) > 10 else "") + ".",
                        "Review the changes with dry_run=true, then repeat with confirm=true to accept them.")
    from mlops_engineer.output import stable_digest

    # One writer per target at a time: inside the lock, a temporary file beside the target is what a
    # killed call left behind.
    with workspace_lock(ws, f"formats-{stable_digest(out.target)[:16]}", check_cancelled=ctx.check_cancelled):
        for stale in sorted(target.parent.glob(f".{target.name}.*.tmp")):
            stale.unlink(missing_ok=True)
            out.recovered.append(f"removed {ws.relative(stale.parent)}/{stale.name}, left by an interrupted conversion to {out.target}")
        mine = _records(ctx).get(out.target or "")
        if target.exists():
            stat = target.stat()
            ours = mine is not None and mine.get("size") == stat.st_size and mine.get("mtime_ns") == stat.st_mtime_ns
            if ours and mine.get("key") == key:
                out.rows, out.bytes_written = mine.get("rows"), stat.st_size
                out.planned_calls = ["the target is up to date (same source, same options): nothing written"]
                return out
            if not ours and not inp.confirm:
                raise ToolError("needs_confirm", f"The target '{op.target}' exists and was not written by this tool from this source.",
                                "Repeat with confirm=true to replace it, or choose another target.")
        out.rows = writers.write(reader, target, fmt, compression=op.compression, message_class=message_class,
                                 row_group_bytes=budget // 4, on_batch=_progress(ctx, _known_rows(source, out.source_format), "converted"))
        stat = target.stat()
        out.written, out.bytes_written = True, stat.st_size
        with workspace_lock(ws, "formats-records", check_cancelled=ctx.check_cancelled):  # conversions to other targets share the file
            records = _records(ctx)
            records[out.target or ""] = {"key": key, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "rows": out.rows}
            ws.write_text(f"{ws.state_dir.name}/{RECORD}", json.dumps(records, indent=1, sort_keys=True))
    return out


# --------------------------------------------------------------------------- inspect


def _inspect(op: Inspect, inp: FormatsInput, ctx: ToolContext) -> FormatsOutput:
    from mlops_engineer.engines.formats import readers
    from mlops_engineer.engines.formats.inspect import inspect_file
    from mlops_engineer.output import preview_table

    ws = ctx.workspace
    path = ws.resolve(op.path, must_exist=True)
    if path.is_dir():
        raise ToolError("invalid_input", f"'{op.path}' is a folder.", "Inspect one file; convert reads folders.")
    fmt = op.format or readers.detect_format(path)
    out = FormatsOutput(action="inspect", source=ws.relative(path), source_format=fmt, files_read=1, dry_run=inp.dry_run)
    budget = op.memory_budget_mb * MB
    reader = _open(ctx, path, fmt, op.protobuf, op.batch_rows, budget, out) if fmt == "protobuf" else None
    info = inspect_file(path, fmt, verify=op.verify, batch_rows=op.batch_rows, max_row_group_bytes=budget // 2, reader=reader,
                        on_batch=_progress(ctx, None, "read"))
    out.rows = info.rows
    leaves = info.details.pop("leaf_columns", None)
    info.details = {k: v for k, v in info.details.items()}
    out.inspection = FileInspection(
        format=fmt, size_bytes=info.size_bytes, rows=info.rows, rows_read=info.rows_read,
        columns=preview_table(ws, "inspect-columns", leaves if leaves is not None else info.columns, limit=50),
        row_groups=preview_table(ws, "inspect-row-groups", info.row_groups) if info.row_groups else None,
        details=info.details,
    )
    out.schema_ = info.columns[:200]
    out.planned_calls = ["read the metadata" + (", then decode every row" if op.verify else "")]
    return out


def run(inp: FormatsInput, ctx: ToolContext) -> FormatsOutput:
    op = inp.operation
    if isinstance(op, Convert):
        return _convert(op, inp, ctx)
    return _inspect(op, inp, ctx)


def summarize(out: FormatsOutput) -> str:
    if out.action == "inspect" and out.inspection:
        i = out.inspection
        groups = f", {i.row_groups.total_rows} row group(s)" if i.row_groups else ""
        return f"{out.source}: {i.format}, {i.rows if i.rows is not None else '?'} rows, {i.columns.total_rows} column(s){groups}."
    lossy = sum(c.lossy for c in out.changes)
    what = f"{out.source} ({out.source_format}) -> {out.target} ({out.target_format})"
    note = f"; {len(out.changes)} change(s), {lossy} lossy" + (f"; {len(out.unified)} schema unification(s)" if out.unified else "")
    if out.dry_run:
        return f"[dry run] {what}{note}."
    state = f"{out.rows:,} rows written ({out.bytes_written:,} bytes)" if out.written else "already up to date"
    return f"{what}: {state}{note}."


TOOL = ToolSpec(
    name="serialize_data_formats",
    title="Convert and inspect data formats (Arrow, Parquet, Avro, Protobuf)",
    description=__doc__ or "",
    input_model=FormatsInput,
    output_model=FormatsOutput,
    run=run,
    summarize=summarize,
    # destructive: convert with confirm=true replaces a target file it did not write.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=False),
    input_hint=action_hint(FormatsInput, '{"operation": {"action": "inspect", "path": "data/train.parquet"}}'),
)
