"""Versioned Avro, JSON Schema and Protobuf schemas: infer one from data, check a change under the
seven Schema Registry modes (each violation with its path, kind and reason), register versions in
schemas/<subject>/, and propose the compatible form of a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint

if TYPE_CHECKING:
    from mlops_engineer.engines.schemas.subjects import Subject
    from mlops_engineer.engines.schemas.violations import Verdict

Format = Literal["avro", "json", "protobuf"]
Mode = Literal["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"]
ProtoRules = Literal["WIRE", "WIRE_JSON"]
Definition = str | dict[str, Any] | list[Any]
SubjectName = Annotated[str, Field(min_length=1, max_length=100, description="Subject: the folder schemas/<subject>/ holding its versions.")]
MAX_VIOLATIONS = 50  # listed in the answer; every one goes to a CSV beyond that
MAX_SCHEMA_CHARS = 20_000


class Infer(StrictModel):
    """Infer a schema from a data file.

    Types, nullability (a column with nulls) and enums (string columns with at most
    enum_max_values distinct symbol-like values over at least enum_min_rows rows).
    """

    action: Literal["infer"]
    path: str = Field(description="CSV, JSON Lines, JSON, Parquet, Arrow or Avro file in the workspace.")
    format: Format = "avro"
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Record/message name; from the file name when omitted.")
    namespace: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", description="Avro namespace / Protobuf package.")
    enum_max_values: int = Field(default=10, ge=0, le=1000, description="0: never infer enums.")
    enum_min_rows: int = Field(default=20, ge=1)
    output: str | None = Field(default=None, description="Workspace file to write the schema to.")


class Register(StrictModel):
    """Register a new version; refused if incompatible."""

    action: Literal["register"]
    subject: SubjectName
    definition: Definition | None = Field(default=None, description="The schema: text, or a JSON object (Avro, JSON Schema).")
    schema_file: str | None = Field(default=None, description="Or a workspace file holding it.")
    format: Format | None = Field(default=None, description="From the file extension, the subject or the text when omitted.")
    mode: Mode | None = Field(default=None, description="Set the subject's mode (default BACKWARD on a new subject).")
    proto_rules: ProtoRules | None = Field(default=None, description="Protobuf: Buf's WIRE (default) or WIRE_JSON rules.")


class Check(StrictModel):
    """Check a schema against a subject's versions or files."""

    action: Literal["check"]
    definition: Definition | None = None
    schema_file: str | None = None
    subject: SubjectName | None = None
    against: list[str] = Field(default_factory=list, description="Older schema files, oldest first, instead of a subject.")
    format: Format | None = None
    mode: Mode | None = Field(default=None, description="Default: the subject's mode, else BACKWARD.")
    proto_rules: ProtoRules | None = None


class ChangeSpec(StrictModel):
    kind: Literal["add_field", "remove_field", "rename_field", "change_type", "add_enum_symbol", "remove_enum_symbol"]
    field: str = Field(min_length=1, description="The field (top-level record, object or first message).")
    type: Literal["boolean", "int", "long", "float", "double", "string", "bytes"] | None = None
    default: Any = Field(default=None, description="add_field: the default value.")
    new_name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    symbol: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Evolve(StrictModel):
    """Propose the compatible form of an intended change."""

    action: Literal["evolve"]
    subject: SubjectName
    change: ChangeSpec
    mode: Mode | None = Field(default=None, description="Default: the subject's mode.")
    base_version: int | None = Field(default=None, ge=1, description="Version to change; default the latest.")


Operation = Annotated[Infer | Register | Check | Evolve, Field(discriminator="action")]


class SchemaInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    schemas_dir: str = Field(default="schemas", description="Workspace folder of the subjects.")


class ViolationInfo(BaseModel):
    path: str = Field(description="Where, in the reader's schema: the new one for backward, the old version for forward; Type.field for Protobuf.")
    kind: str = Field(description="The rule broken (Buf's rule id for Protobuf).")
    reason: str
    direction: str = Field(description="backward (new reads old), forward (old reads new), or both (Protobuf wire rules).")
    against_version: int | None = None


class ColumnInfo(BaseModel):
    name: str
    type: str
    nullable: bool
    nulls: int
    symbols: list[str] = Field(default_factory=list)


