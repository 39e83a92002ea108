"""DVC through its Python API (`dvc.repo.Repo`): opening a project quietly, remotes with
credentials kept in `.dvc/config.local`, git commits of DVC metadata, stage output kept
off stdout, and `gc` listings.

DVC is imported lazily (`import_optional`), and on import it installs logging handlers
that print to stdout; stdout is the MCP transport here, so `load()` removes them.
DVC's usage analytics are sent only by its command line (`dvc.cli.main`), never by
`Repo`; `DVC_NO_ANALYTICS=1` is set anyway for any `dvc` process started from here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.redact import has_credentials, redact_text, without_credentials
from mlops_engineer.workspace import Workspace

if TYPE_CHECKING:
    from dvc.repo import Repo

EXTRA = "data"
DEFAULT_LOCAL_REMOTE = ".mlops/dvc-remote"
DEFAULT_REMOTE_NAME = "local"

# Remote kinds we configure: URL scheme -> kind ("" is a plain local path).
SCHEMES = {"s3": "s3", "gs": "gs", "azure": "azure", "ssh": "ssh"}
# Options that may go to the committed `.dvc/config`.
OPTIONS: dict[str, frozenset[str]] = {
    "local": frozenset(),
    "s3": frozenset({"endpointurl", "region", "profile", "use_ssl", "ssl_verify", "sse", "acl", "read_timeout", "connect_timeout"}),
    "gs": frozenset({"projectname", "endpointurl"}),
    "azure": frozenset({"account_name", "tenant_id", "client_id", "timeout"}),
    "ssh": frozenset({"port", "user", "timeout", "allow_agent"}),
}
# Credentials: written only to the git-ignored `.dvc/config.local`, never returned.
CREDENTIALS: dict[str, frozenset[str]] = {
    "local": frozenset(),
    "s3": frozenset({"access_key_id", "secret_access_key", "session_token", "credentialpath", "sse_customer_key"}),
    "gs": frozenset({"credentialpath"}),
    "azure": frozenset({"connection_string", "sas_token", "account_key", "client_secret"}),
    "ssh": frozenset({"password", "passphrase", "keyfile"}),
}
# The DVC plugin each kind needs on top of `dvc` itself.
PLUGINS = {"s3": "dvc-s3", "gs": "dvc-gs", "azure": "dvc-azure", "ssh": "dvc-ssh"}

_quieted = False
_CWD_LOCK = threading.RLock()
# The cancellation check of the DVC call in progress. DVC calls run one at a time in this
# process (under _CWD_LOCK), so one slot is enough; DVC's transfer threads see it too.
_cancel_check: Callable[[], None] | None = None


def load() -> Any:
    """Import `dvc.repo` (or explain the extra) with DVC's stdout log handlers removed."""
    global _quieted
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    module = import_optional("dvc.repo", EXTRA)
    if not _quieted:
        dvc_logger = logging.getLogger("dvc")
        for handler in list(dvc_logger.handlers):
            dvc_logger.removeHandler(handler)
        # WARNING and up still reach our stderr log through the root logger.
        dvc_logger.setLevel(logging.WARNING)
        dvc_logger.propagate = True
        _add_cancellation_points()
        _quieted = True
    return module


def _add_cancellation_points() -> None:
    """Let a cancelled call stop DVC between chunks of a long hash or copy.

    DVC hashes a file through `dvc_data`'s `HashStreamFile.read` and copies it into the cache
    with `dvc_objects.fs.local.copyfile`, which hands any file under 1 GB to the kernel in one
    call; neither can be interrupted from outside. Both are DVC's own (nothing else in the
    process uses them), so while a call with a cancellation check runs, reads check it and
    large copies go in chunks that check it. A copy stopped midway leaves DVC's temporary file,
    which `remove_partial_files` removes.
    """
    import dvc_objects.fs.local as local_fs
    from dvc_data.hashfile.hash import HashStreamFile

    original_read = HashStreamFile.read

    def read(self: Any, n: int = -1) -> bytes:
        _checkpoint()
        return original_read(self, n)  # type: ignore[no-any-return]

    HashStreamFile.read = read  # type: ignore[method-assign]

    original_copy = local_fs.copyfile

    def copyfile(src: str, dest: str, callback: Any = None) -> None:
        kwargs = {} if callback is None else {"callback": callback}
        if _cancel_check is None or os.path.getsize(src) < CHUNKED_COPY_MIN:
            return original_copy(src, dest, **kwargs)  # type: ignore[no-any-return]
        if os.path.isdir(dest):
            dest = os.path.join(dest, os.path.basename(src))
        try:
            local_fs.system.reflink(src, dest)  # a clone is instant: nothing to interrupt
            return None
        except OSError:
            pass
        with open(src, "rb") as source, open(dest, "wb") as target:
            for chunk in iter(lambda: source.read(COPY_CHUNK), b""):
                _checkpoint()
                target.write(chunk)
                if callback is not None:
                    callback.relative_update(len(chunk))
        _checkpoint()
        return None

    local_fs.copyfile = copyfile


