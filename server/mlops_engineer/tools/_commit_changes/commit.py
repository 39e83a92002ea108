"""commit and amend: only what is staged, after the message, secret and size checks."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mlops_engineer.engines.git.conventional import validate
from mlops_engineer.engines.git.propose import propose
from mlops_engineer.engines.git.runner import GitError, run_git
from mlops_engineer.engines.git.secrets import Finding, scan_patch, secret_file_kind
from mlops_engineer.engines.git.staging import (
    Change,
    IndexSnapshot,
    head_sha,
    staged_changes,
    staged_patch,
    status,
)
from mlops_engineer.errors import ToolError
from mlops_engineer.locks import file_lock, owner, owner_alive
from mlops_engineer.output import OUTPUT_DIR
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._commit_changes.models import (
    MAX_LIST,
    Amend,
    Commit,
    CommitChangesInput,
    CommitChangesOutput,
    LargeFile,
    MessageCheck,
    SecretFinding,
)
from mlops_engineer.tools._commit_changes.repo import (
    entries,
    fill_status,
    ignore_outputs,
    open_repo,
)

HOOKS = ("pre-commit", "commit-msg")  # the only hooks a commit may run; post-commit and the rest never do
HOOK_TIMEOUT = 900.0  # pre-commit's first run installs its environments
# Data and model files: DVC's job, not git's, from a smaller size on.
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".feather", ".arrow", ".avro", ".orc", ".jsonl", ".ndjson", ".npy", ".npz",
                 ".h5", ".hdf5", ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".onnx", ".safetensors", ".bin",
                 ".tfrecord", ".tflite", ".pb", ".gguf", ".mlmodel", ".xlsx", ".db", ".sqlite", ".zip", ".tar", ".gz",
                 ".tgz", ".bz2", ".xz", ".7z", ".wav", ".mp3", ".mp4", ".avi", ".tif", ".tiff")


def normalize(message: str) -> str:
    """What `git commit --cleanup=whitespace` would store: trailing spaces, repeated and edge blank
    lines removed, one final newline. We check this text and commit it verbatim."""
    lines = [line.rstrip() for line in message.replace("\r\n", "\n").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text else ""


def check_message(message: str, convention: str) -> MessageCheck:
    if convention == "none":
        return MessageCheck(valid=bool(message.strip()), convention="none",
                            errors=[] if message.strip() else ["empty: the message is empty"])
    verdict = validate(message, convention)  # type: ignore[arg-type]
    return MessageCheck(valid=verdict.valid and bool(message.strip()), convention=convention,
                        errors=[f"{p.rule}: {p.message}" for p in verdict.errors] or ([] if message.strip() else ["empty: the message is empty"]),
                        warnings=[f"{p.rule}: {p.message}" for p in verdict.warnings])


def large_files(changes: list[Change], op: Commit) -> list[LargeFile]:
    found = []
    for change in changes:
        if change.size is None:
            continue
        is_data = PurePosixPath(change.path).name.lower().endswith(DATA_SUFFIXES)
        limit = op.max_data_file_mb if is_data else op.max_file_mb
        if change.size > limit * 1_000_000:
            found.append(LargeFile(path=change.path, size_mb=round(change.size / 1_000_000, 2), limit_mb=limit))
    return found


def secrets(repo: Path, changes: list[Change], ctx: ToolContext) -> list[Finding]:
    found = [Finding(c.path, None, kind, "(whole file)") for c in changes if c.status != "D" and (kind := secret_file_kind(c.path))]
    return found + scan_patch(staged_patch(repo, context=0, check=ctx.check_cancelled))


OWNER_FILE = "mlops-commit.owner"  # in the git dir while our `git commit` runs: `<server owner> <git pid>`


def git_dir(repo: Path) -> Path:
    return Path(run_git(repo, ["rev-parse", "--absolute-git-dir"]).stdout.strip())


@contextlib.contextmanager
def commit_lock(repo: Path, ctx: ToolContext) -> Iterator[None]:
    """One commit at a time per repository (identical concurrent calls: the second sees the first's
    commit). The lock file lives in .git, so it never shows up as an untracked file."""
    with file_lock(git_dir(repo) / "mlops-commit.lock", check_cancelled=ctx.check_cancelled, name="commit"):
        yield


def recover(repo: Path) -> list[str]:
    """After a call killed mid-commit: its git's `index.lock` would refuse every later commit.
    Removed only when both the recorded server process and its git are gone (a live one is a
    conflict); anything else holding the lock is somebody's running git and is left alone."""
    folder = git_dir(repo)
    record_path = folder / OWNER_FILE
    if not record_path.exists():
        return []
    server, _, pid = record_path.read_text().strip().rpartition(" ")
    git_alive = pid.isdigit() and owner_alive(owner(int(pid))) is True
    if owner_alive(server) is not False or git_alive:
        if git_alive:
            raise ToolError("conflict", f"A git commit started by an interrupted call (pid {pid}) is still running.",
                            "Wait for it to finish (its hooks may be slow) and call again.")
        return []  # the recording server still runs (another thread of it): not ours to clean
    done = []
    lock = folder / "index.lock"
    if lock.exists() and lock.stat().st_mtime >= record_path.stat().st_mtime - 1:
        lock.unlink()
        done.append(f"removed {lock.name}, left by a commit whose process was killed (git pid {pid})")
    record_path.unlink(missing_ok=True)
    return done