class Proposal(BaseModel):
    label: str
    compatible: bool
    explanation: list[str]
    definition: str = Field(description="The proposed schema text: register it as is.")


class SchemaOutput(ToolOutput):
    action: str
    subject: str | None = None
    format: str | None = None
    mode: str | None = None
    version: int | None = Field(default=None, description="register: the version holding the schema.")
    created: bool | None = Field(default=None, description="register: false when an identical version already existed.")
    file: str | None = None
    compatible: bool | None = None
    checked: list[str] = Field(default_factory=list, description="The pairs checked, e.g. 'new reads v2'.")
    violations: list[ViolationInfo] = Field(default_factory=list)
    violations_total: int = 0
    violations_file: str | None = Field(default=None, description="CSV of every violation, when more than the list shows.")
    notes: list[str] = Field(default_factory=list)
    rows: int | None = None
    columns: list[ColumnInfo] = Field(default_factory=list)
    definition: str | None = Field(default=None, description="infer: the schema text (omitted when long; see file).")
    intended: list[ViolationInfo] | None = Field(default=None, description="evolve: what the change as asked would break.")
    proposal: Proposal | None = None


def run(inp: SchemaInput, ctx: ToolContext) -> SchemaOutput:
    from mlops_engineer.optional import import_optional

    import_optional("pyarrow", "formats")
    import_optional("google.protobuf", "formats")
    op = inp.operation
    out = SchemaOutput(action=op.action, dry_run=inp.dry_run)
    if isinstance(op, Infer):
        return _infer(op, inp, ctx, out)
    if isinstance(op, Register):
        return _register(op, inp, ctx, out)
    if isinstance(op, Check):
        return _check(op, inp, ctx, out)
    return _evolve(op, inp, ctx, out)


def _infer(op: Infer, inp: SchemaInput, ctx: ToolContext, out: SchemaOutput) -> SchemaOutput:
    import re

    from mlops_engineer.engines.schemas import languages, infer

    path = ctx.workspace.resolve(op.path, must_exist=True)
    target = ctx.workspace.resolve(op.output) if op.output else None
    found = infer.infer_file(path, enum_max_values=op.enum_max_values, enum_min_rows=op.enum_min_rows, check_cancelled=ctx.check_cancelled)
    name = op.name or re.sub(r"\W", "_", path.stem) or "record"
    text = infer.render(found, op.format, name, op.namespace or re.sub(r"\W", "_", name.lower()))
    languages.parse(op.format, text)  # what we infer must itself be a valid schema
    out.format, out.rows, out.notes = op.format, found.rows, found.notes
    out.columns = [ColumnInfo(name=c.name, type=c.type if c.type != "array" else f"array<{c.items}>", nullable=c.nullable,
                              nulls=c.nulls, symbols=c.symbols) for c in found.columns[:200]]
    if len(found.columns) > 200:
        out.notes.append(f"{len(found.columns)} columns: the first 200 are listed; the schema has all")
    out.definition = text if len(text) <= MAX_SCHEMA_CHARS else None
    if target is not None:
        out.file = ctx.workspace.relative(target)
        out.planned_calls = [f"write {out.file}"]
        if not inp.dry_run:
            ctx.workspace.write_text(target, text)
    elif out.definition is None:
        out.notes.append("the schema is too long to return: give `output` to write it to a file")
    return out


def _definition(ctx: ToolContext, definition: Definition | None, schema_file: str | None, fmt: str | None,
                subject_format: str | None = None) -> tuple[str, str]:
    """(format, schema text) from inline text/JSON or a workspace file."""
    import json

    from mlops_engineer.engines.schemas import languages
    from mlops_engineer.errors import ToolError

    if (definition is None) == (schema_file is None):
        raise ToolError("invalid_input", "Give exactly one of `definition` (the schema) and `schema_file`.",
                        'e.g. "definition": {"type": "record", "name": "Churn", "fields": [...]}, or "schema_file": "schemas/churn.avsc"')
    filename = None
    if schema_file is not None:
        path = ctx.workspace.resolve(schema_file, must_exist=True)
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError) as error:
            raise ToolError("invalid_input", f"'{schema_file}' is not a text file: {error}", "Give a .avsc, .json or .proto file.") from error
        filename = path.name
    else:
        text = definition if isinstance(definition, str) else json.dumps(definition, indent=2)
    chosen = fmt or subject_format or languages.guess_format(text, filename)
    return chosen, text


