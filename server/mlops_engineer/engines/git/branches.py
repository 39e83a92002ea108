"""Read a repository's branch state through git: where it is, what is checked out where, each
local branch's upstream and tip, and whether an operation (rebase, merge) is half done.

Every call goes through the allow-listed runner; nothing here changes the repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.engines.git.runner import GitResult, repo_root, run_git
from mlops_engineer.errors import ToolError

Check = Callable[[], None] | None
# The names a cleanup never deletes, whatever their state: the trunk a team merges into.
PROTECTED = frozenset({"main", "master", "develop", "development", "trunk"})


@dataclass(frozen=True)
class Branch:
    name: str
    commit: str
    upstream: str | None
    upstream_gone: bool
    subject: str
    ahead: int | None = None
    behind: int | None = None
    """Commits on the branch not on its upstream, and the other way round (None: no upstream, or gone)."""


@dataclass(frozen=True)
class Repo:
    """A repository the workspace holds: its top folder, and the workspace that bounds git's search."""

    root: Path
    workspace: Path
    check: Check = None

    def run(self, *args: str, hooks: tuple[str, ...] = (), timeout: float = 120.0) -> GitResult:
        """git's answer whatever its exit code (for commands whose failure we read: rebase, merge)."""
        return run_git(self.root, list(args), allow_hooks=hooks, timeout=timeout, check_cancelled=self.check,
                       check=False, ceiling=self.workspace)

    def git(self, *args: str, check: bool = True, hooks: tuple[str, ...] = (), timeout: float = 120.0) -> str:
        return run_git(self.root, list(args), allow_hooks=hooks, timeout=timeout, check_cancelled=self.check,
                       check=check, ceiling=self.workspace).stdout

    def ok(self, *args: str) -> bool:
        """True when the git command exits 0 (for the yes/no plumbing: is-ancestor, rev-parse --verify)."""
        return self.run(*args).ok


def open_repo(path: Path, workspace: Path, check: Check = None) -> Repo:
    """The repository at `path`. Discovery stops at the workspace. Its shared git directory may lie
    outside only when the workspace is a linked worktree of that clone (`git worktree add`, as
    Claude Code's worktrees are), proven by the clone's record pointing back at this worktree; a
    `.git` file naming any other repository is refused."""
    root = repo_root(path, workspace, check_cancelled=check)
    repo = Repo(root=root, workspace=workspace, check=check)
    common = Path(repo.git("rev-parse", "--git-common-dir").strip())
    common = (root / common).resolve() if not common.is_absolute() else common.resolve()
    ws = workspace.resolve()
    if common != ws and ws not in common.parents and not _linked_worktree_of(repo, common):
        raise ToolError("outside_workspace", f"The repository's git directory {common} is outside the workspace {ws}.",
                        "Start the server with --workspace on a folder that holds the whole clone.")
    return repo


def _linked_worktree_of(repo: Repo, common: Path) -> bool:
    git_dir = Path(repo.git("rev-parse", "--absolute-git-dir").strip()).resolve()
    if git_dir.parent != common / "worktrees":
        return False
    try:  # the clone's own record of where this worktree is
        back = Path((git_dir / "gitdir").read_text().strip()).resolve()
    except OSError:
        return False
    return back == (repo.root / ".git").resolve()


def current_branch(repo: Repo) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    return repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip() or None


def operation_in_progress(repo: Repo) -> str | None:
    """'rebase', 'merge', 'cherry-pick', 'revert' or 'bisect' when one waits to be finished."""
    markers = {"rebase-merge": "rebase", "rebase-apply": "rebase", "MERGE_HEAD": "merge",
               "CHERRY_PICK_HEAD": "cherry-pick", "REVERT_HEAD": "revert", "BISECT_LOG": "bisect"}
    git_dir = Path(repo.git("rev-parse", "--absolute-git-dir").strip())
    for marker, name in markers.items():
        if (git_dir / marker).exists():
            return name
    return None