def head_message(repo: Path, ctx: ToolContext) -> str:
    return run_git(repo, ["log", "--max-count=1", "--format=%B", "HEAD"], check_cancelled=ctx.check_cancelled).stdout


def run_commit(op: Commit, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput) -> CommitChangesOutput:
    repo = open_repo(inp, ctx, out)
    with commit_lock(repo, ctx):
        out.recovered = recover(repo)
        return _commit(op, inp, ctx, out, repo)


def _commit(op: Commit, inp: CommitChangesInput, ctx: ToolContext, out: CommitChangesOutput, repo: Path) -> CommitChangesOutput:
    amend = isinstance(op, Amend)
    st = status(repo, ctx.check_cancelled)
    if st.conflicted:
        raise ToolError("conflict", f"Unmerged paths: {', '.join(st.conflicted[:10])}.",
                        "Resolve the conflicts and stage the results first (action stage).")
    changes = staged_changes(repo, ctx.check_cancelled)
    head = st.head
    if amend and head is None:
        raise ToolError("not_found", "There is no commit to amend yet.", "Use action commit for the first commit.")
    message = normalize(op.message) if op.message is not None else None

    # Idempotence: the same call again finds its commit at HEAD and changes nothing.
    if not changes:
        current = normalize(head_message(repo, ctx)) if head else None
        if head and (message is None and amend or message is not None and message == current):
            out.commit, out.created, out.message = head, False, current
            return fill_status(out, st, changes)
        if not amend:
            raise ToolError("invalid_input", "Nothing is staged, so there is nothing to commit (files are never added implicitly).",
                            'Stage files first: {"operation": {"action": "stage", "paths": ["<file>"]}}.')

    if message is None and not amend:
        proposal = propose(changes, staged_patch(repo, context=0, check=ctx.check_cancelled))
        message = proposal.message
        out.type, out.scope, out.breaking, out.reasons = proposal.type, proposal.scope, proposal.breaking, proposal.reasons
    if message is not None:
        out.check = check_message(message, op.convention)
    out.message = message if message is not None else normalize(head_message(repo, ctx))

    found = secrets(repo, changes, ctx)
    out.secrets = [SecretFinding(path=f.path, line=f.line, kind=f.kind, preview=f.preview) for f in found]
    out.large_files = large_files(changes, op)
    pushed = _pushed_branches(repo, ctx) if amend else []
    out.planned_calls = [f"git commit{' --amend' if amend else ''} --cleanup=verbatim --file=- "
                         f"({len(changes)} staged file(s); hooks: {', '.join(HOOKS) if op.run_hooks else 'none'})"]
    if inp.dry_run:
        out.dry_run = True
        return fill_status(out, st, changes)

    if out.check is not None and not out.check.valid:
        raise ToolError("invalid_input", f"The message fails {out.check.convention}: {'; '.join(out.check.errors)}.",
                        'Fix it, or let {"operation": {"action": "message"}} propose one; convention "none" skips the check.')
    if out.large_files:
        listed = ", ".join(f"{f.path} ({f.size_mb} MB > {f.limit_mb} MB)" for f in out.large_files)
        raise ToolError("invalid_input", f"Large files are staged: {listed}. Git is the wrong store for them.",
                        "Unstage them (action unstage) and version them with DVC: version_ml_data "
                        '{"operation": {"action": "track", "paths": [...]}}; or raise max_file_mb / max_data_file_mb.')
    if found and not inp.confirm:
        listed = "; ".join(f"{f.path}{f':{f.line}' if f.line else ''} {f.kind} {f.preview}" for f in found[:10])
        raise ToolError("needs_confirm", f"The staged changes look like they hold secrets ({len(found)}): {listed}.",
                        "Unstage them and move the secret to the environment or a git-ignored file; repeat with "
                        "confirm=true only if they are not secrets (or mark the line `pragma: allowlist secret`).")
    if pushed and not inp.confirm:
        raise ToolError("needs_confirm", f"HEAD {head[:12] if head else ''} is already on {', '.join(pushed[:5])}: amending "
                        "rewrites a commit others may have.",
                        "Make a new commit instead (action commit), or repeat with confirm=true and push with --force-with-lease.")
    return _run_commit(repo, message, amend, op.run_hooks, ctx, out, changes, head)