def _violations(ctx: ToolContext, out: SchemaOutput, verdict: Verdict, name: str) -> None:
    from mlops_engineer.output import preview_table

    rows = [ViolationInfo(path=v.path, kind=v.kind, reason=v.reason, direction=v.direction, against_version=v.against_version)
            for v in verdict.violations]
    out.violations, out.violations_total = rows[:MAX_VIOLATIONS], len(rows)
    if len(rows) > MAX_VIOLATIONS:
        out.violations_file = preview_table(ctx.workspace, name, [r.model_dump() for r in rows], limit=MAX_VIOLATIONS).full_result_path
    out.compatible, out.checked, out.notes = verdict.compatible, verdict.checked, out.notes + verdict.notes


def _open(ctx: ToolContext, inp: SchemaInput, name: str) -> Subject:
    from mlops_engineer.engines.schemas.subjects import open_subject

    return open_subject(ctx.workspace, inp.schemas_dir, name)


def _register(op: Register, inp: SchemaInput, ctx: ToolContext, out: SchemaOutput) -> SchemaOutput:
    from mlops_engineer.engines.schemas import subjects

    subject = _open(ctx, inp, op.subject)
    fmt, text = _definition(ctx, op.definition, op.schema_file, op.format, subject.format)
    reg = subjects.register(ctx.workspace, subject, fmt, text, mode=op.mode, proto_rules=op.proto_rules,
                            dry_run=inp.dry_run, check_cancelled=ctx.check_cancelled)
    out.subject, out.format, out.mode = op.subject, fmt, (op.mode or subject.mode)
    out.version, out.created, out.file = reg.version, reg.created, ctx.workspace.relative(reg.file)
    out.recovered = reg.recovered
    _violations(ctx, out, reg.verdict, f"schema-{op.subject}")
    verb = "would write" if inp.dry_run else "wrote"
    out.planned_calls = [f"{verb} {out.file}"] if reg.created else [f"identical to v{reg.version}: no new version"]
    if reg.config_changed:
        out.planned_calls.append(f"{verb} the subject's mode {out.mode}")
    return out


def _check(op: Check, inp: SchemaInput, ctx: ToolContext, out: SchemaOutput) -> SchemaOutput:
    from mlops_engineer.engines.schemas import languages, subjects
    from mlops_engineer.errors import ToolError

    if bool(op.subject) == bool(op.against):
        raise ToolError("invalid_input", "Give `subject` (its registered versions) or `against` (older schema files), not both or neither.",
                        '{"action": "check", "subject": "churn", "schema_file": "schemas/churn-next.avsc"}')
    for name in op.against:  # every path confined before any file is read
        ctx.workspace.resolve(name)
    subject = _open(ctx, inp, op.subject) if op.subject else None
    fmt, text = _definition(ctx, op.definition, op.schema_file, op.format, subject.format if subject else None)
    new = languages.parse(fmt, text)
    if subject is not None:
        if subject.format and subject.format != fmt:
            raise ToolError("invalid_input", f"Subject '{op.subject}' holds {subject.format} schemas, not {fmt}.", "Check the subject or the format.")
        previous = subjects.load_versions(subject)
        mode, rules = op.mode or subject.mode, op.proto_rules or subject.proto_rules
    else:
        previous = []
        for n, name in enumerate(op.against, start=1):
            previous.append((n, languages.parse(fmt, ctx.workspace.resolve(name, must_exist=True).read_text(encoding="utf-8"))))
            ctx.progress(n, len(op.against), f"read {name}")
        mode, rules = op.mode or "BACKWARD", op.proto_rules or "WIRE"
    verdict = languages.check(fmt, mode, new, previous, rules)
    out.subject, out.format, out.mode = op.subject, fmt, mode
    _violations(ctx, out, verdict, f"schema-check-{op.subject or 'files'}")
    if op.against:
        out.notes.append("versions are numbered by their place in `against`: v1 is " + op.against[0])
    return out