CHUNKED_COPY_MIN = 16 << 20
COPY_CHUNK = 8 << 20


class CallCancelled(BaseException):
    """Stops DVC midway when the call is cancelled. A BaseException: DVC's transfer catches
    `Exception`, logs "failed to transfer" and carries on (then tries to check the file out)."""


def _checkpoint() -> None:
    check = _cancel_check
    if check is None:
        return
    try:
        check()
    except ToolError as exc:
        raise CallCancelled(exc.message) from exc


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.git`, if any."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def is_dvc_project(root: Path) -> bool:
    return (root / ".dvc").is_dir()


@contextmanager
def translate_errors() -> Iterator[None]:
    """DVC's expected failures as ToolErrors with a hint; anything else passes through."""
    load()
    from dvc.config import NoRemoteError
    from dvc.exceptions import CheckoutError, DownloadError, NotDvcRepoError, UploadError
    from dvc.fs import AuthError, RemoteMissingDepsError
    from scmrepo.exceptions import RevError

    try:
        yield
    except ToolError:
        raise
    except CallCancelled as exc:
        raise ToolError("cancelled", "The call was cancelled by the client while DVC worked; the file in progress was not kept.") from exc
    except NoRemoteError as exc:
        raise ToolError("invalid_input", f"No DVC remote to use: {exc}", "Configure one with action add_remote (or init, which adds a local remote).") from exc
    except RemoteMissingDepsError as exc:
        raise ToolError("missing_dependency", str(exc), "Install the DVC plugin for this remote, e.g. pip install dvc-gs / dvc-azure / dvc-ssh.") from exc
    except AuthError as exc:
        raise ToolError("backend_unreachable", redact_text(f"The remote refused the credentials: {exc}"), "Check the credentials given to add_remote (kept in .dvc/config.local).") from exc
    except (UploadError, DownloadError) as exc:
        raise ToolError(
            "backend_unreachable", redact_text(f"DVC could not transfer every file: {exc}"),
            "Check that the remote is reachable and the credentials in .dvc/config.local are right, then run the action again; finished files are kept.",
        ) from exc
    except CheckoutError as exc:
        raise ToolError("conflict", redact_text(str(exc)), "Push or commit your changes first, or pass confirm=true to overwrite them.") from exc
    except RevError as exc:
        raise ToolError("not_found", str(exc), "Give a git revision that exists: a commit hash, branch or tag (git log --oneline).") from exc
    except NotDvcRepoError as exc:
        raise ToolError("not_found", str(exc), "Run action init first.") from exc


@contextmanager
def open_repo(root: Path, check_cancelled: Callable[[], None] | None = None) -> Iterator[Repo]:
    """The DVC project at the workspace root, closed afterwards; errors translated.

    With `check_cancelled`, DVC's long copies and hashes stop between chunks once the call is
    cancelled (the ToolError it raises comes out as it is).
    """
    global _cancel_check
    repo_module = load()
    if not is_dvc_project(root):
        raise ToolError("not_found", f"{root} is not a DVC project (no .dvc folder).", "Run action init first.")
    with _in_project(root), translate_errors():
        repo = repo_module.Repo(str(root))
        previous, _cancel_check = _cancel_check, check_cancelled or _cancel_check
        try:
            yield repo
        finally:
            _cancel_check = previous
            repo.close()


@contextmanager
def _in_project(root: Path) -> Iterator[None]:
    """Run DVC as its command line would, and keep its files in the workspace.

    DVC resolves some paths (stage cache, targets) against the current directory, so we
    enter the project, one project at a time. Its per-project index ("site cache") would
    go to /var/tmp/dvc; DVC_SITE_CACHE_DIR keeps it in the git-ignored .dvc/tmp instead,
    unless the user chose a place.
    """
    with _CWD_LOCK, contextlib.chdir(root):
        chosen = os.environ.get("DVC_SITE_CACHE_DIR")
        if chosen is None:
            os.environ["DVC_SITE_CACHE_DIR"] = str(root / ".dvc" / "tmp" / "site-cache")
        try:
            yield
        finally:
            if chosen is None:
                os.environ.pop("DVC_SITE_CACHE_DIR", None)


def ignore_rule(top: Path, path: Path) -> str | None:
    """Why the git repository at `top` ignores `path`: its rule as `source:line:pattern`
    (from `git check-ignore -v`), "ignored" when git is not on PATH to name it, or None
    when the path is not ignored.

    The yes/no comes from scmrepo, the check `dvc init` itself makes before it refuses
    ("... is ignored by your SCM tool"), so we refuse exactly when DVC would.
    """
    load()
    from scmrepo.git import Git

    scm = Git(str(top))
    try:
        if not scm.is_ignored(str(path)):
            return None
    finally:
        scm.close()
    try:
        done = subprocess.run(["git", "-C", str(top), "check-ignore", "-v", "--", str(path)], capture_output=True, text=True, check=False)
    except OSError:
        return "ignored"
    return done.stdout.split("\t", 1)[0].strip() or "ignored"


def init(root: Path, *, git_init: bool) -> None:
    """`git init` (when asked: the workspace becomes its own repository) and `dvc init`,
    in a sub-folder of a bigger git repository if the workspace is not its own."""
    repo_module = load()
    from scmrepo.git import Git

    if git_init:
        Git.init(str(root)).close()
    top = git_root(root)
    if top is None:
        raise AssertionError("the caller checks for git first")
    with _in_project(root), translate_errors():
        repo = repo_module.Repo.init(str(root), subdir=top != root)
        repo.close()


# ---------------------------------------------------------------- crash leftovers

# DVC writes a file as `<folder>/.<22 url-safe characters>.tmp` and renames it when complete
# (dvc_objects.fs.utils.tmp_fname); a process killed meanwhile leaves the partial file behind.
_PARTIAL = re.compile(r"^(.+)?\.[A-Za-z0-9_-]{22}\.tmp$")
# A cache outside the project may be shared with other projects, whose DVC we cannot lock out:
# there only files nobody has written to for this long are taken to be abandoned.
SHARED_CACHE_AGE_S = 3600


def remove_partial_files(repo: Repo, near: list[Path]) -> list[str]:
    """Remove the partial files a killed DVC call left in the cache (and beside `near`, where a
    checkout writes); one line saying what was removed, or nothing.

    Holds DVC's own repository lock, so no DVC process of this project is writing meanwhile.
    """
    from dvc.repo import lock_repo

    cache = Path(repo.cache.local_cache_dir)
    root = Path(repo.root_dir)
    own_cache = root in cache.parents
    found: list[Path] = []
    with lock_repo(repo):
        if cache.is_dir():
            cutoff = time.time() - SHARED_CACHE_AGE_S
            found += [p for p in cache.rglob("*.tmp")
                      if _PARTIAL.match(p.name) and p.is_file() and (own_cache or p.stat().st_mtime < cutoff)]
        for path in near:
            folders = [path.parent] + ([path] if path.is_dir() else [])
            for folder in folders:
                pattern = folder.rglob("*.tmp") if folder == path else folder.glob("*.tmp")
                found += [p for p in pattern if _PARTIAL.match(p.name) and p.is_file() and not p.is_symlink()]
        size = 0
        removed = 0
        for partial in dict.fromkeys(found):
            with contextlib.suppress(FileNotFoundError):
                size += partial.stat().st_size
                partial.unlink()
                removed += 1
    if not removed:
        return []
    return [f"removed {removed} partial file(s) ({size / 1e6:.1f} MB) that an interrupted DVC call left in the cache or beside the data"]


# ---------------------------------------------------------------- remotes


@dataclass(frozen=True)
class RemoteUrl:
    kind: str  # local | s3 | gs | azure | ssh
    url: str  # as given (a local path made absolute; relative to .dvc/ once written)
    display: str

    @property
    def committed(self) -> str:
        """What `.dvc/config` (in git) may hold: the URL without userinfo or secret parameters.
        An ssh login name stays: it is the `user` option, not a secret."""
        if self.kind == "local" or (self.kind == "ssh" and not _secret_beyond_user(self.url)):
            return self.url
        return without_credentials(self.url)


def _secret_beyond_user(url: str) -> bool:
    parts = urlsplit(url)
    return parts.password is not None or has_credentials(parts._replace(netloc=parts.hostname or "").geturl())


def parse_remote_url(url: str, workspace: Workspace) -> RemoteUrl:
    """Check a remote URL before anything is written: supported scheme, no inline password,
    and a local remote inside the workspace."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if match:
        scheme = match.group(1).lower()
        if scheme not in SCHEMES:
            raise ToolError(
                "invalid_input",
                f"Unsupported remote URL scheme '{scheme}://' in '{redact_text(url)}'.",
                "Use a local folder inside the workspace (e.g. .mlops/dvc-remote), or s3://bucket/path, "
                "gs://bucket/path, azure://container/path, ssh://user@host/path.",
            )
        parts = urlsplit(url)
        if parts.password:
            raise ToolError(
                "invalid_input", f"The remote URL '{redact_text(url)}' carries a password.",
                "Remove it from the URL and pass it as credentials.password (kept in .dvc/config.local).",
            )
        if not parts.netloc:
            raise ToolError("invalid_input", f"The remote URL '{url}' has no bucket, container or host.", "e.g. s3://my-bucket/dvc")
        return RemoteUrl(kind=SCHEMES[scheme], url=url, display=redact_text(url))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url) and not re.match(r"^[A-Za-z]:[\\/]", url):
        raise ToolError("invalid_input", f"Unsupported remote URL '{url}'.", "Use a local folder path or one of s3://, gs://, azure://, ssh://.")
    path = workspace.resolve(url)
    return RemoteUrl(kind="local", url=str(path), display=workspace.relative(path))


@dataclass
class RemoteChange:
    name: str
    kind: str
    url: str
    default: bool
    options: dict[str, Any]
    credentials_set: list[str]
    changed: bool


def remotes(repo: Repo) -> dict[str, dict[str, Any]]:
    """Configured remotes with their committed options only (no credentials)."""
    conf = repo.config.read("repo")
    return {name: dict(value) for name, value in conf.get("remote", {}).items()}


def default_remote(repo: Repo) -> str | None:
    return repo.config["core"].get("remote")


def confine_remote(repo: Repo, name: str, workspace: Workspace) -> None:
    """A local remote must be a folder inside the workspace, whoever configured it: a hand-edited
    `.dvc/config` (or config.local) may point anywhere, and push, pull and gc write or read there."""
    url = str(repo.config["remote"].get(name, {}).get("url", ""))  # DVC makes local paths absolute
    if not url or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        return
    try:
        workspace.resolve(url)
    except ToolError as exc:
        raise ToolError(
            "outside_workspace", f"The DVC remote '{name}' is the folder {url}, outside the workspace {workspace.root}.",
            f"Point it at a folder inside the workspace: action add_remote with name '{name}' and url .mlops/dvc-remote "
            "(or any workspace folder); or use a cloud remote (s3://, gs://, azure://, ssh://).",
        ) from exc


def configure_remote(
    repo: Repo, name: str, url: RemoteUrl, options: dict[str, Any], credentials: dict[str, str], *, default: bool
) -> RemoteChange:
    """Add or update a remote: URL and options in .dvc/config, credentials in .dvc/config.local.

    A credential inside a value (the userinfo or a `?sig=`/`?token=` parameter of the URL, an
    `endpointurl=http://AK:PW@host`) never reaches the committed file either: `.dvc/config`
    gets the value without it, and `.dvc/config.local` the whole value, which DVC reads over it.
    Writes only what differs, so the same call twice changes nothing the second time.
    """
    from dvc.config_schema import RelPath

    kind = url.kind
    committed = {"url": url.committed, **committed_options(options)}
    overrides = {k: v for k, v in [("url", url.url), *options.items()] if k in values_with_credentials(url, options)}
    local_wanted = {**credentials, **overrides}
    secrets = set(local_wanted)
    repo_conf = repo.config.read("repo")
    local_conf = repo.config.read("local")
    current = dict(repo_conf.get("remote", {}).get(name, {}))
    current_secret = dict(local_conf.get("remote", {}).get(name, {}))
    stale = {k for k in current_secret if k not in CREDENTIALS[kind] and k not in local_wanted}  # old overrides
    stored_url = RelPath(url.url) if kind == "local" else committed["url"]
    shown_current = dict(current)
    if kind == "local" and "url" in shown_current:
        shown_current["url"] = str((Path(repo.dvc_dir) / shown_current["url"]).resolve())
    # A secret someone put in git: a credential option, or a value carrying one.
    leaked = sorted(k for k, v in current.items() if k in CREDENTIALS[kind] or (isinstance(v, str) and kind != "local" and _committable(v) != v))
    repo_changed = (
        any(shown_current.get(k) != v for k, v in committed.items())
        or bool(leaked)
        or (default and repo_conf.get("core", {}).get("remote") != name)
    )
    local_changed = any(current_secret.get(k) != v for k, v in local_wanted.items()) or bool(stale)

    if repo_changed:
        with repo.config.edit("repo") as conf:
            section = {k: v for k, v in conf["remote"].get(name, {}).items() if k not in CREDENTIALS[kind] and k not in leaked}
            section.update(committed)
            section["url"] = stored_url
            conf["remote"][name] = section
            if default:
                conf["core"]["remote"] = name
    if local_changed:
        with repo.config.edit("local") as conf:
            section = {k: v for k, v in conf["remote"].get(name, {}).items() if k not in stale}
            section.update(local_wanted)
            conf["remote"][name] = section
    if kind == "local":
        ensure_git_ignored(repo, Path(url.url))
    return RemoteChange(
        name=name, kind=url.kind, url=url.display, default=default or default_remote(repo) == name,
        options=committed_options(options), credentials_set=sorted(secrets | (set(current_secret) - stale)),
        changed=repo_changed or local_changed,
    )


def _committable(value: Any) -> Any:
    """A value as `.dvc/config` may hold it: a URL without its credentials."""
    return without_credentials(value) if isinstance(value, str) and "://" in value else value


def committed_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: _committable(v) for k, v in options.items()}


def values_with_credentials(url: RemoteUrl, options: dict[str, Any]) -> list[str]:
    """The settings (`url`, option names) whose value carries a credential, kept whole in .dvc/config.local."""
    return [k for k, v in [("url", url.url), *options.items()] if (url.committed if k == "url" else _committable(v)) != v]


def ensure_git_ignored(repo: Repo, path: Path) -> None:
    """A local remote inside the project must not end up in git."""
    scm = repo.scm
    if not hasattr(scm, "ignore"):
        return
    path.mkdir(parents=True, exist_ok=True)
    if not scm.is_ignored(str(path)):
        scm.ignore(str(path))


# ---------------------------------------------------------------- git


def commit_paths(repo: Repo, paths: list[str], message: str) -> str | None:
    """Stage `paths` (DVC metadata) and commit them; None when nothing changed."""
    scm = repo.scm
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        return None
    scm.add(existing)
    staged, _, _ = scm.status(untracked_files="no")
    if not any(staged.values()):
        return None
    env = _git_identity_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # only when git has no identity configured
    try:
        scm.commit(message)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return str(scm.get_rev())


def _git_identity_env() -> dict[str, str]:
    try:
        email = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        email = ""
    if email or os.environ.get("GIT_AUTHOR_EMAIL"):
        return {}
    return {
        "GIT_AUTHOR_NAME": "mlops-engineer", "GIT_AUTHOR_EMAIL": "mlops-engineer@localhost",
        "GIT_COMMITTER_NAME": "mlops-engineer", "GIT_COMMITTER_EMAIL": "mlops-engineer@localhost",
    }


def file_at_revision(repo: Repo, rev: str, path: Path) -> str | None:
    """The text of workspace file `path` at git revision `rev`, or None if it did not exist there."""
    scm = repo.scm
    rel = os.path.relpath(path, scm.root_dir).replace(os.sep, "/")
    fs = scm.get_fs(rev)
    try:
        return fs.read_text(rel)
    except FileNotFoundError:
        return None


def dvc_files_at_revision(repo: Repo, rev: str, root: Path) -> list[Path]:
    """Every `.dvc` file (and dvc.lock) under the project at `rev`."""
    scm = repo.scm
    base = os.path.relpath(root, scm.root_dir).replace(os.sep, "/")
    base = "" if base == "." else base
    fs = scm.get_fs(rev)
    found = []
    for path in fs.find("/" + base if base else "/"):
        rel = path.lstrip("/")
        if rel.endswith(".dvc") or rel == posix_join(base, "dvc.lock"):
            found.append(Path(scm.root_dir) / rel)
    return sorted(found)


def posix_join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


# ---------------------------------------------------------------- repro and gc


@contextmanager
def stage_output_to(log_path: Path) -> Iterator[None]:
    """Send the stdout/stderr of stage commands to `log_path` instead of our stdout, and make
    them stoppable: a cancelled call kills the running command's process group.

    DVC starts each stage command with `subprocess.Popen(**prepare_kwargs(...))` and no
    stdout, so the command would inherit ours (the MCP stdio stream); then it waits in
    `communicate()`, which nothing interrupts. We wrap `dvc.stage.run.prepare_kwargs` (own
    session, our log) and give `dvc.stage.run` a `Popen` whose wait checks for cancellation,
    for the duration of the call (DVC calls run one at a time: `_CWD_LOCK`).
    """
    import types

    import dvc.stage.run as stage_run

    original = stage_run.prepare_kwargs
    original_subprocess = stage_run.subprocess
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:

        def prepare(stage: Any, run_env: Any = None) -> dict[str, Any]:
            kwargs = original(stage, run_env=run_env)
            kwargs.update(stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            kwargs["env"]["DVC_NO_ANALYTICS"] = "1"
            return kwargs

        stage_run.prepare_kwargs = prepare
        stage_run.subprocess = types.SimpleNamespace(**{**vars(subprocess), "Popen": _StoppablePopen})  # type: ignore[assignment]
        try:
            yield
        finally:
            stage_run.prepare_kwargs = original
            stage_run.subprocess = original_subprocess


class _StoppablePopen(subprocess.Popen):  # type: ignore[type-arg]
    """A stage command's process, whose wait for it ends (killing its group) when the call is cancelled."""

    def communicate(self, input: Any = None, timeout: float | None = None) -> Any:  # noqa: A002 - Popen's name
        if timeout is not None:
            return super().communicate(input, timeout)
        while True:
            try:
                return super().communicate(input, timeout=0.2)
            except subprocess.TimeoutExpired:
                input = None  # already sent
            try:
                _checkpoint()
            except CallCancelled:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.wait()
                raise


def gc_candidates(repo: Repo, **scope: Any) -> list[str]:
    """What `dvc gc` with this scope would remove from the cache, as object ids (dry run)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Removing "):
                records.append(record.getMessage()[len("Removing "):])

    gc_logger = logging.getLogger("dvc_data.hashfile.gc")
    handler, level, propagate = Collect(), gc_logger.level, gc_logger.propagate
    gc_logger.addHandler(handler)
    gc_logger.setLevel(logging.INFO)
    gc_logger.propagate = False
    try:
        repo.gc(dry=True, **scope)
    finally:
        gc_logger.removeHandler(handler)
        gc_logger.setLevel(level)
        gc_logger.propagate = propagate
    return sorted({_object_id(p) for p in records})


def _object_id(path: str) -> str:
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return parts[-2] + parts[-1] if len(parts) >= 2 and len(parts[-2]) == 2 else parts[-1]
