"""Run `git` as a subprocess, and only the way we mean to.

Everything a git skill does goes through `run_git`. It refuses what has let attackers run code
through git before (the GitPython advisories CVE-2022-24439 and CVE-2023-40267 came from options
smuggled into arguments, e.g. a "branch" named `--upload-pack=touch /tmp/x`):

- only the subcommands and options in `ALLOWED` run; an argument before `--` that starts with `-`
  must be one of its subcommand's options, so a user value can never become an option;
- user values go through `check_ref_name` / `check_pathspec` first, and paths go after `--`;
- no hooks run unless the caller names them (`allow_hooks=("pre-commit", "commit-msg")`): the
  others are hidden by pointing `core.hooksPath` at a folder holding only the named ones;
- config that runs programs is switched off (`core.fsmonitor`, `ext::` remotes, external diff,
  pager, editor), prompts never wait for a terminal, pathspecs are literal (no `:(magic)`);
- repository discovery stops at the workspace (`GIT_CEILING_DIRECTORIES`);
- output is bounded (`max_output` bytes kept of each stream, or stdout straight to a file);
- the call is cancellable (`check_cancelled`) and has a timeout; git runs in its own process
  group, killed with its children on either.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.errors import ErrorCode, ToolError

DEFAULT_TIMEOUT = 120.0
MAX_OUTPUT = 1_000_000  # bytes kept of stdout/stderr; more is cut and `truncated` set

# Subcommand -> allowed options. An entry ending in "=" allows that option with any value
# attached (`--format=%H`); other entries match exactly. Options taking a separate value
# (`-m msg`) are listed when their value is ours or checked: the runner cannot tell them apart.
_LOG_FORMAT = {"--format=", "--pretty=", "--max-count=", "-z", "--no-merges", "--reverse", "--first-parent",
               "--no-color", "--name-only", "--name-status", "--numstat", "--date=", "--abbrev-commit"}
_DIFF = {"--cached", "--staged", "--no-color", "--no-ext-diff", "--no-textconv", "--stat", "--numstat",
         "--name-only", "--name-status", "--shortstat", "--unified=", "-z", "--binary", "--find-renames",
         "--no-renames", "--diff-filter=", "--raw", "--no-abbrev", "--quiet", "--exit-code", "--full-index", "--patch", "-p"}
ALLOWED: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "status": {"--porcelain=v1", "--porcelain=v2", "--porcelain", "-z", "--branch", "--untracked-files=",
               "--ignored", "--no-renames", "--short"},
    "diff": _DIFF,
    "diff-index": _DIFF,
    "diff-tree": _DIFF | {"-r", "--no-commit-id", "--root"},
    "add": {"--intent-to-add", "-N", "--update", "-u", "--all", "-A"},
    "apply": {"--cached", "--check", "--recount", "--unidiff-zero", "--whitespace=nowarn", "-"},
    "reset": {"-q", "--quiet", "--mixed", "--soft", "--keep"},
    "restore": {"--staged", "--worktree", "--source=", "-q"},
    "read-tree": {"-m", "--reset", "-u"},
    "write-tree": set(),
    "update-index": {"--refresh", "-q", "--really-refresh", "--force-remove", "-z", "--stdin"},
    "commit": {"-F", "--file=", "--amend", "--no-edit", "--cleanup=", "--allow-empty", "-q", "--quiet",
               "--no-verify", "-n", "--signoff", "--author=", "--date=", "--reset-author", "--dry-run",
               "--porcelain", "--only", "--allow-empty-message"},
    "log": _LOG_FORMAT,
    "rev-list": _LOG_FORMAT | {"--count", "--left-right", "--all", "--remotes", "--branches", "--not"},
    "rev-parse": {"--show-toplevel", "--git-dir", "--git-common-dir", "--git-path", "--verify", "-q",
                  "--quiet", "--abbrev-ref", "--symbolic-full-name", "--is-inside-work-tree",
                  "--is-bare-repository", "--short", "--show-prefix", "--absolute-git-dir"},
    "show": _LOG_FORMAT | _DIFF | {"--no-patch", "-s"},
    "cat-file": {"-t", "-s", "-p", "-e", "--batch-check"},
    "ls-files": {"-z", "--cached", "--others", "--exclude-standard", "--stage", "--deleted", "--modified",
                 "--unmerged", "--error-unmatch", "--full-name"},
    "ls-tree": {"-r", "-z", "-l", "--long", "--name-only", "--full-tree"},
    "ls-remote": {"--heads", "--tags", "--symref", "--exit-code", "--refs", "-q"},
    "for-each-ref": {"--format=", "--sort=", "--merged=", "--no-merged=", "--contains=", "--points-at=",
                     "--count="},
    "branch": {"--list", "--show-current", "--format=", "--sort=", "--merged", "--no-merged", "--contains",
               "-r", "--remotes", "-a", "--all", "-d", "--delete", "-D", "-m", "--move", "-M",
               "--set-upstream-to=", "--unset-upstream", "-v", "-vv", "--no-track", "--track"},
    "switch": {"-c", "--create", "-C", "--force-create", "--detach", "--no-guess", "--no-track", "-q",
               "--quiet", "--discard-changes"},
    "checkout": {"-b", "-B", "--detach", "-q", "--quiet", "--no-track"},
    "merge": {"--ff-only", "--no-ff", "--ff", "--abort", "--continue", "--no-edit", "--squash",
              "--no-commit", "-m", "--message=", "-q", "--quiet", "--no-verify"},
    "merge-base": {"--is-ancestor", "--fork-point", "--all"},
    "rebase": {"--abort", "--continue", "--skip", "--onto", "-q", "--quiet", "--no-autostash"},
    "stash": {"push", "pop", "apply", "list", "drop", "show", "-u", "--include-untracked", "-m",
              "--message=", "-q", "--quiet", "--staged", "--keep-index"},
    "fetch": {"--prune", "--dry-run", "--tags", "--no-tags", "-q", "--quiet", "--porcelain", "--all",
              "--no-recurse-submodules"},
    "pull": {"--ff-only", "--rebase", "--no-rebase", "-q", "--quiet", "--no-recurse-submodules"},
    "push": {"--force-with-lease", "--force-with-lease=", "--force-if-includes", "-u", "--set-upstream",
             "--delete", "-d", "--dry-run", "-n", "--porcelain", "--tags", "-q", "--quiet", "--atomic",
             "--no-verify", "--no-recurse-submodules"},
    "remote": {"-v", "--verbose", "get-url", "show", "add", "remove", "set-url", "-n"},
    "tag": {"--list", "-l", "-a", "-m", "-d", "--delete", "--points-at=", "--contains", "--sort="},
    "config": {"--get", "--get-all", "--get-regexp", "--local", "--bool", "--default=", "-z", "--null",
               "--list", "-l", "--show-origin"},
    "check-ref-format": {"--branch", "--normalize", "--allow-onelevel"},
    "check-ignore": {"-q", "--quiet", "-v", "--verbose", "-z", "--no-index", "--stdin"},
    "symbolic-ref": {"-q", "--quiet", "--short"},
    "hash-object": {"-w", "--stdin", "-t", "--path="},
    "init": {"-q", "--quiet", "--bare", "-b", "--initial-branch="},
    "worktree": {"list", "--porcelain"},
    "var": set(),
}.items()}

# Config switched off on every call: each of these can make git run a program of the repo's choosing.
_HARDENING = (
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=:",
    "sequence.editor=:",
    "protocol.ext.allow=never",
    "color.ui=false",
    "advice.detachedHead=false",
    "credential.interactive=false",
)
# Variables that would point git at another repository, index or program than the one we chose.
_DROPPED_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_EXTERNAL_DIFF", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_PAGER", "GIT_ASKPASS", "SSH_ASKPASS",
    "GIT_TRACE", "GIT_TRACE2", "GIT_TRACE2_EVENT", "GIT_PROXY_COMMAND",
)
_HOOK_NAME = re.compile(r"^[a-z][a-z-]*$")


class GitError(ToolError):
    """git failed, timed out or was asked for something we refuse; carries git's own words."""

    def __init__(self, code: ErrorCode, message: str, hint: str = "", *, returncode: int | None = None,
                 stderr: str = "", stdout: str = "") -> None:
        super().__init__(code, message, hint)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout


@dataclass(frozen=True)
class GitResult:
    """What git answered. `stdout` is empty when it went to a file (`stdout_to`)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def check_args(args: list[str]) -> None:
    """Refuse a subcommand or an option that is not allowed (see `ALLOWED`)."""
    if not args or args[0] not in ALLOWED:
        raise GitError("invalid_input", f"git subcommand {args[0] if args else '(none)'!r} is not allowed here.",
                       "Only the subcommands in engines.git.runner.ALLOWED run.")
    allowed = ALLOWED[args[0]]
    for arg in args[1:]:
        if arg == "--":
            break
        if "\0" in arg or ("\n" in arg and not arg.startswith("--format=")):
            raise GitError("invalid_input", "A git argument contains a NUL byte or a line break.", "Remove it.")
        if arg.startswith("-") and arg not in allowed and not any(
            opt.endswith("=") and arg.startswith(opt) for opt in allowed
        ):
            raise GitError("invalid_input", f"The option {arg!r} is not allowed for git {args[0]}.",
                           "Values that start with '-' are refused; pass paths after '--'.")


def check_ref_name(name: str, *, what: str = "branch") -> str:
    """`name` if it is a valid ref name (git check-ref-format rules) and not an option; else invalid_input."""
    problem = _ref_problem(name)
    if problem:
        raise GitError("invalid_input", f"{what} name {name!r} is not usable: {problem}.",
                       "Use letters, digits, '/', '-', '_' and '.', not starting with '-' or '.'.")
    return name


def _ref_problem(name: str) -> str:
    if not name:
        return "it is empty"
    if name.startswith("-"):
        return "it starts with '-' and would be read as an option"
    if name == "@" or "@{" in name:
        return "'@' alone and '@{' are reserved"
    if any(ord(c) < 0x20 or c == "\x7f" or c in " ~^:?*[\\" for c in name):
        return "it contains a space, a control character or one of ~^:?*[\\"
    if ".." in name or "//" in name or name.startswith("/") or name.endswith(("/", ".", ".lock")):
        return "it contains '..' or '//', or starts with '/' or ends with '/', '.' or '.lock'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "a component starts with '.' or ends with '.lock'"
    if len(name) > 255:
        return "it is longer than 255 characters"
    return ""


def check_pathspec(path: str, workspace: Path, repo: Path) -> str:
    """`path` as a literal pathspec relative to `repo`; refuses options and paths outside the
    workspace or the repository (symlinks resolved first, as `Workspace.resolve` does)."""
    if not path or path.startswith("-") or "\0" in path:
        raise GitError("invalid_input", f"Path {path!r} is empty, has a NUL byte or starts with '-'.",
                       "Give a path relative to the workspace; write ./-name for a file whose name starts with '-'.")
    raw = Path(path)
    target = raw if raw.is_absolute() else workspace / raw
    # Resolve the parent, not the leaf: a deleted file or a symlink is still a path git knows by name.
    parent = target.parent.resolve()
    full = parent / target.name if target.name not in ("", ".", "..") else target.resolve()
    root, top = workspace.resolve(), repo.resolve()
    for outer, label in ((root, "workspace"), (top, "repository")):
        if full != outer and outer not in full.parents:
            raise GitError("outside_workspace", f"The path {path!r} is outside the {label} {outer}.",
                           "Use a path inside the workspace's git repository.")
    rel = full.relative_to(top).as_posix()
    return rel or "."


def _hooks_dir(repo: Path, names: Collection[str], env: dict[str, str]) -> str:
    """A fresh folder holding links to exactly the named hooks of `repo` (others are not seen)."""
    for name in names:
        if not _HOOK_NAME.match(name):
            raise GitError("invalid_input", f"Hook name {name!r} is not valid.", "Name hooks like 'pre-commit'.")
    found = subprocess.run(["git", "-c", "core.fsmonitor=false", "rev-parse", "--git-path", "hooks"], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=30, check=False)
    source = (repo / found.stdout.strip()).resolve() if found.returncode == 0 else None
    folder = tempfile.mkdtemp(prefix="mlops-git-hooks-")
    for name in names:
        hook = source / name if source else None
        if hook is not None and hook.is_file() and os.access(hook, os.X_OK):
            os.symlink(hook, os.path.join(folder, name))
    return folder


def git_env(ceiling: Path | None = None) -> dict[str, str]:
    """The environment every git process gets: no prompts, C locale, literal pathspecs."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_LITERAL_PATHSPECS="1", GIT_OPTIONAL_LOCKS="0", LC_ALL="C",
               GIT_PAGER="cat", GIT_EDITOR=":", GCM_INTERACTIVE="never")
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling.resolve().parent)
    return env