def _evolve(op: Evolve, inp: SchemaInput, ctx: ToolContext, out: SchemaOutput) -> SchemaOutput:
    from mlops_engineer.engines.schemas import evolve, languages, subjects
    from mlops_engineer.errors import ToolError

    subject = _open(ctx, inp, op.subject)
    if not subject.versions or not subject.format:
        raise ToolError("not_found", f"Subject '{op.subject}' has no version to evolve.", "Register a first version (action register).")
    fmt, mode = subject.format, op.mode or subject.mode
    files = dict(subject.versions)
    base = op.base_version or subject.versions[-1][0]
    if base not in files:
        raise ToolError("not_found", f"Subject '{op.subject}' has no v{base}.", f"Versions: {', '.join(f'v{n}' for n in files)}.")
    # The proposal must hold against the versions up to the one it changes.
    previous = [(n, p) for n, p in subjects.load_versions(subject) if n <= base]
    latest_text = files[base].read_text(encoding="utf-8")
    c = op.change
    change = evolve.Change(c.kind, c.field, c.type, c.default if "default" in c.model_fields_set else evolve.MISSING, c.new_name, c.symbol)
    intended, safer = evolve.candidates(fmt, latest_text, change)

    def verdict_of(text: str) -> Verdict:
        return languages.check(fmt, mode, languages.parse(fmt, text), previous, subject.proto_rules)

    asked = verdict_of(intended.text)
    out.subject, out.format, out.mode = op.subject, fmt, mode
    out.intended = [ViolationInfo(path=v.path, kind=v.kind, reason=v.reason, direction=v.direction, against_version=v.against_version)
                    for v in asked.violations[:MAX_VIOLATIONS]]
    chosen, chosen_verdict = intended, asked
    if not asked.compatible:
        for n, candidate in enumerate(safer, start=1):
            ctx.progress(n, len(safer), candidate.label)
            verdict = verdict_of(candidate.text)
            chosen, chosen_verdict = candidate, verdict
            if verdict.compatible:
                break
    _violations(ctx, out, chosen_verdict, f"schema-evolve-{op.subject}")
    explanation = list(chosen.explanation)
    if asked.compatible:
        explanation.insert(0, f"the change as asked is already compatible under {mode}")
    elif not chosen_verdict.compatible:
        explanation.insert(0, f"no form of this change tried is compatible under {mode}: change the mode (action register with mode) or start a new subject")
    out.proposal = Proposal(label=chosen.label, compatible=chosen_verdict.compatible, explanation=explanation, definition=chosen.text)
    out.planned_calls = [f"checked: {intended.label}" + "".join(f"; {s.label}" for s in safer if not asked.compatible)]
    return out


def summarize(out: SchemaOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    if out.action == "infer":
        return f"{prefix}Inferred a {out.format} schema: {len(out.columns)} columns from {out.rows} rows" + (f", written to {out.file}." if out.file else ".")
    if out.action == "register":
        state = "registered" if out.created else "already registered"
        return f"{prefix}Subject '{out.subject}' v{out.version} {state} ({out.format}, {out.mode}): {out.file}."
    if out.action == "check":
        verdict = "compatible" if out.compatible else f"incompatible, {out.violations_total} violation(s)"
        return f"{prefix}{verdict} under {out.mode} ({'; '.join(out.checked) or 'nothing to check'})."
    p = out.proposal
    if p is None:
        return f"{prefix}{out.action}: done."
    return f"{prefix}Proposal for '{out.subject}': {p.label} ({'compatible' if p.compatible else 'still incompatible'} under {out.mode})."


TOOL = ToolSpec(
    name="design_serialization_schema",
    title="Design serialization schemas (Avro, JSON Schema, Protobuf)",
    description=__doc__ or "",
    input_model=SchemaInput,
    output_model=SchemaOutput,
    run=run,
    summarize=summarize,
    # Writes only new version files and the subject's config; never overwrites a version.
    hints=Hints(read_only=False, destructive=False, idempotent=True, open_world=False),
    input_hint=action_hint(SchemaInput, '{"operation": {"action": "infer", "path": "data/train.csv", "format": "avro"}}'),
)
