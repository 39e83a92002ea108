"""The index: what is staged (with blob sizes), what is not, staging hunks by pattern, and a
byte-exact snapshot of the index file so a failed commit leaves it as it was."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlops_engineer.engines.git.runner import GitError, run_git

Check = Callable[[], None] | None


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # A added, M modified, D deleted, R renamed, C copied, T type change, ? untracked
    size: int | None = None  # bytes of the staged blob (None for a deletion or an unstaged change)
    old_path: str | None = None


@dataclass
class RepoStatus:
    branch: str | None  # None on a detached HEAD
    upstream: str | None
    ahead: int
    behind: int
    staged: list[Change] = field(default_factory=list)
    unstaged: list[Change] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    conflicted: list[str] = field(default_factory=list)
    head: str | None = None  # None before the first commit


def head_sha(repo: Path, check: Check = None) -> str | None:
    result = run_git(repo, ["rev-parse", "-q", "--verify", "HEAD^{commit}"], check=False, check_cancelled=check)
    return result.stdout.strip() or None if result.ok else None


def status(repo: Path, check: Check = None, paths: list[str] | None = None) -> RepoStatus:
    """Branch, upstream, and the changed files (only under `paths`, pathspecs relative to `repo`, when given)."""
    args = ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all"]
    out = run_git(repo, [*args, "--", *(paths or [])], check_cancelled=check).stdout
    entries = out.split("\0")
    branch_line = entries[0][3:] if entries and entries[0].startswith("## ") else ""
    result = RepoStatus(*_branch_info(branch_line))
    result.head = head_sha(repo, check)
    items = iter(entries[1:] if branch_line or (entries and entries[0].startswith("## ")) else entries)
    for item in items:
        if len(item) < 4:
            continue
        x, y, path = item[0], item[1], item[3:]
        old = next(items, None) if x in "RC" else None
        if x == "?":
            if not path.startswith(".mlops/outputs/"):
                result.untracked.append(path)
        elif "U" in (x, y) or (x, y) in (("A", "A"), ("D", "D")):
            result.conflicted.append(path)
        else:
            if x not in (" ", "?"):
                result.staged.append(Change(path, x, old_path=old))
            if y not in (" ", "?"):
                result.unstaged.append(Change(path, y))
    return result


def _branch_info(line: str) -> tuple[str | None, str | None, int, int]:
    # "main...origin/main [ahead 1, behind 2]", "No commits yet on main", "HEAD (no branch)"
    if line.startswith(("No commits yet on ", "Initial commit on ")):
        return line.split(" on ", 1)[1], None, 0, 0
    if line.startswith("HEAD (no branch)"):
        return None, None, 0, 0
    head, _, tracking = line.partition("...")
    upstream, _, counts = tracking.partition(" [")
    ahead = re.search(r"ahead (\d+)", counts)
    behind = re.search(r"behind (\d+)", counts)
    return head.split(" ")[0] or None, upstream or None, int(ahead[1]) if ahead else 0, int(behind[1]) if behind else 0


def staged_changes(repo: Path, check: Check = None, paths: list[str] | None = None) -> list[Change]:
    """Every staged change (under `paths` when given) with the size of its new blob."""
    args = ["diff", "--cached", "--raw", "--no-abbrev", "-z", "--find-renames", "--no-color"]
    raw = run_git(repo, [*args, "--", *(paths or [])], check_cancelled=check).stdout
    parts = raw.split("\0")
    changes: list[tuple[str, str, str | None, str]] = []  # status, path, old path, new sha
    i = 0
    while i < len(parts) - 1:
        meta = parts[i].lstrip(":").split(" ")
        if len(meta) < 5:
            i += 1
            continue
        status_code = meta[4][0]
        if status_code in "RC":
            changes.append((status_code, parts[i + 2], parts[i + 1], meta[3]))
            i += 3
        else:
            changes.append((status_code, parts[i + 1], None, meta[3]))
            i += 2
    shas = [sha for code, _, _, sha in changes if code != "D" and set(sha) != {"0"}]
    sizes: dict[str, int] = {}
    if shas:
        out = run_git(repo, ["cat-file", "--batch-check"], input_text="\n".join(shas) + "\n", check_cancelled=check).stdout
        for line in out.splitlines():
            sha, _, rest = line.partition(" ")
            kind, _, size = rest.partition(" ")
            if kind == "blob":
                sizes[sha] = int(size)
    return [Change(path, code, sizes.get(sha), old) for code, path, old, sha in changes]


def staged_patch(repo: Path, *, context: int = 0, check: Check = None) -> str:
    """The staged diff as text, for scanning and for proposing a message (binary files by name only)."""
    return run_git(repo, ["diff", "--cached", "--no-color", "--no-textconv", f"--unified={context}", "--no-renames"],
                   check_cancelled=check, max_output=20_000_000).stdout


# --- staging hunks by pattern ---------------------------------------------------------------

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


def split_patch(patch: str) -> list[tuple[str, list[str]]]:
    """A unified diff as [(file header, [hunks])]."""
    files: list[tuple[str, list[str]]] = []
    header: list[str] = []
    hunks: list[str] = []
    current: list[str] | None = None
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git "):
            if header:
                if current is not None:
                    hunks.append("".join(current))
                files.append(("".join(header), hunks))
            header, hunks, current = [line], [], None
        elif _HUNK.match(line):
            if current is not None:
                hunks.append("".join(current))
            current = [line]
        elif current is not None:
            current.append(line)
        else:
            header.append(line)
    if header:
        if current is not None:
            hunks.append("".join(current))
        files.append(("".join(header), hunks))
    return files


def select_hunks(patch: str, pattern: re.Pattern[str]) -> tuple[str, int, int]:
    """The part of `patch` whose hunks change a line matching `pattern`: (patch, kept, total)."""
    kept_total = all_total = 0
    out: list[str] = []
    for header, hunks in split_patch(patch):
        chosen = [h for h in hunks if any(
            line[:1] in "+-" and pattern.search(line[1:]) for line in h.splitlines()[1:])]
        all_total += len(hunks)
        kept_total += len(chosen)
        if chosen:
            out.append(header + "".join(chosen))
    return "".join(out), kept_total, all_total


def apply_to_index(repo: Path, patch: str, check: Check = None) -> None:
    run_git(repo, ["apply", "--cached", "--whitespace=nowarn", "-"], input_text=patch, check_cancelled=check)


# --- index snapshot -------------------------------------------------------------------------

def index_path(repo: Path) -> Path:
    path = Path(run_git(repo, ["rev-parse", "--git-path", "index"]).stdout.strip())
    return path if path.is_absolute() else repo / path


class IndexSnapshot:
    """A copy of the index file, put back by `restore()` (a hook that re-staged files, or a
    commit that failed half-way, leaves the index exactly as the caller had it)."""

    def __init__(self, repo: Path) -> None:
        self.path = index_path(repo)
        handle, name = tempfile.mkstemp(prefix="mlops-index-")
        os.close(handle)
        self.copy: Path | None = Path(name)
        if self.path.exists():
            shutil.copy2(self.path, self.copy)
        else:
            self.copy.unlink()
            self.copy = None

    def changed(self) -> bool:
        if self.copy is None:
            return self.path.exists()
        return not self.path.exists() or self.path.read_bytes() != self.copy.read_bytes()

    def restore(self) -> None:
        lock = self.path.with_name(self.path.name + ".lock")
        if lock.exists():
            raise GitError("conflict", f"{lock} exists: another git process is using the index.",
                           "Wait for it to finish, or remove the lock file if no git process runs.")
        if self.copy is None:
            self.path.unlink(missing_ok=True)
            return
        staging = self.path.with_name(self.path.name + ".mlops-restore")
        shutil.copy2(self.copy, staging)
        os.replace(staging, self.path)  # atomic: git never sees half an index

    def discard(self) -> None:
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)
