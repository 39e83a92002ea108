"""manage_git_branches against real git: a bare remote stands in for the server, a colleague's
clone (outside the workspace) merges and deletes branches on it the ways hosts do (merge commit,
squash, rebase), and our clone in the workspace is where the tool runs.

The cleanup cases rebuild what Claude Code's `/clean_gone` gets wrong: it never prunes
(stale remote-tracking refs), it deletes unmerged branches whose upstream is gone, and it
refuses squash-merged ones. Every destructive test proves no commit was lost: each commit
reachable from any ref before is reachable after, or belongs to a branch the tool reported
deleted as merged whose changes the base holds (checked with `git merge-tree`, a method the
tool does not use), and `git fsck --no-dangling` is clean.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.manage_git_branches import TOOL
from tests.helpers import ToolRunner


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def commit(cwd: Path, path: str, text: str, message: str) -> str:
    (cwd / path).parent.mkdir(parents=True, exist_ok=True)
    (cwd / path).write_text(text)
    git(cwd, "add", path)
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


class World:
    """remote.git (bare), alice (a colleague's clone, outside the workspace), ws/proj (ours)."""

    def __init__(self, tmp: Path) -> None:
        self.remote = tmp / "remote.git"
        self.alice = tmp / "alice"
        self.ws = tmp / "ws"
        self.me = self.ws / "proj"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.remote))
        git(tmp, "clone", "-q", str(self.remote), str(self.alice))
        commit(self.alice, "README.md", "hello\n", "initial")
        commit(self.alice, "src/app.py", "x = 1\n", "app")
        git(self.alice, "push", "-q", "origin", "main")
        self.ws.mkdir()
        git(tmp, "clone", "-q", str(self.remote), str(self.me))
        self.runner = ToolRunner(self.ws)

    def __call__(self, action: str, **fields: object):  # noqa: ANN204
        top = {k: fields.pop(k) for k in ("dry_run", "confirm") if k in fields}
        return self.runner(TOOL, {"action": action, **fields}, repo="proj", **top)

    def error(self, action: str, **fields: object) -> ToolError:
        with pytest.raises(ToolError) as caught:
            self(action, **fields)
        return caught.value

    def feature(self, name: str, files: dict[str, str], push: bool = True) -> str:
        """A branch in our clone with one commit per file, pushed with upstream tracking."""
        git(self.me, "switch", "-q", "-c", name, "origin/main")
        for path, text in files.items():
            commit(self.me, path, text, f"{name}: {path}")
        if push:
            git(self.me, "push", "-q", "-u", "origin", name)
        git(self.me, "switch", "-q", "main")
        return git(self.me, "rev-parse", name)

    def alice_merges(self, name: str, how: str) -> None:
        """The host merges `name` into main (merge commit, squash or rebase) and deletes the branch."""
        a = self.alice
        git(a, "fetch", "-q", "origin")
        git(a, "switch", "-q", "main")
        git(a, "merge", "-q", "--ff-only", "origin/main")
        if how == "merge":
            git(a, "merge", "-q", "--no-ff", "-m", f"Merge {name}", f"origin/{name}")
        elif how == "squash":
            git(a, "merge", "-q", "--squash", f"origin/{name}")
            git(a, "commit", "-q", "-m", f"{name} (squashed)")
        elif how == "rebase":
            for sha in git(a, "rev-list", "--reverse", f"main..origin/{name}").split():
                git(a, "cherry-pick", sha)  # new commits, same patches: what "rebase and merge" leaves
        git(a, "push", "-q", "origin", "main", f":{name}")

    def alice_deletes(self, name: str) -> None:
        git(self.alice, "push", "-q", "origin", f":{name}")

    def alice_moves_main(self, path: str = "CHANGELOG.md") -> None:
        git(self.alice, "switch", "-q", "main")
        git(self.alice, "pull", "-q", "--ff-only", "origin", "main")
        commit(self.alice, path, "moved on\n", f"main moves: {path}")
        git(self.alice, "push", "-q", "origin", "main")


@pytest.fixture
def git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A global config of our own: an identity for commits, and none of the machine's settings."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
                      "[advice]\n\tdetachedHead = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def world(tmp_path: Path, git_identity: None) -> World:
    return World(tmp_path)


def all_commits(repo: Path) -> set[str]:
    return set(git(repo, "rev-list", "--all").split())


