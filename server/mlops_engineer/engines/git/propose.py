"""Propose a Conventional Commits message from the staged changes: type, scope, subject, a short
body listing the files, and a BREAKING CHANGE footer when public definitions were removed.

The guess reads only paths and the staged diff; every choice comes with its reason, and each
part can be given instead (`type`, `scope`, `subject`, `body`, `breaking`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from mlops_engineer.engines.git.conventional import MAX_HEADER, build_message
from mlops_engineer.engines.git.staging import Change

_DOCS = re.compile(r"(^|/)(docs?|documentation)/|\.(md|rst|adoc|txt)$|(^|/)(README|CHANGELOG|LICENSE|CONTRIBUTING)[^/]*$", re.I)
_TESTS = re.compile(r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$|(^|/)conftest\.py$")
_CI = re.compile(r"(^|/)\.github/workflows/|(^|/)\.gitlab-ci\.yml$|(^|/)\.ci/|(^|/)\.circleci/|(^|/)Jenkinsfile$|"
                 r"(^|/)azure-pipelines\.ya?ml$|(^|/)\.pre-commit-config\.yaml$|(^|/)\.github/dependabot\.yml$")
_BUILD = re.compile(r"(^|/)(pyproject\.toml|setup\.py|setup\.cfg|requirements[^/]*\.txt|uv\.lock|poetry\.lock|Pipfile(\.lock)?|"
                    r"package(-lock)?\.json|yarn\.lock|pnpm-lock\.yaml|Makefile|Dockerfile[^/]*|docker-compose[^/]*|"
                    r"Cargo\.(toml|lock)|go\.(mod|sum)|MANIFEST\.in|tox\.ini|noxfile\.py)$")
_DATA = re.compile(r"\.dvc$|(^|/)dvc\.(yaml|lock)$|(^|/)\.dvcignore$|(^|/)params\.yaml$")
_STYLE = re.compile(r"(^|/)(\.editorconfig|\.prettierrc[^/]*|\.flake8|\.pylintrc|ruff\.toml|\.ruff\.toml)$")
# Public definitions in the languages this plugin's users write most (Python, JS/TS, shell).
_DEFINITION = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z]\w*)|^export\s+(?:default\s+)?(?:async\s+)?"
                         r"(?:function|class|const|interface|type)\s+([A-Za-z]\w*)")
_GENERIC_DIRS = {"src", "lib", "server", "app", "apps", "packages", "pkg", "source", "python", "code"}
_VERB = {"A": "add", "D": "remove", "R": "rename", "C": "copy"}


@dataclass
class Proposal:
    type: str
    scope: str | None
    subject: str
    body: str | None
    breaking: str | None
    message: str = ""
    reasons: list[str] = field(default_factory=list)


def _kind(path: str) -> str:
    for name, pattern in (("ci", _CI), ("build", _BUILD), ("test", _TESTS), ("docs", _DOCS), ("data", _DATA), ("style", _STYLE)):
        if pattern.search(path):
            return name
    return "code"


def definitions(patch: str) -> tuple[dict[str, str], dict[str, str]]:
    """Public names defined on added and on removed lines: ({name: path}, {name: path})."""
    added: dict[str, str] = {}
    removed: dict[str, str] = {}
    path = ""
    for line in patch.split("\n"):
        if line.startswith("+++ ") or line.startswith("--- "):
            if line.startswith("+++ b/"):
                path = line[6:]
            elif line.startswith("--- a/") and not path:
                path = line[6:]
            continue
        if line.startswith("diff --git "):
            path = ""
            continue
        if line[:1] in "+-":
            match = _DEFINITION.match(line[1:].strip())
            if match:
                name = match[1] or match[2]
                if not name.startswith("_") and _kind(path) == "code":
                    (added if line[0] == "+" else removed)[name] = path
    return added, removed


def _scope(paths: list[str]) -> tuple[str | None, str]:
    dirs = [PurePosixPath(p).parent.parts for p in paths]
    common: list[str] = []
    for parts in zip(*dirs, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    named = [part for part in common if part.lower() not in _GENERIC_DIRS and not part.startswith(".")]
    if named:
        scope = named[-1]
        reason = f"all files are under {'/'.join(common)}/"
    elif len(paths) == 1:
        scope = PurePosixPath(paths[0]).stem.lstrip(".")
        reason = "one file changed"
    else:
        return None, "the files share no folder: no scope"
    scope = re.sub(r"[^a-z0-9._/-]+", "-", scope.lower()).strip("-.") or None
    return scope, reason


def _names(items: list[str], budget: int) -> str:
    text = ""
    for i, item in enumerate(items):
        rest = len(items) - i - 1
        candidate = item if not text else f"{text}{' and ' if rest == 0 else ', '}{item}"
        if len(candidate) + (len(f" and {rest} more") if rest else 0) > budget:
            return f"{text} and {len(items) - i} more" if text else f"{len(items)} files"
        text = candidate
    return text


def propose(changes: list[Change], patch: str, *, type_: str | None = None, scope: str | None = None,
            subject: str | None = None, body: str | None = None, breaking: str | None = None) -> Proposal:
    """A message for `changes` (staged), reading `patch` (their diff); given parts are kept."""
    paths = [c.path for c in changes]
    kinds = {_kind(p) for p in paths}
    added_defs, removed_defs = definitions(patch)
    gone = sorted(n for n in removed_defs if n not in added_defs)
    new = sorted(n for n in added_defs if n not in removed_defs)
    deleted_code = [c.path for c in changes if c.status == "D" and _kind(c.path) == "code"]
    reasons: list[str] = []
    if type_ is None:
        if kinds <= {"docs"}:
            type_, why = "docs", "only documentation changed"
        elif kinds <= {"test"}:
            type_, why = "test", "only tests changed"
        elif kinds <= {"ci"}:
            type_, why = "ci", "only CI configuration changed"
        elif kinds <= {"build"}:
            type_, why = "build", "only build files and dependencies changed"
        elif kinds <= {"style"}:
            type_, why = "style", "only formatting configuration changed"
        elif kinds <= {"data", "docs"}:
            type_, why = "chore", "only DVC metadata changed"
        elif new or any(c.status == "A" and _kind(c.path) == "code" for c in changes):
            type_, why = "feat", f"new code: {_names(new, 60) or 'new source files'}"
        elif gone and not new or (deleted_code and all(c.status == "D" for c in changes if _kind(c.path) == "code")):
            type_, why = "refactor", "code was only removed"
        else:
            type_, why = "fix", "existing code changed without new definitions (pass type to say refactor or perf)"
        reasons.append(f"type {type_}: {why}")
    if scope is None:
        scope, why = _scope(paths)
        reasons.append(f"scope {scope or '(none)'}: {why}")
    if breaking is None and (gone or deleted_code) and type_ in ("feat", "fix", "refactor", "perf"):
        removed = gone or [PurePosixPath(p).name for p in deleted_code]
        breaking = f"removes {_names(removed, 80)}"
        reasons.append("breaking: public definitions or source files were removed (pass breaking to reword)")
    if subject is None:
        statuses = {c.status for c in changes}
        verb = _VERB.get(statuses.pop(), "update") if len(statuses) == 1 else "update"
        prefix = f"{type_}({scope})!: " if breaking else f"{type_}({scope}): " if scope else f"{type_}: "
        budget = MAX_HEADER - len(prefix) - len(verb) - 1
        tops = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
        if len(paths) > 4 and len(tops) > 1:
            objects = tops  # many files in several folders: name the folders, the body lists the files
        elif type_ == "feat" and new:
            objects = new
        else:
            objects = [PurePosixPath(p).name for p in paths]
        subject = f"{verb} {_names(objects, min(budget, 60))}".rstrip(".")
    if body is None and len(paths) > 1:
        names = {"A": "added", "M": "changed", "D": "removed", "R": "renamed", "C": "copied", "T": "type changed"}
        shown = [f"- {names.get(c.status, 'changed')} {c.path if len(c.path) <= 85 else '...' + c.path[-82:]}" for c in changes[:20]]
        if len(changes) > 20:
            shown.append(f"- and {len(changes) - 20} more files")
        body = "\n".join(shown)
    proposal = Proposal(type_, scope, subject, body, breaking, reasons=reasons)
    proposal.message = build_message(type_, subject, scope=scope, body=body, breaking=breaking)
    return proposal
