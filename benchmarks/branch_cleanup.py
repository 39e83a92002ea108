"""Branch cleanup: what Claude Code's `/clean_gone` does to a clone, against `manage_git_branches cleanup`.

One world, rebuilt for every side: a bare remote, a colleague's clone that merges pull requests
the three ways hosts do (merge commit, squash, rebase) and deletes their branches, and our clone
with K branches of each kind: merged, squash-merged, rebase-merged, upstream deleted without
being merged, local-only work, plus one unmerged branch checked out in a second worktree that
holds an uncommitted file.

Sides:
- `clean_gone` as shipped: its loop (`git branch -v | grep '[gone]' ... git worktree remove
  --force ... git branch -D`) with no fetch, as the command runs it;
- `clean_gone` after a `git fetch --prune` (what its users do to make it see anything);
- the tool's `cleanup` (fetch --prune, classify, delete the merged only).

For each side: merged branches deleted and left behind, commits lost (reachable before, now
from no ref, and not content the base holds), unmerged branches deleted, uncommitted worktree
files lost, and the wall time (median of the repetitions).

    uv run --all-extras python benchmarks/branch_cleanup.py [--per-kind 10] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import finish, print_header

KINDS = ("merge", "squash", "rebase", "gone", "local")
CLEAN_GONE = r"""
git branch -v | grep '\[gone\]' | sed 's/^[+* ]//' | awk '{print $1}' | while read branch; do
  worktree=$(git worktree list | grep "\\[$branch\\]" | awk '{print $1}')
  if [ ! -z "$worktree" ] && [ "$worktree" != "$(git rev-parse --show-toplevel)" ]; then
    git worktree remove --force "$worktree"
  fi
  git branch -D "$branch"
done
"""
ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def git(cwd: Path, *args: str) -> str:
    import os

    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **ENV}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def commit(cwd: Path, path: str, text: str) -> None:
    (cwd / path).write_text(text)
    git(cwd, "add", path)
    git(cwd, "commit", "-q", "-m", f"edit {path}")


def build(tmp: Path, per_kind: int) -> dict[str, Any]:
    remote, alice, ws = tmp / "remote.git", tmp / "alice", tmp / "ws"
    me = ws / "proj"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp, "clone", "-q", str(remote), str(alice))
    commit(alice, "README.md", "hello\n")
    git(alice, "push", "-q", "origin", "main")
    ws.mkdir()
    git(tmp, "clone", "-q", str(remote), str(me))
    branches: dict[str, str] = {}
    for kind in KINDS:
        for n in range(per_kind):
            name = f"{kind}-{n}"
            git(me, "switch", "-q", "-c", name, "origin/main")
            commit(me, f"{name}-a.txt", "a\n")
            commit(me, f"{name}-b.txt", "b\n")
            if kind != "local":
                git(me, "push", "-q", "-u", "origin", name)
            branches[name] = kind
    git(me, "switch", "-q", "-c", "wip-in-worktree", "origin/main")
    commit(me, "wip.txt", "w\n")
    git(me, "push", "-q", "-u", "origin", "wip-in-worktree")
    branches["wip-in-worktree"] = "gone"
    git(me, "switch", "-q", "main")
    git(me, "worktree", "add", "-q", str(ws / "wt"), "wip-in-worktree")
    (ws / "wt" / "notes.txt").write_text("uncommitted notes\n")

    git(alice, "fetch", "-q", "origin")
    deleted = []
    for name, kind in branches.items():
        if kind == "merge":
            git(alice, "merge", "-q", "--no-ff", "-m", f"Merge {name}", f"origin/{name}")
        elif kind == "squash":
            git(alice, "merge", "-q", "--squash", f"origin/{name}")
            git(alice, "commit", "-q", "-m", f"{name} (squashed)")
        elif kind == "rebase":
            for sha in git(alice, "rev-list", "--reverse", f"main..origin/{name}").split():
                git(alice, "cherry-pick", sha)
        if kind != "local":
            deleted.append(f":{name}")
    git(alice, "push", "-q", "origin", "main", *deleted)
    return {"me": me, "wt": ws / "wt", "ws": ws, "branches": branches}


def measure(world: dict[str, Any], side: str) -> dict[str, Any]:
    me: Path = world["me"]
    before = set(git(me, "rev-list", "--all").split())
    start = time.perf_counter()
    if side == "tool":
        from mlops_engineer.runtime import ToolContext, execute
        from mlops_engineer.settings import Settings
        from mlops_engineer.tools.manage_git_branches import TOOL
        from mlops_engineer.workspace import Workspace

        ctx = ToolContext(workspace=Workspace(world["ws"]), settings=Settings(workspace=world["ws"]))
        execute(TOOL, {"repo": "proj", "operation": {"action": "cleanup"}}, ctx)
    else:
        if side == "clean_gone_after_prune":
            git(me, "fetch", "-q", "--prune", "origin")
        subprocess.run(["bash", "-c", CLEAN_GONE], cwd=me, capture_output=True, check=True)
    seconds = time.perf_counter() - start
    left = set(git(me, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())
    git(me, "fetch", "-q", "origin")
    lost = {c for c in before - set(git(me, "rev-list", "--all").split())
            if not _content_on_base(me, c)}
    kinds = world["branches"]
    merged = [b for b, k in kinds.items() if k in ("merge", "squash", "rebase")]
    unmerged = [b for b, k in kinds.items() if k in ("gone", "local")]
    return {
        "side": side,
        "merged_deleted": sum(b not in left for b in merged),
        "merged_left": sum(b in left for b in merged),
        "unmerged_deleted": sum(b not in left for b in unmerged),
        "commits_lost": len(lost),
        "worktree_files_lost": int(not (world["wt"] / "notes.txt").exists()),
        "seconds": seconds,
    }


def _content_on_base(repo: Path, sha: str) -> bool:
    """A commit whose changes origin/main already holds (merging it would change nothing)."""
    done = subprocess.run(["git", "merge-tree", "--write-tree", "origin/main", sha], cwd=repo, capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.split()[0] == git(repo, "rev-parse", "origin/main^{tree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    print_header()
    print(f"{args.per_kind} branches of each kind {KINDS} + 1 unmerged in a worktree with an uncommitted file; "
          f"median of {args.repeat}")
    results = []
    for side in ("clean_gone", "clean_gone_after_prune", "tool"):
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(measure(build(Path(tmp), args.per_kind), side))
        row = {**runs[-1], "seconds": statistics.median(r["seconds"] for r in runs)}
        results.append(row)
    print(f"{'side':<24}{'merged deleted':>15}{'merged left':>12}{'unmerged deleted':>17}{'commits lost':>13}"
          f"{'wt files lost':>14}{'seconds':>9}")
    for r in results:
        print(f"{r['side']:<24}{r['merged_deleted']:>15}{r['merged_left']:>12}{r['unmerged_deleted']:>17}"
              f"{r['commits_lost']:>13}{r['worktree_files_lost']:>14}{r['seconds']:>9.2f}")
    finish(results, args.json)


if __name__ == "__main__":
    main()
