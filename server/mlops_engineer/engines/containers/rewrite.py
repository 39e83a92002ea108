"""Rewrite a Dockerfile for the build cache, keeping every instruction's text and comments.

Two mechanical fixes, both safe to apply without knowing the project:
1. Layer order: in each stage, the dependency files are copied and the dependencies
   installed before the whole-context `COPY`; the sources follow (a source edit then
   reuses the install layer).
2. Cache mounts: pip, uv, apt, conda and renv RUNs get `--mount=type=cache` on their cache
   folders; `--no-cache-dir` and apt-list deletion are dropped there (they would defeat the mount).
What needs a person (a version to pin, a secret to move, a builder stage) is listed, not done.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlops_engineer.engines.containers import shell
from mlops_engineer.engines.containers.audit import _context_copies, _sources
from mlops_engineer.engines.containers.build_cache import (
    MANAGERS,
    cache_targets,
    covers,
    installs_dependencies,
    is_cleanup,
    mounted,
    needs_project_sources,
    referenced_files,
    run_env,
)
from mlops_engineer.engines.containers.dockerfile import Dockerfile, Instruction, parse

# Instructions that read nothing from the filesystem: a copy may move past them.
METADATA = {"ENV", "ARG", "LABEL", "EXPOSE", "WORKDIR", "USER", "SHELL", "STOPSIGNAL", "HEALTHCHECK", "MAINTAINER"}
SYSTEM_PACKAGE_TOOLS = {"apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper", "mkdir", "useradd", "groupadd", "adduser",
                        "addgroup", "ln", "chmod", "chown", "echo", "locale-gen", "update-ca-certificates"}
SPLITTABLE = {"uv": "--no-install-project", "poetry": "--no-root"}


@dataclass
class Rewrite:
    text: str
    changes: list[str] = field(default_factory=list)  # what was changed, one line each
    manual: list[str] = field(default_factory=list)  # what a person still has to do


@dataclass
class _Segment:
    ins: Instruction | None
    text: str  # comment lines above it + its own lines


def _segments(df: Dockerfile) -> tuple[str, list[_Segment]]:
    lines = df.text.splitlines()
    segments: list[_Segment] = []
    cursor = 0
    for k, ins in enumerate(df.instructions):
        start = ins.line - 1
        if k == 0:
            head, lead = lines[:start], []
            # Comments directly above the first instruction stay in the preamble.
        else:
            lead = lines[cursor:start]
            head = []
        segments.append(_Segment(ins, "\n".join([*lead, *lines[start:ins.end_line]])))
        cursor = ins.end_line
        if k == 0:
            preamble = "\n".join(head)
    if not df.instructions:
        return df.text, []
    tail = lines[cursor:]
    if tail:
        segments.append(_Segment(None, "\n".join(tail)))
    return preamble, segments


def _workdirs(df: Dockerfile) -> dict[int, str]:
    """Working directory in force at each instruction (by line)."""
    out: dict[int, str] = {}
    current = "/"
    for ins in df.instructions:
        if ins.keyword == "FROM":
            current = "/"
        out[ins.line] = current
        if ins.keyword == "WORKDIR" and ins.args:
            current = posixpath.normpath(posixpath.join(current, ins.args.strip().strip("\"'")))
    return out


def _movable(ins: Instruction) -> bool:
    """May run before the sources are copied: metadata, or a RUN of package installs only."""
    if ins.keyword in METADATA:
        return True
    if ins.keyword != "RUN":
        return False
    cmds = shell.commands(ins.command)
    return bool(cmds) and all(
        (installs_dependencies(c) and not needs_project_sources(c)) or c.name in SYSTEM_PACKAGE_TOOLS or is_cleanup(c) for c in cmds)


def _dep_run(ins: Instruction) -> bool:
    return ins.keyword == "RUN" and any(installs_dependencies(c) for c in shell.commands(ins.command))


def _split_project_install(ins: Instruction) -> str | None:
    """`RUN uv sync --frozen` -> `RUN uv sync --frozen --no-install-project` (deps only), or None."""
    cmds = shell.commands(ins.command)
    if len(cmds) != 1 or cmds[0].name not in SPLITTABLE or not needs_project_sources(cmds[0]) or ins.heredocs:
        return None
    flag = SPLITTABLE[cmds[0].name]
    return ins.original.rstrip() + f" {flag}"


def rewrite(df: Dockerfile, context: Path | None = None) -> Rewrite:
    result = Rewrite(text=df.text)
    preamble, segments = _segments(df)
    workdirs = _workdirs(df)
    copies = {id(c) for c in _context_copies(df)}
    by_ins = {id(s.ins): s for s in segments if s.ins is not None}
    order: list[_Segment] = [s for s in segments]
    for stage in df.stages:
        stage_ins = df.in_stage(stage.index)
        for k, copy in enumerate(stage_ins):
            if id(copy) not in copies:
                continue
            if not any(s in {".", "./", "*"} for s in _sources(copy)):
                # `COPY src/ /app/src/`: a later RUN may need what it copies; only whole-context copies move.
                if any(_dep_run(r) for r in stage_ins[k + 1:]):
                    result.manual.append(f"line {copy.line}: copy the dependency files and install before this COPY by hand")
                continue
            window: list[Instruction] = []
            last_dep = -1
            split_runs: list[tuple[Instruction, str]] = []
            for later in stage_ins[k + 1:]:
                if _dep_run(later) and _movable(later):
                    window.append(later)
                    last_dep = len(window)
                elif _dep_run(later) and (split := _split_project_install(later)) is not None:
                    split_runs.append((later, split))
                    break
                elif _movable(later):
                    window.append(later)
                else:
                    break
            moved = window[:last_dep] if last_dep > 0 else []
            if not moved and not split_runs:
                break
            files = _dep_files_for(copy, moved + [r for r, _ in split_runs], workdirs, context)
            if files is None:
                result.manual.append(f"line {copy.line}: move the dependency install before this COPY by hand (the files it reads were not found in the context)")
                break
            copy_seg = by_ins[id(copy)]
            flags = " ".join(f"--{n}={v}" if v is not None else f"--{n}" for n, v in copy.flags if n in {"chown", "chmod", "link"})
            dest = _sources_dest(copy)
            new_copies = _copy_lines(files, dest, flags)
            pos = order.index(copy_seg)
            moved_segs = [by_ins[id(m)] for m in moved]
            for seg in moved_segs:
                order.remove(seg)
            inserted = [_Segment(None, line) for line in new_copies] + moved_segs
            inserted += [_Segment(None, text) for _r, text in split_runs]
            order[pos:pos] = inserted
            what = ", ".join(files) if files else "nothing"
            result.changes.append(f"line {copy.line}: install dependencies before copying the sources (copy {what} first)")
            break
    text = "\n".join(([preamble] if preamble else []) + [s.text for s in order])
    if df.text.endswith("\n"):
        text += "\n"
    # Second pass on the reordered text: cache mounts on package-manager RUNs.
    text = _add_cache_mounts(parse(text), result)
    result.text = text
    for stage in df.stages:
        if stage.base.startswith("$"):
            continue
        if ":" not in stage.base.rsplit("/", 1)[-1] and "@" not in stage.base and stage.base != "scratch" and df.stage_by_ref(stage.base) is None:
            result.manual.append(f"line {stage.line}: pin the base image `{stage.base}` to a version (or digest)")
        elif stage.base.endswith(":latest"):
            result.manual.append(f"line {stage.line}: replace `{stage.base}` with a fixed version")
    return result


def _sources_dest(copy: Instruction) -> str:
    words = copy.words()
    return words[-1] if words else "."


def _copy_lines(files: list[str], dest: str, flags: str) -> list[str]:
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(posixpath.dirname(f), []).append(f)
    base = dest.rstrip("/") or "/"
    lines = []
    for folder, names in sorted(groups.items()):
        target = posixpath.join(base, folder) if folder else base
        target = target if target.endswith("/") else target + "/"
        lines.append(" ".join(x for x in ["COPY", flags, *names, target] if x))
    return lines


def _dep_files_for(copy: Instruction, runs: list[Instruction], workdirs: dict[int, str], context: Path | None) -> list[str] | None:
    """Context paths the moved RUNs read from the copied tree; None when one is missing."""
    dest = _sources_dest(copy)
    copy_root = posixpath.normpath(posixpath.join(workdirs.get(copy.line, "/"), dest))
    sources = [s for s in _sources(copy)]
    src_root = "" if any(s in {".", "./", "*"} for s in sources) else None
    files: list[str] = []
    for run in runs:
        wd = workdirs.get(run.line, "/")
        for cmd in shell.commands(run.command):
            for ref in referenced_files(cmd):
                path = posixpath.normpath(posixpath.join(wd, ref))
                if not path.startswith(copy_root.rstrip("/") + "/"):
                    continue
                rel = path[len(copy_root.rstrip("/")) + 1:]
                if src_root is None:
                    # `COPY src/ /app/`: only whole-context copies are reordered safely.
                    return None
                if context is not None and not (context / rel).is_file():
                    # Optional files (uv.lock, poetry.lock) may be absent; requirement files may not.
                    if posixpath.basename(rel) in {"uv.lock", "poetry.lock", "package.json"}:
                        continue
                    return None
                if rel not in files:
                    files.append(rel)
    return files


_NO_CACHE_DIR = re.compile(r"[ \t]+--no-cache-dir(?=[\s\\]|$)")
# `&& rm -rf /var/lib/apt/lists/*` as its own command (with the continuation before it, if any).
_APT_LISTS_RM = re.compile(r"[ \t]*(?:\\\n[ \t]*)?(?:&&|;)[ \t]*(?:\\\n[ \t]*)?rm -(?:rf|fr) /var/lib/apt/lists(?:/\*)?"
                           r"(?=[ \t]*(?:\\\n|&&|;|$))", re.MULTILINE)
_RUN_KEYWORD = re.compile(r"^(\s*RUN)(\s+)", re.IGNORECASE)


def _add_cache_mounts(df: Dockerfile, result: Rewrite) -> str:
    lines = df.text.splitlines()
    replacements: dict[int, tuple[int, str]] = {}
    for ins in df.instructions:
        if ins.keyword != "RUN":
            continue
        env = df.env_at(ins)
        user = _user_at(df, ins)
        if user not in {"", "root", "0"}:
            continue  # a non-root user's cache lives elsewhere; leave it for a person
        mounts: list[str] = []
        names: list[str] = []
        for cmd in shell.commands(ins.command):
            cenv = run_env(ins, env, cmd)
            for manager in MANAGERS:
                if manager.name in names or not manager.matches(cmd) or mounted(manager, ins, cenv):
                    continue
                names.append(manager.name)
                mounts += [f"--mount=type=cache,target={t}{manager.mount_options}" for t in cache_targets(manager, cenv)
                           if not any(covers(m, t) for m in ins.mounts)]
        if not mounts:
            continue
        text = ins.original
        if "pip" in names:
            text = _NO_CACHE_DIR.sub("", text)
        if "apt" in names:
            text = _APT_LISTS_RM.sub("", text)
            if not _docker_clean_removed(df, ins) and ins.json_args is None:
                # Debian images delete downloaded .debs after each install unless told not to.
                body = _body_start(text, ins)
                text = text[:body] + "rm -f /etc/apt/apt.conf.d/docker-clean; " + text[body:]
        text = _RUN_KEYWORD.sub(lambda m: f"{m.group(1)} {' '.join(mounts)}{m.group(2)}", text, count=1)
        replacements[ins.line - 1] = (ins.end_line, text)
        result.changes.append(f"line {ins.line}: cache mount for {', '.join(names)}")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in replacements:
            end, text = replacements[i]
            out.append(text)
            i = end
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + ("\n" if df.text.endswith("\n") else "")


def _body_start(text: str, ins: Instruction) -> int:
    """Offset of the first shell word of a RUN in its original text (after keyword and flags)."""
    match = _RUN_KEYWORD.match(text)
    pos = match.end() if match else 0
    for name, _value in ins.flags:
        pos = text.index(f"--{name}", pos)
        while pos < len(text) and not text[pos].isspace():
            pos += 1
    while pos < len(text) and (text[pos].isspace() or text[pos] == "\\"):
        pos += 1
    return pos


def _docker_clean_removed(df: Dockerfile, ins: Instruction) -> bool:
    for other in df.in_stage(ins.stage):
        if other.line >= ins.line:
            break
        if other.keyword == "RUN" and "/etc/apt/apt.conf.d/docker-clean" in other.command:
            return True
    return False


def _user_at(df: Dockerfile, ins: Instruction) -> str:
    user = ""
    if ins.stage < 0:
        return user
    for other in df.in_stage(ins.stage):
        if other.line >= ins.line:
            break
        if other.keyword == "USER":
            user = other.args.split(":")[0].strip()
    return user