def _pushed_branches(repo: Path, ctx: ToolContext) -> list[str]:
    refs = run_git(repo, ["for-each-ref", "--contains=HEAD", "--format=%(refname:short)", "refs/remotes"],
                   check_cancelled=ctx.check_cancelled).stdout.split()
    return [r for r in refs if not r.endswith("/HEAD")]


def _run_commit(repo: Path, message: str | None, amend: bool, hooks: bool, ctx: ToolContext, out: CommitChangesOutput,
                changes: list[Change], head: str | None) -> CommitChangesOutput:
    args = ["commit", "-q", "--cleanup=verbatim"] + (["--amend"] if amend else [])
    args += ["--file=-"] if message is not None else ["--no-edit"]
    snapshot = IndexSnapshot(repo)
    record = git_dir(repo) / OWNER_FILE
    try:
        result = run_git(repo, args, input_text=message, allow_hooks=HOOKS if hooks else (), check=False,
                         timeout=HOOK_TIMEOUT, check_cancelled=ctx.check_cancelled,
                         on_start=lambda pid: record.write_text(f"{owner()} {pid}\n"))
        if not result.ok:
            restored = snapshot.changed()
            if restored:
                snapshot.restore()
            output = (result.stdout + result.stderr).strip()
            out.hook_output = output
            log = _save_log(ctx, output)
            raise GitError(
                "failed",
                f"git commit was refused (exit {result.returncode}){' and the index was restored' if restored else ''}; "
                f"nothing was committed. Output{f' (whole in {log})' if log else ''}: ...{output[-1500:]}",
                "Fix what the hook reports (or the staged files) and call commit again: the index is exactly as before.",
                returncode=result.returncode, stderr=result.stderr, stdout=result.stdout,
            )
    except BaseException:
        # Cancelled or timed out mid-commit: the index goes back too.
        if snapshot.changed() and head_sha(repo) == head:
            snapshot.restore()
        raise
    finally:
        snapshot.discard()
        record.unlink(missing_ok=True)
    out.commit = head_sha(repo, ctx.check_cancelled)
    out.created = True
    out.hook_output = (result.stdout + result.stderr).strip()[-4000:] or None
    out.committed = entries(changes)[:MAX_LIST]
    return fill_status(out, status(repo, ctx.check_cancelled), staged_changes(repo, ctx.check_cancelled))


def _save_log(ctx: ToolContext, text: str) -> str | None:
    if len(text) <= 1500:
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    ignore_outputs(ctx)
    return ctx.workspace.relative(ctx.workspace.write_text(f"{OUTPUT_DIR}/commit-hook-{digest}.log", text))
