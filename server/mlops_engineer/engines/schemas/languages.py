"""The three schema languages behind one face: validate a text, canonical form, pair checks by mode."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from mlops_engineer.engines.schemas.violations import Verdict, check_mode
from mlops_engineer.errors import ToolError

SchemaFormat = Literal["avro", "json", "protobuf"]
EXTENSIONS: dict[str, str] = {"avro": ".avsc", "json": ".json", "protobuf": ".proto"}
PROTO_FILE = "schema.proto"


def guess_format(text: str, filename: str | None = None) -> SchemaFormat:
    """From a file's extension, else from the text: `syntax =`/`message` is Protobuf, a record is Avro."""
    if filename:
        for fmt, ext in EXTENSIONS.items():
            if filename.endswith(ext) and not (ext == ".json" and filename.endswith(".avsc")):
                return fmt  # type: ignore[return-value]
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[", '"')):
        return "protobuf"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return "protobuf"
    if isinstance(doc, dict) and (doc.get("type") in ("record", "enum", "fixed", "error") or "fields" in doc):
        return "avro"
    if isinstance(doc, list | str):
        return "avro"
    return "json"


def parse(fmt: str, text: str) -> Any:
    """The checked, parsed schema; `invalid_input` naming what is wrong."""
    from mlops_engineer.engines.schemas import avro_compat, json_compat, proto_compat

    try:
        if fmt == "avro":
            from mlops_engineer.optional import import_optional

            doc = json.loads(text) if text.lstrip()[:1] in ("{", "[", '"') else text
            avro_compat.parse(doc)
            # fastavro also checks what our checker does not need: defaults against types, unique symbols.
            import_optional("fastavro", "formats").parse_schema(doc, _write_hint=False)
            return doc
        if fmt == "json":
            doc = json_compat.parse(text)
            from mlops_engineer.optional import import_optional

            jsonschema = import_optional("jsonschema", "formats")
            jsonschema.validators.validator_for(doc).check_schema(doc)
            return doc
        return proto_compat.compile_proto(text, PROTO_FILE)
    except ToolError:
        raise
    except Exception as error:  # each language's own parse error, reported as the input's fault
        message = getattr(error, "message", None) or str(error)
        raise ToolError("invalid_input", f"Not a valid {fmt} schema: {str(message)[:600]}",
                        "Fix the schema text (the message quotes the parser), or pick the right `format`.") from error


def canonical_digest(fmt: str, parsed: Any) -> str:
    """Equal for the same schema written differently (key order, spacing, comments in .proto)."""
    if fmt == "protobuf":
        main = next(f for f in parsed.file if f.name == PROTO_FILE)
        main.ClearField("source_code_info")
        data = main.SerializeToString(deterministic=True)
    else:
        data = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def check(fmt: str, mode: str, new: Any, previous: list[tuple[int, Any]], proto_rules: str = "WIRE") -> Verdict:
    """`new` against `previous` ([(version, parsed)], oldest first) under `mode`."""
    from mlops_engineer.engines.schemas import avro_compat, json_compat, proto_compat

    if fmt == "avro":
        return check_mode(mode, new, previous, avro_compat.check)
    if fmt == "json":
        return check_mode(mode, new, previous, json_compat.check)

    def pair(old: Any, new_: Any) -> tuple[list, list[str]]:
        return proto_compat.check_descriptors(old, new_, proto_rules, PROTO_FILE), []  # type: ignore[arg-type]

    verdict = check_mode(mode, new, previous, pair, symmetric=True)
    if verdict.checked:
        verdict.notes.append(f"Protobuf is checked with Buf's {proto_rules} rules, which hold both ways: "
                             "BACKWARD, FORWARD and FULL ask the same of it")
    return verdict