def run_git(
    repo: Path,
    args: list[str],
    *,
    allow_hooks: Collection[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    check_cancelled: Callable[[], None] | None = None,
    check: bool = True,
    input_text: str | None = None,
    stdout_to: Path | None = None,
    max_output: int = MAX_OUTPUT,
    ceiling: Path | None = None,
) -> GitResult:
    """Run `git <args>` in `repo` under the rules above and return what it said.

    `allow_hooks` names the hooks that may run (none by default). `check` raises `GitError`
    (code `failed`, git's stderr in the message) on a non-zero exit. `check_cancelled` is called
    every 50 ms and may raise to stop git (its process group is killed). `ceiling` (the workspace
    root) stops repository discovery at it. `stdout_to` writes stdout to that file instead.
    """
    check_args(args)
    env = git_env(ceiling)
    hooks = _hooks_dir(repo, allow_hooks, env) if allow_hooks else os.devnull
    argv = ["git", "-c", f"core.hooksPath={hooks}"]
    for item in _HARDENING:
        argv += ["-c", item]
    # External diff drivers run programs: off for every command that prints a diff.
    argv += [args[0], "--no-ext-diff", *args[1:]] if args[0] in ("diff", "show", "log") else args
    try:
        return _run(argv, repo, env, timeout, check_cancelled, check, input_text, stdout_to, max_output, tuple(args))
    finally:
        if allow_hooks:
            shutil.rmtree(hooks, ignore_errors=True)


def _run(argv: list[str], repo: Path, env: dict[str, str], timeout: float, check_cancelled: Callable[[], None] | None,
         check: bool, input_text: str | None, stdout_to: Path | None, max_output: int, args: tuple[str, ...]) -> GitResult:
    # Output goes to files, not pipes: no deadlock on a big diff, and only `max_output` is read back.
    with tempfile.TemporaryFile() as err_file, tempfile.TemporaryFile() as in_file, \
            (open(stdout_to, "wb") if stdout_to else tempfile.TemporaryFile()) as out_file:  # noqa: SIM115
        if input_text is not None:
            in_file.write(input_text.encode())
            in_file.seek(0)
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv checked above, never a shell
                argv, cwd=repo, env=env, stdin=in_file if input_text is not None else subprocess.DEVNULL,
                stdout=out_file, stderr=err_file, start_new_session=True, close_fds=True,
            )
        except FileNotFoundError as exc:
            raise GitError("missing_dependency", "git is not installed (no `git` on PATH).",
                           "Install git (apt-get install git, brew install git).") from exc
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    if check_cancelled is not None:
                        check_cancelled()
                    if time.monotonic() > deadline:
                        raise GitError("failed", f"git {args[0]} took longer than {timeout:.0f} s and was stopped.",
                                       "Check for a slow remote or a hook waiting for input.") from None
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        stdout, cut_out = _read_bounded(out_file, max_output) if not stdout_to else ("", False)
        stderr, cut_err = _read_bounded(err_file, max_output)
    result = GitResult(args, proc.returncode, stdout, stderr, cut_out or cut_err)
    if check and not result.ok:
        raise GitError("failed", f"git {args[0]} failed (exit {proc.returncode}): {stderr.strip() or stdout.strip()}",
                       "Read git's message above; `status` shows the repository's state.",
                       returncode=proc.returncode, stderr=stderr, stdout=stdout)
    return result


def _read_bounded(handle: object, limit: int) -> tuple[str, bool]:
    handle.seek(0)  # type: ignore[attr-defined]
    data = handle.read(limit + 1)  # type: ignore[attr-defined]
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def repo_root(path: Path, workspace: Path, *, check_cancelled: Callable[[], None] | None = None) -> Path:
    """The top folder of the git repository holding `path`, which must be inside `workspace`
    (discovery does not climb above the workspace); not_found when there is none."""
    result = run_git(path, ["rev-parse", "--show-toplevel"], check=False, ceiling=workspace, timeout=30,
                     check_cancelled=check_cancelled)
    if not result.ok:
        raise GitError("not_found", f"No git repository at {path} inside the workspace.",
                       "Run `git init` in the project folder first, or pass its `repo` path.")
    top = Path(result.stdout.strip()).resolve()
    root = workspace.resolve()
    if top != root and root not in top.parents:
        raise GitError("outside_workspace", f"The repository {top} is outside the workspace {root}.",
                       "Start the server with --workspace on the repository's folder.")
    return top
