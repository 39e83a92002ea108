"""A subject's versions in the workspace: `schemas/<subject>/v<N>.<ext>` and `subject.json`.

`subject.json` holds the subject's format, compatibility mode (and, for Protobuf, the Buf rule
set) and each version's canonical digest. Registering checks the new schema against the versions
the mode names and writes the next version only when it passes; the same schema again returns
the version that has it. The check and the write hold one workspace lock per subject, so two
callers can never both become v<N>.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_engineer.engines.schemas import languages
from mlops_engineer.engines.schemas.violations import Verdict
from mlops_engineer.errors import ToolError
from mlops_engineer.locks import workspace_lock
from mlops_engineer.workspace import Workspace

SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CONFIG = "subject.json"
VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.(avsc|json|proto)$")


@dataclass
class Subject:
    name: str
    folder: Path
    format: str | None = None
    mode: str = "BACKWARD"
    proto_rules: str = "WIRE"
    versions: list[tuple[int, Path]] = field(default_factory=list)
    digests: dict[int, str] = field(default_factory=dict)


@dataclass
class Registration:
    version: int
    created: bool
    file: Path
    verdict: Verdict
    config_changed: bool = False
    recovered: list[str] = field(default_factory=list)


def open_subject(ws: Workspace, root: str, name: str) -> Subject:
    if not SUBJECT.match(name):
        raise ToolError("invalid_input", f"Subject name {name!r} is not allowed.",
                        "Use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit, e.g. \"churn-train-value\".")
    folder = ws.resolve(f"{root}/{name}")
    subject = Subject(name, folder)
    config_path = folder / CONFIG
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ToolError("invalid_input", f"{ws.relative(config_path)} is not valid JSON: {error}",
                            "Fix or delete the file; it is rebuilt from the version files on the next register.") from error
        subject.format = config.get("format")
        subject.mode = config.get("mode", subject.mode)
        subject.proto_rules = config.get("proto_rules", subject.proto_rules)
        subject.digests = {int(k): v for k, v in config.get("digests", {}).items()}
    if folder.is_dir():
        for path in folder.iterdir():
            m = VERSION_FILE.match(path.name)
            if m:
                fmt = {"avsc": "avro", "json": "json", "proto": "protobuf"}[m.group(2)]
                if subject.format and fmt != subject.format:
                    continue  # a stray file of another format is not a version
                subject.format = subject.format or fmt
                subject.versions.append((int(m.group(1)), path))
    subject.versions.sort()
    return subject


def load_versions(subject: Subject) -> list[tuple[int, Any]]:
    """Every version parsed, oldest first."""
    fmt = subject.format or "avro"
    return [(n, languages.parse(fmt, path.read_text(encoding="utf-8"))) for n, path in subject.versions]


def register(ws: Workspace, subject: Subject, fmt: str, text: str, *, mode: str | None, proto_rules: str | None,
             dry_run: bool, check_cancelled: Callable[[], None] | None = None) -> Registration:
    if subject.format and subject.format != fmt:
        raise ToolError("conflict", f"Subject '{subject.name}' holds {subject.format} schemas, not {fmt}.",
                        "Register under another subject, or give a schema in the subject's format.")
    parsed = languages.parse(fmt, text)
    digest = languages.canonical_digest(fmt, parsed)
    with workspace_lock(ws, f"schema-subject-{subject.name}", check_cancelled=check_cancelled):
        subject = open_subject(ws, str(subject.folder.parent.relative_to(ws.root)), subject.name)  # as it is now, under the lock
        recovered = [] if dry_run else _recover(ws, subject)
        previous = load_versions(subject)
        digests = {n: languages.canonical_digest(fmt, p) for n, p in previous}
        if subject.digests and set(subject.digests) != set(digests):
            recovered.append(f"{CONFIG} listed versions {sorted(subject.digests)} but the folder holds {sorted(digests)}: rebuilt from the files")
            config_stale = True
        else:
            config_stale = False
        new_mode = (mode or subject.mode).upper()
        new_rules = proto_rules or subject.proto_rules
        config_changed = bool(subject.versions) and (new_mode != subject.mode or new_rules != subject.proto_rules)
        same = [n for n, d in digests.items() if d == digest]
        if same:
            n = same[0]
            path = dict(subject.versions)[n]
            verdict = Verdict(compatible=True, notes=[f"identical to v{n}: nothing registered"])
            if (config_changed or config_stale) and not dry_run:
                _write_config(ws, subject, fmt, new_mode, new_rules, digests)
            return Registration(n, False, path, verdict, config_changed, recovered)
        verdict = languages.check(fmt, new_mode, parsed, previous, new_rules)
        if not verdict.compatible:
            raise refusal(subject.name, new_mode, verdict)
        n = (subject.versions[-1][0] if subject.versions else 0) + 1
        path = subject.folder / f"v{n}{languages.EXTENSIONS[fmt]}"
        if not dry_run:
            ws.write_text(path, text if text.endswith("\n") else text + "\n")
            _write_config(ws, subject, fmt, new_mode, new_rules, {**digests, n: digest})
        return Registration(n, True, path, verdict, config_changed, recovered)


def _recover(ws: Workspace, subject: Subject) -> list[str]:
    """Remove the temporary files a killed write left (`.v3.avsc.<random>.tmp`); say so."""
    if not subject.folder.is_dir():
        return []
    left = sorted(p for p in subject.folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))
    for path in left:
        path.unlink(missing_ok=True)
    return [f"removed {ws.relative(subject.folder)}/{p.name}, left by an interrupted write" for p in left]


def _write_config(ws: Workspace, subject: Subject, fmt: str, mode: str, rules: str, digests: dict[int, str]) -> None:
    config: dict[str, Any] = {"subject": subject.name, "format": fmt, "mode": mode}
    if fmt == "protobuf":
        config["proto_rules"] = rules
    config["digests"] = {str(k): v for k, v in sorted(digests.items())}
    ws.write_text(subject.folder / CONFIG, json.dumps(config, indent=2) + "\n")


MAX_LISTED = 8


def refusal(subject: str, mode: str, verdict: Verdict) -> ToolError:
    """The error for an incompatible schema: each violation with its path, kind and reason."""
    lines = [f"{v.path} [{v.kind}, {v.direction}, v{v.against_version}]: {v.reason}" for v in verdict.violations]
    shown = lines[:MAX_LISTED] + ([f"... and {len(lines) - MAX_LISTED} more"] if len(lines) > MAX_LISTED else [])
    return ToolError(
        "conflict",
        f"Refused: the schema breaks subject '{subject}' under {mode} ({len(lines)} violation(s)): " + "; ".join(shown),
        "Run action check with the same schema for the structured list, or action evolve for the compatible form of the change.",
    )