def assert_nothing_lost(repo: Path, before: set[str], deleted: list) -> None:  # noqa: ANN001
    """Each commit reachable before is reachable now, or belongs to a branch reported deleted as
    merged whose changes are all on the base; and the object store is sound."""
    after = all_commits(repo)
    lost = before - after
    for item in deleted:
        assert item.status in ("merged", "merged_squash", "merged_rebase"), item
        own = set(git(repo, "rev-list", item.commit, "^origin/main").split())
        # Independent oracle: merging the old tip into the base changes nothing.
        merged_tree = git(repo, "merge-tree", "--write-tree", "origin/main", item.commit).splitlines()[0]
        assert merged_tree == git(repo, "rev-parse", "origin/main^{tree}"), f"{item.name}: content not on the base"
        lost -= own
    assert not lost, f"commits lost: {sorted(lost)}"
    fsck = subprocess.run(["git", "fsck", "--no-dangling", "--no-progress"], cwd=repo, capture_output=True, text=True, check=False)
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr


def test_cleanup_rebuilds_the_clean_gone_failures(world: World) -> None:
    me = world.me
    world.feature("feat-merged", {"merged.txt": "m\n"})
    world.feature("feat-squashed", {"s1.txt": "one\n", "s2.txt": "two\n"})
    world.feature("feat-rebased", {"r1.txt": "one\n", "r2.txt": "two\n"})
    gone_tip = world.feature("feat-gone-unmerged", {"wip.txt": "unfinished\n"})
    active_tip = world.feature("feat-local", {"local.txt": "mine\n"}, push=False)
    world.feature("feat-in-worktree", {"wt.txt": "w\n"})
    world.feature("feat-current", {"cur.txt": "c\n"})
    world.feature("stale", {"stale.txt": "s\n"})
    world.alice_moves_main()  # rebase and squash merges then land on a base that moved
    for name, how in [("feat-merged", "merge"), ("feat-squashed", "squash"), ("feat-rebased", "rebase"),
                      ("feat-in-worktree", "merge"), ("feat-current", "merge"), ("stale", "merge")]:
        world.alice_merges(name, how)
    world.alice_deletes("feat-gone-unmerged")
    git(me, "branch", "-q", "-D", "stale")  # only the remote-tracking ref is left: /clean_gone never prunes it
    git(me, "worktree", "add", "-q", str(world.ws / "wt"), "feat-in-worktree")
    git(me, "switch", "-q", "feat-current")
    assert git(me, "rev-parse", "--verify", "-q", "refs/remotes/origin/stale")
    before = all_commits(me)

    plan = world("cleanup", dry_run=True)
    assert plan.pruned == sorted(["origin/feat-current", "origin/feat-gone-unmerged", "origin/feat-in-worktree",
                                  "origin/feat-merged", "origin/feat-rebased", "origin/feat-squashed", "origin/stale"])
    assert all_commits(me) == before and git(me, "rev-parse", "--verify", "-q", "refs/remotes/origin/stale")

    out = world("cleanup")
    status = {b.name: b.status for b in out.branches}
    assert status == {
        "feat-current": "current", "feat-in-worktree": "worktree", "main": "protected",
        "feat-merged": "merged", "feat-squashed": "merged_squash", "feat-rebased": "merged_rebase",
        "feat-gone-unmerged": "gone_unmerged", "feat-local": "active",
    }, status
    assert sorted(d.name for d in out.deleted) == ["feat-merged", "feat-rebased", "feat-squashed"]
    assert "origin/stale" in out.pruned and not git(me, "for-each-ref", "refs/remotes/origin/stale")
    assert out.kept_unmerged == ["feat-gone-unmerged", "feat-local"]
    left = set(git(me, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())
    assert left == {"main", "feat-current", "feat-in-worktree", "feat-gone-unmerged", "feat-local"}
    assert git(me, "rev-parse", "feat-gone-unmerged") == gone_tip and git(me, "rev-parse", "feat-local") == active_tip
    assert git(me, "branch", "--show-current") == "feat-current"
    assert git(world.ws / "wt", "branch", "--show-current") == "feat-in-worktree"
    assert_nothing_lost(me, before, out.deleted)

    again = world("cleanup")  # idempotent: nothing more to prune or delete
    assert again.deleted == [] and again.pruned == [] and not again.changed


def test_list_reports_ahead_behind_gone_and_merged_without_changing_anything(world: World) -> None:
    me = world.me
    world.feature("ahead", {"a1.txt": "1\n"})
    git(me, "switch", "-q", "ahead")
    commit(me, "a2.txt", "2\n", "not pushed yet")
    git(me, "switch", "-q", "main")
    world.feature("gone", {"g.txt": "g\n"})
    world.alice_deletes("gone")
    world.alice_moves_main()
    refs = git(me, "for-each-ref")

    out = world("list")
    info = {b.name: b for b in out.branches}
    assert (info["ahead"].ahead, info["ahead"].behind, info["ahead"].upstream) == (1, 0, "origin/ahead")
    assert (info["ahead"].base_ahead, info["ahead"].base_behind) == (2, 0), "origin/main not fetched: list reads only"
    assert info["ahead"].status == "active" and info["gone"].upstream_gone is False
    assert git(me, "for-each-ref") == refs

    fetched = world("list", fetch=True)
    info = {b.name: b for b in fetched.branches}
    assert fetched.pruned == ["origin/gone"] and info["gone"].upstream_gone and info["gone"].status == "gone_unmerged"
    assert (info["ahead"].base_ahead, info["ahead"].base_behind) == (2, 1)
    assert "gone_unmerged" in TOOL.summarize(fetched) and fetched.deleted == []


def test_identical_cleanups_at_once_delete_each_branch_once(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for name in ("done-1", "done-2", "done-3"):
        world.feature(name, {f"{name}.txt": "x\n"})
        world.alice_merges(name, "squash")
    before = all_commits(world.me)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: world("cleanup"), range(4)))
    deleted = sorted(d.name for r in results for d in r.deleted)
    assert deleted == ["done-1", "done-2", "done-3"], deleted
    assert_nothing_lost(world.me, before, [d for r in results for d in r.deleted])