def changed_files(repo: Repo) -> list[str]:
    """Tracked files with staged or unstaged changes (untracked files survive a switch: git refuses to overwrite them)."""
    tokens = iter(repo.git("status", "--porcelain=v1", "-z", "--untracked-files=no").split("\0"))
    files = []
    for entry in tokens:
        if len(entry) > 3:
            files.append(entry[3:])
            if entry[0] in "RC":
                next(tokens, None)  # a rename's or copy's source path follows as its own field
    return files


def conflicted_files(repo: Repo) -> list[str]:
    return [f for f in repo.git("diff", "--name-only", "--diff-filter=U", "-z").split("\0") if f]


def remotes(repo: Repo) -> list[str]:
    return repo.git("remote").split()


def ref_exists(repo: Repo, ref: str) -> bool:
    return repo.ok("rev-parse", "--verify", "-q", ref)


def resolve_commit(repo: Repo, rev: str) -> str | None:
    """The commit `rev` names, or None. The runner refuses a `rev` starting with '-'."""
    out = repo.run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    return out.stdout.strip() if out.ok else None


def default_branch(repo: Repo, remote: str | None) -> str:
    """The branch a team merges into: the remote's HEAD when known, else main/master, else the current one."""
    if remote:
        head = repo.git("symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD", check=False).strip()
        if head.startswith(f"{remote}/"):
            return head[len(remote) + 1:]
    for name in ("main", "master", "trunk", "develop"):
        if ref_exists(repo, f"refs/heads/{name}") or (remote and ref_exists(repo, f"refs/remotes/{remote}/{name}")):
            return name
    return current_branch(repo) or "main"


def base_refs(repo: Repo, base: str, remote: str | None) -> list[str]:
    """The refs that stand for the base: the remote's copy (what the team merged into) and the local one."""
    refs = []
    if remote and ref_exists(repo, f"refs/remotes/{remote}/{base}"):
        refs.append(f"refs/remotes/{remote}/{base}")
    if ref_exists(repo, f"refs/heads/{base}"):
        refs.append(f"refs/heads/{base}")
    return refs


def worktree_branches(repo: Repo) -> dict[str, Path]:
    """branch -> the worktree that has it checked out (the main one included)."""
    found: dict[str, Path] = {}
    path: Path | None = None
    for line in repo.git("worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree "):])
        elif line.startswith("branch refs/heads/") and path is not None:
            found[line[len("branch refs/heads/"):]] = path
    return found


def local_branches(repo: Repo) -> list[Branch]:
    # Full ref names: a local branch called "origin/x" would otherwise short to "heads/origin/x".
    fields = ["%(refname)", "%(objectname)", "%(upstream)", "%(upstream:track,nobracket)", "%(contents:subject)"]
    out = repo.git("for-each-ref", "--format=" + "%00".join(fields), "refs/heads")
    branches = []
    for line in out.splitlines():
        ref, commit, upstream, track, subject = (line.split("\0") + [""] * 5)[:5]
        short = upstream.removeprefix("refs/remotes/").removeprefix("refs/heads/") if upstream else None
        # "gone": an upstream is configured but its ref is no more (the remote branch was deleted, then pruned).
        counts = dict(re.findall(r"(ahead|behind) (\d+)", track))
        live = bool(upstream) and track != "gone"
        branches.append(Branch(name=ref.removeprefix("refs/heads/"), commit=commit, upstream=short,
                               upstream_gone=track == "gone", subject=subject[:120],
                               ahead=int(counts.get("ahead", 0)) if live else None,
                               behind=int(counts.get("behind", 0)) if live else None))
    return branches


def ahead_behind(repo: Repo, branch: str, other: str) -> tuple[int, int]:
    """Commits on `branch` not on `other`, and on `other` not on `branch`."""
    left, right = repo.git("rev-list", "--left-right", "--count", f"{branch}...{other}", "--").split()
    return int(left), int(right)


def remote_tracking_refs(repo: Repo, remote: str) -> dict[str, str]:
    """refs/remotes/<remote>/* (not its HEAD) -> the commit each points at."""
    out = repo.git("for-each-ref", "--format=%(refname) %(objectname)", f"refs/remotes/{remote}")
    pairs = (line.split(" ", 1) for line in out.splitlines() if line)
    return {ref: sha for ref, sha in pairs if not ref.endswith("/HEAD")}
