"""Sort local branches into what a cleanup may delete and what it must keep.

A branch is merged when the base holds its work: by ancestry (a merge commit or a
fast-forward), or by content when the host rewrote the commits: a rebase merge leaves
commits with the same patch ids, a squash merge leaves one commit after which every file
the branch changed reads the same in the base as on the branch (tree comparison). Everything else is kept: unmerged work whose upstream was deleted is
named as such, because that is the branch a careless `/clean_gone` loses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlops_engineer.engines.git.branches import PROTECTED, Branch, Repo

Status = Literal["current", "worktree", "protected", "merged", "merged_rebase", "merged_squash", "gone_unmerged", "no_commits", "active"]
MERGED: frozenset[str] = frozenset({"merged", "merged_rebase", "merged_squash"})
NEVER_DELETED: frozenset[str] = frozenset({"current", "worktree", "protected"})
MAX_BASE_COMMITS = 2000  # base commits since the fork whose patches a rebase-merge check reads


@dataclass(frozen=True)
class Classified:
    branch: Branch
    status: Status
    reason: str
    merged_into: str | None = None
    worktree: Path | None = None


def is_ancestor(repo: Repo, commit: str, ref: str) -> bool:
    return repo.ok("merge-base", "--is-ancestor", commit, ref)


def content_on(repo: Repo, base_ref: str, commit: str) -> bool:
    """Every file the branch changed (since it left the base) is the same in the base: a squash or
    rebase merge. A base that edited those files again afterwards reads as not merged: kept, the safe side."""
    fork = repo.git("merge-base", base_ref, commit).strip()
    changed = [f for f in repo.git("diff", "--name-only", "-z", "--no-renames", fork, commit).split("\0") if f]
    if not changed:
        return False
    return repo.run("diff", "--quiet", "--no-renames", base_ref, commit, "--", *changed).returncode == 0


def _patch_ids(repo: Repo, revs: list[str]) -> dict[str, str] | None:
    """commit -> a digest of its diff without line numbers and blob ids, for the non-merge commits
    `revs` select; None when too many to read. Stricter than `git patch-id`, which also drops all
    whitespace: an indentation change is a change (Python), so it must not read as "same patch"."""
    out = repo.run("show", "--format=%x00%H", "--patch", "--no-merges", "--full-index", "--no-color", *revs)
    if not out.ok or out.truncated:
        return None
    ids: dict[str, str] = {}
    for chunk in out.stdout.split("\0")[1:]:
        sha, _, patch = chunk.partition("\n")
        digest = hashlib.sha1(usedforsecurity=False)
        for line in patch.encode().splitlines():
            if line.startswith(b"index "):
                continue
            digest.update((b"@@" if line.startswith(b"@@ ") else line.rstrip()) + b"\n")
        ids[sha.strip()] = digest.hexdigest()
    return ids


def patches_on(repo: Repo, base_ref: str, commit: str, cache: dict[str, str] | None = None) -> bool:
    """Every commit of the branch has a same-patch copy on the base: a rebase merge (`git cherry`'s test).
    `cache` keeps the base commits' patch ids between branches: they share most of them."""
    cache = {} if cache is None else cache
    theirs = repo.git("rev-list", "--no-merges", f"{commit}..{base_ref}").split()
    if not theirs or len(theirs) > MAX_BASE_COMMITS:
        return False  # reading that many patches costs more than it tells; the tree comparison still runs
    missing = [sha for sha in theirs if sha not in cache]
    for start in range(0, len(missing), 200):
        found = _patch_ids(repo, missing[start:start + 200])
        if found is None:
            return False
        cache.update(found)
    own = _patch_ids(repo, [f"{base_ref}..{commit}"])
    if not own:
        return False
    return set(own.values()) <= {cache[sha] for sha in theirs if sha in cache}


@dataclass(frozen=True)
class Bases:
    """The base refs, read once for all branches: each tip, the branches whose tip it contains, and
    which refs need content checks (a local base its remote copy already contains adds nothing)."""

    refs: list[str]
    tips: dict[str, str]
    merged: dict[str, frozenset[str]]
    content_refs: list[str]
    patch_ids: dict[str, str]

    @classmethod
    def read(cls, repo: Repo, refs: list[str]) -> Bases:
        tips = {ref: repo.git("rev-parse", ref).strip() for ref in refs}
        merged = {ref: frozenset(repo.git("for-each-ref", f"--merged={ref}", "--format=%(refname)", "refs/heads").split())
                  for ref in refs}
        content_refs: list[str] = []
        for ref in refs:
            if not any(is_ancestor(repo, tips[ref], tips[kept]) for kept in content_refs):
                content_refs.append(ref)
        return cls(refs, tips, merged, content_refs, {})


def classify(
    repo: Repo, branch: Branch, bases: Bases, *, current: str | None, worktrees: dict[str, Path],
    protected: frozenset[str] = PROTECTED,
) -> Classified:
    if branch.name == current:
        return Classified(branch, "current", "checked out here")
    if branch.name in worktrees:
        return Classified(branch, "worktree", f"checked out in the worktree {worktrees[branch.name]}", worktree=worktrees[branch.name])
    if branch.name in protected:
        return Classified(branch, "protected", "the base or a trunk branch")
    for base in bases.refs:
        if f"refs/heads/{branch.name}" in bases.merged[base]:
            if bases.tips[base] == branch.commit and not branch.upstream_gone:
                # Nothing of its own yet (just created, or the base itself): deleting it would lose no
                # commit but would undo someone's fresh start. With its upstream deleted it was fast-forwarded.
                return Classified(branch, "no_commits", f"at the same commit as {_short(base)}; no commits of its own")
            return Classified(branch, "merged", f"its commits are in {_short(base)}", merged_into=_short(base))
    for base in bases.content_refs:
        if patches_on(repo, base, branch.commit, bases.patch_ids):
            return Classified(branch, "merged_rebase", f"every commit has a same-patch copy in {_short(base)} (rebase merge)", merged_into=_short(base))
        if content_on(repo, base, branch.commit):
            return Classified(branch, "merged_squash", f"every file it changed is the same in {_short(base)} (squash merge)", merged_into=_short(base))
    if branch.upstream_gone:
        return Classified(branch, "gone_unmerged", f"upstream {branch.upstream} was deleted but its commits are not in the base")
    return Classified(branch, "active", "has commits the base does not")


def classify_all(
    repo: Repo, branches: list[Branch], base_refs: list[str], *, current: str | None, worktrees: dict[str, Path],
    protected: frozenset[str], progress: Callable[[int, int, str], None] | None = None,
) -> list[Classified]:
    bases = Bases.read(repo, base_refs)
    found = []
    for n, branch in enumerate(branches):
        if progress is not None:
            progress(n, len(branches), f"classifying {branch.name}")
        found.append(classify(repo, branch, bases, current=current, worktrees=worktrees, protected=protected))
    return found


def _short(ref: str) -> str:
    return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")