def test_unmerged_branch_is_deleted_only_when_named_with_confirm(world: World) -> None:
    me = world.me
    tip = world.feature("feat-gone", {"wip.txt": "unfinished\n"})
    world.alice_deletes("feat-gone")
    before = all_commits(me)
    refused = world.error("cleanup", delete_unmerged=["feat-gone"])
    assert refused.code == "needs_confirm" and "feat-gone" in refused.message
    assert git(me, "rev-parse", "feat-gone") == tip

    kept = world("cleanup", confirm=True)  # confirm alone names nothing: unmerged work stays
    assert kept.deleted == [] and kept.kept_unmerged == ["feat-gone"]
    assert git(me, "rev-parse", "feat-gone") == tip

    assert world.error("cleanup", delete_unmerged=["main"], confirm=True).code == "conflict"
    assert world.error("cleanup", delete_unmerged=["nope"], confirm=True).code == "not_found"
    gone = world("cleanup", delete_unmerged=["feat-gone"], confirm=True)
    assert [(d.name, d.status, d.commit) for d in gone.deleted] == [("feat-gone", "gone_unmerged", tip)]
    # Reported with its tip, so it can be brought back; its commit is still in the object store.
    assert set(git(me, "rev-list", tip, "^origin/main").split()) == before - all_commits(me)
    git(me, "branch", "feat-gone", tip)
    assert all_commits(me) == before


def test_names_that_could_be_options_are_refused(world: World) -> None:
    for bad in ["--upload-pack=touch /tmp/pwned", "-D", "a..b", "has space", "@{-1}", "HEAD"]:
        assert world.error("create", name=bad).code == "invalid_input", bad
        assert world.error("switch", name=bad).code == "invalid_input", bad
    assert world.error("cleanup", delete_unmerged=["--force"], confirm=True).code == "invalid_input"
    assert world.error("sync", base="-x").code == "invalid_input"
    assert not Path("/tmp/pwned").exists()


def test_a_repository_outside_the_workspace_is_refused(world: World) -> None:
    with pytest.raises(ToolError) as caught:
        world.runner(TOOL, {"action": "list"}, repo="../alice")
    assert caught.value.code == "outside_workspace"
    # A folder inside the workspace that is no repository: git must not climb to one above it.
    (world.ws / "plain").mkdir()
    with pytest.raises(ToolError) as caught:
        world.runner(TOOL, {"action": "list"}, repo="plain")
    assert caught.value.code == "not_found"


def test_a_linked_worktree_workspace_works_a_forged_git_file_does_not(world: World) -> None:
    """A workspace that is a `git worktree add` of a clone elsewhere (as Claude Code's worktrees are)
    is served; a `.git` file pointing at another repository is not."""
    linked = world.ws.parent / "linked-ws"
    git(world.alice, "worktree", "add", "-q", "-b", "side", str(linked))
    out = ToolRunner(linked)(TOOL, {"action": "list"})
    assert out.current_branch == "side" and {b.name: b.status for b in out.branches}["main"] == "worktree"

    forged = world.ws / "forged"
    forged.mkdir()
    (forged / ".git").write_text(f"gitdir: {world.alice / '.git'}\n")
    with pytest.raises(ToolError) as caught:
        world.runner(TOOL, {"action": "cleanup"}, repo="forged")
    assert caught.value.code == "outside_workspace"


