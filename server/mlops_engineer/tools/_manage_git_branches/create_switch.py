"""Actions create and switch: a new branch from a base with its upstream set, and checking a
branch out without ever carrying uncommitted changes somewhere they were not meant to go."""

from __future__ import annotations

from mlops_engineer.engines.git import branches as git
from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._manage_git_branches.common import (
    Target,
    branch_info,
    branch_name,
    find_branch,
    refuse_changes,
    refuse_in_progress,
    resolve_base,
    short,
)
from mlops_engineer.tools._manage_git_branches.models import (
    BranchesInput,
    BranchesOutput,
    Create,
    Switch,
)

PUSH_HOOKS = ("pre-push",)  # the team's last check before anything reaches the server; no other hook runs


def run_create(op: Create, inp: BranchesInput, ctx: ToolContext, target: Target, out: BranchesOutput) -> BranchesOutput:
    repo = target.repo
    name = branch_name(target, op.name)
    refuse_in_progress(target)
    if op.publish and not target.remote:
        raise ToolError("not_found", f"publish needs the remote '{inp.remote}', which {target.rel} does not have.", "Add it (git remote add) or create without publish.")
    if target.remote and not inp.dry_run:
        repo.git("fetch", "--no-recurse-submodules", target.remote)  # start from the base as the remote has it now
    out.planned_calls.append(f"git fetch {target.remote}" if target.remote else "no remote: local base")
    base, refs = resolve_base(target, op.base)
    out.base = short(refs[0])
    existing = find_branch(target, name)
    current = git.current_branch(repo)
    if existing is not None:
        return _existing(op, inp, target, existing, current, out)
    if target.remote and git.ref_exists(repo, f"refs/remotes/{target.remote}/{name}"):
        raise ToolError("conflict", f"'{name}' already exists on {target.remote}: a new branch of that name would diverge from it.",
                        "Check it out with action switch (it will track the remote branch), or pick another name.")
    start = git.resolve_commit(repo, refs[0])
    if op.switch and start != git.resolve_commit(repo, "HEAD"):
        refuse_changes(target, f"starting '{name}' from {short(refs[0])}")
    upstream = f"{target.remote}/{name}" if op.publish and target.remote else short(refs[0])
    out.planned_calls += [
        f"git {'switch -c' if op.switch else 'branch --no-track'} {name} {short(refs[0])}",
        *([f"git push -u {target.remote} {name}"] if op.publish and target.remote else [f"git branch --set-upstream-to={upstream} {name}"]),
    ]
    if inp.dry_run:
        return out
    if op.switch:
        repo.git("switch", "--no-track", "-c", name, refs[0])
    else:
        repo.git("branch", "--no-track", name, refs[0])
    if op.publish and target.remote:
        _push(target, name)
    else:
        repo.git("branch", f"--set-upstream-to={upstream}", name)
    out.changed = True
    return _report(target, name, out)


def _existing(op: Create, inp: BranchesInput, target: Target, branch: git.Branch, current: str | None, out: BranchesOutput) -> BranchesOutput:
    """Create twice is the same as once: the branch is there; switch to it or publish it if asked."""
    repo = target.repo
    steps = []
    if op.switch and current != branch.name:
        refuse_changes(target, f"switching to '{branch.name}'")
        steps.append(["switch", branch.name])
    if op.publish and target.remote and branch.upstream != f"{target.remote}/{branch.name}":
        steps.append(["push", "-u", target.remote, branch.name])
    out.planned_calls += ["git " + " ".join(s) for s in steps] or [f"'{branch.name}' exists: nothing to do"]
    if not inp.dry_run:
        for step in steps:
            if step[0] == "push":
                _push(target, branch.name)
            else:
                repo.git(*step)
        out.changed = bool(steps)
    return _report(target, branch.name, out)


def _push(target: Target, name: str) -> None:
    """push -u; a refusal (a pre-push hook, a rejected ref) leaves the branch created locally, and says so."""
    done = target.repo.run("push", "-u", target.remote or "", name, hooks=PUSH_HOOKS, timeout=300)
    if not done.ok:
        raise ToolError("failed", f"'{name}' exists locally, but pushing it to {target.remote} failed: {done.stderr.strip()[:800]}",
                        "Fix what the remote or the pre-push hook says, then repeat the call: it only pushes.")


def run_switch(op: Switch, inp: BranchesInput, ctx: ToolContext, target: Target, out: BranchesOutput) -> BranchesOutput:
    repo = target.repo
    name = branch_name(target, op.name)
    refuse_in_progress(target)
    current = git.current_branch(repo)
    if current == name:
        out.planned_calls.append(f"already on '{name}'")
        return _report(target, name, out)
    local = git.ref_exists(repo, f"refs/heads/{name}")
    remote_ref = f"refs/remotes/{target.remote}/{name}" if target.remote else None
    if not local and not (remote_ref and git.ref_exists(repo, remote_ref)):
        raise ToolError("not_found", f"No branch '{name}' in {target.rel} or on {target.remote or 'a remote'}.",
                        "Create it with action create, or fetch first (list with fetch=true).")
    elsewhere = git.worktree_branches(repo).get(name)
    if elsewhere is not None:
        raise ToolError("conflict", f"'{name}' is checked out in the worktree {elsewhere}.",
                        "Work on it there, or switch that worktree to another branch first.")
    changes = git.changed_files(repo)
    if changes and not op.stash:
        raise ToolError("conflict", f"Uncommitted changes in {target.rel} ({len(changes)} files: {', '.join(changes[:10])}).",
                        "Commit them first, or repeat with stash=true and confirm=true to set them aside in a named stash.")
    if changes and not inp.confirm:
        raise ToolError("needs_confirm", f"Switching to '{name}' will stash {len(changes)} changed files: {', '.join(changes[:10])}.",
                        "Repeat with confirm=true; `git stash pop` on the old branch brings them back.")
    message = f"manage_git_branches: changes on {current or 'detached HEAD'} before switching to {name}"
    out.planned_calls += [
        *([f"git stash push -m '{message}'"] if changes else []),
        f"git switch {name}" if local else f"git switch -c {name} {target.remote}/{name} (tracking it)",
    ]
    if inp.dry_run:
        return out
    if changes:
        repo.git("stash", "push", "-m", message)
        out.stash = f"stash@{{0}} ({repo.git('rev-parse', 'refs/stash').strip()[:12]}): {message}"
    done = repo.run("switch", name) if local else repo.run("switch", "--no-track", "-c", name, remote_ref or "")
    if not done.ok:
        if changes:  # put the changes back where they were: the call changes nothing when it fails
            repo.run("stash", "pop")
        raise ToolError("conflict", f"git switch {name} failed: {done.stderr.strip()[:500]}", "Read git's message; `git status` shows the state.")
    if not local:
        repo.git("branch", f"--set-upstream-to={target.remote}/{name}", name)
    out.changed = True
    if out.stash:
        out.next_steps.append(f"Your changes are in {out.stash.split(' ')[0]}: switch back to {current} and run `git stash pop`.")
    return _report(target, name, out)


def _report(target: Target, name: str, out: BranchesOutput) -> BranchesOutput:
    branch = find_branch(target, name)
    out.current_branch = git.current_branch(target.repo)
    if branch is not None:
        base_ref = None
        if out.base:
            base_ref = f"refs/remotes/{out.base}" if git.ref_exists(target.repo, f"refs/remotes/{out.base}") else f"refs/heads/{out.base}"
        out.branch = branch_info(target, branch, base_ref)
    return out