def test_create_tracks_the_base_or_its_published_name(world: World) -> None:
    me = world.me
    world.alice_moves_main()
    plan = world("create", name="feature/a", dry_run=True)
    assert not git(me, "for-each-ref", "refs/heads/feature/a") and plan.planned_calls
    out = world("create", name="feature/a")
    assert out.changed and out.current_branch == "feature/a"
    assert git(me, "rev-parse", "feature/a") == git(me, "rev-parse", "origin/main"), "starts from the fetched base"
    assert git(me, "rev-parse", "--abbrev-ref", "feature/a@{upstream}") == "origin/main"
    again = world("create", name="feature/a")
    assert not again.changed and again.branch.name == "feature/a"

    out = world("create", name="feature/b", publish=True, switch=False)
    assert out.branch.upstream == "origin/feature/b" and out.current_branch == "feature/a"
    assert git(world.remote, "rev-parse", "refs/heads/feature/b") == git(me, "rev-parse", "feature/b")


def test_switch_refuses_a_dirty_tree_unless_stashed_with_confirm(world: World) -> None:
    me = world.me
    world.feature("other", {"o.txt": "o\n"})
    (me / "README.md").write_text("edited, not committed\n")
    refused = world.error("switch", name="other")
    assert refused.code == "conflict" and "README.md" in refused.message
    assert world.error("switch", name="other", stash=True).code == "needs_confirm"
    assert git(me, "branch", "--show-current") == "main" and (me / "README.md").read_text() == "edited, not committed\n"

    out = world("switch", name="other", stash=True, confirm=True)
    assert out.current_branch == "other" and out.stash and "stash@{0}" in out.stash
    assert (me / "README.md").read_text() == "hello\n"
    git(me, "switch", "-q", "main")
    git(me, "stash", "pop", "-q")
    assert (me / "README.md").read_text() == "edited, not committed\n"

    # A branch only on the remote is checked out tracking it; already there is a no-op.
    git(world.alice, "push", "-q", "origin", "main:from-alice")
    git(me, "checkout", "-q", "--", "README.md")
    git(me, "fetch", "-q", "origin")
    out = world("switch", name="from-alice")
    assert out.branch.upstream == "origin/from-alice"
    assert not world("switch", name="from-alice").changed


def test_sync_rebases_and_stops_on_a_conflict_git_status_explains(world: World) -> None:
    me = world.me
    git(me, "switch", "-q", "-c", "feat", "--track", "origin/main")
    commit(me, "src/app.py", "x = 2  # mine\n", "feat: change x")
    world.alice_moves_main("other.txt")
    out = world("sync")
    assert out.sync.outcome == "updated" and out.sync.branch == "feat"
    assert git(me, "merge-base", "--is-ancestor", "origin/main", "feat") == ""
    assert world("sync").sync.outcome == "up_to_date"

    # Alice changes the same line: the rebase stops and says where.
    git(world.alice, "pull", "-q", "--ff-only", "origin", "main")
    commit(world.alice, "src/app.py", "x = 3  # theirs\n", "main: change x")
    git(world.alice, "push", "-q", "origin", "main")
    before = all_commits(me)
    out = world("sync")
    assert out.sync.outcome == "conflict" and out.sync.in_progress == "rebase"
    assert out.sync.conflicted_files == ["src/app.py"]
    status = git(me, "status")
    assert "rebase in progress" in status and "src/app.py" in status
    refused = world.error("sync")
    assert refused.code == "conflict" and "rebase" in refused.message and "src/app.py" in refused.message
    assert world.error("cleanup").code == "conflict"
    git(me, "rebase", "--abort")
    assert git(me, "rev-parse", "feat") == out.sync.before
    assert before <= all_commits(me)

    merged = world("sync", strategy="merge")
    assert merged.sync.outcome == "conflict" and merged.sync.in_progress == "merge"
    assert "You have unmerged paths" in git(me, "status")
    git(me, "merge", "--abort")


def test_rebasing_pushed_commits_needs_confirm(world: World) -> None:
    me = world.me
    world.feature("shared", {"shared.txt": "s\n"})
    git(me, "switch", "-q", "shared")
    world.alice_moves_main()
    refused = world.error("sync")
    assert refused.code == "needs_confirm" and "origin/shared" in refused.message
    assert world("sync", strategy="merge").sync.outcome == "updated"


def test_a_pruned_branch_with_commits_nowhere_else_is_reported_with_its_tip(world: World) -> None:
    me = world.me
    git(world.alice, "switch", "-q", "-c", "alice-spike")
    tip = commit(world.alice, "spike.txt", "idea\n", "spike")
    git(world.alice, "push", "-q", "origin", "alice-spike")
    git(me, "fetch", "-q", "origin")
    before = all_commits(me)
    world.alice_deletes("alice-spike")
    out = world("cleanup")
    assert out.pruned == ["origin/alice-spike"] and out.deleted == []
    assert any(f"git branch alice-spike {tip}" in step for step in out.next_steps), out.next_steps
    assert before - all_commits(me) == {tip}, "only the reported tip left the refs"
    git(me, "branch", "alice-spike", tip)
    assert all_commits(me) == before


def test_whitespace_is_not_the_same_patch(world: World) -> None:
    """git patch-id ignores all whitespace, so an indentation change would read as merged: ours does not."""
    me = world.me
    git(me, "switch", "-q", "-c", "indent", "origin/main")
    commit(me, "src/f.py", "def f():\n    return 1\n", "f")
    git(me, "push", "-q", "-u", "origin", "indent")
    git(me, "switch", "-q", "main")
    world.alice_moves_main()
    commit(world.alice, "src/f.py", "def f():\nreturn 1\n", "f")
    git(world.alice, "push", "-q", "origin", "main", ":indent")
    out = world("cleanup")
    assert out.deleted == [] and out.kept_unmerged == ["indent"]
    assert {b.name: b.status for b in out.branches}["indent"] == "gone_unmerged"


def test_hooks_run_only_when_expected(world: World) -> None:
    me = world.me
    hooks = me / ".git" / "hooks"
    for name in ("post-checkout", "pre-push"):
        (hooks / name).write_text(f"#!/bin/sh\necho ran >> '{world.ws}/{name}.ran'\n")
        (hooks / name).chmod(0o755)
    world("create", name="feature/hooked", publish=True)
    world("switch", name="main")
    assert not (world.ws / "post-checkout.ran").exists(), "post-checkout is not ours to run"
    assert (world.ws / "pre-push.ran").exists(), "pre-push guards what reaches the server"
    (hooks / "pre-push").write_text("#!/bin/sh\necho refused by policy >&2\nexit 1\n")
    refused = world.error("create", name="feature/blocked", publish=True, switch=False)
    assert refused.code == "failed" and "refused by policy" in refused.message
    assert not git(world.remote, "for-each-ref", "refs/heads/feature/blocked")


def test_create_refuses_a_name_the_remote_already_has(world: World) -> None:
    git(world.alice, "push", "-q", "origin", "main:taken")
    git(world.me, "fetch", "-q", "origin")
    assert world.error("create", name="taken").code == "conflict"
    assert world("switch", name="taken").branch.upstream == "origin/taken"


def test_sync_brings_main_up_to_its_remote(world: World) -> None:
    world.alice_moves_main()
    out = world("sync", base="origin/main", strategy="merge")
    assert out.sync.outcome == "updated" and out.sync.onto == "origin/main"
    assert git(world.me, "rev-parse", "main") == git(world.remote, "rev-parse", "main")


def test_demo_step_squash_merges_and_cleans_up_twice(tmp_path: Path, git_identity: None) -> None:
    import io

    from mlops_engineer.demo import open_session
    from mlops_engineer.demos import branches

    root = tmp_path / "demo"
    root.mkdir()
    out = io.StringIO()
    branches.run(open_session(root, out))
    assert "skipped: the demo project is not a git repository" in out.getvalue()

    git(root, "init", "-q", "-b", "main")
    commit(root, "README.md", "demo\n", "demo project")
    head = git(root, "rev-parse", "HEAD")
    for _ in range(2):
        branches.run(open_session(root, out))
    said = out.getvalue()
    assert "created demo/squash-merged from origin/main (tracking origin/main)" in said
    assert "`git branch -d` refused it; cleanup deleted demo/squash-merged (merged_squash" in said
    assert "already done" in said
    work = root / branches.WORK
    assert git(work, "for-each-ref", "--format=%(refname:short)", "refs/heads") == "main"
    assert git(root, "rev-parse", "HEAD") == head and git(root, "branch", "--format=%(refname:short)") == "main"
