"""The workspace root, and the only way a tool turns a user-given path into a real one."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

from mlops_engineer.errors import ToolError

# Our own state (embedded MLflow store, render manifest, large results) lives here.
STATE_DIR = ".mlops"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")

# The cancellation check of the tool call running in this thread (set by `runtime.execute`):
# every write through this module asks it first, so a cancelled call writes nothing more.
_before_write: ContextVar[Callable[[], None] | None] = ContextVar("mlops_engineer_before_write", default=None)


@contextlib.contextmanager
def writes_checked_by(check: Callable[[], None]) -> Iterator[None]:
    """Within the block, `check()` runs before each write (and raises to refuse it)."""
    token = _before_write.set(check)
    try:
        yield
    finally:
        _before_write.reset(token)


def check_before_write() -> None:
    """Raise if the current call may not write any more (it was cancelled)."""
    check = _before_write.get()
    if check is not None:
        check()


class Workspace:
    """A directory that every file a tool reads or writes must stay inside."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def resolve(self, path: str | Path, *, must_exist: bool = False) -> Path:
        """Resolve `path` (relative to the root, or absolute inside it); refuse anything outside.

        Symlinks are followed before the check, so a link that points out of the
        workspace is refused just like `../..`.
        """
        raw = Path(path).expanduser()
        candidate = (raw if raw.is_absolute() else self.root / raw).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise ToolError(
                "outside_workspace",
                f"The path '{path}' resolves outside the workspace {self.root}.",
                "Use a path inside the workspace, or start the server with --workspace pointing at a "
                "folder that contains it.",
            )
        if must_exist and not candidate.exists():
            raise ToolError(
                "not_found",
                f"The path '{path}' does not exist in the workspace {self.root}.",
                "Check the spelling; paths are relative to the workspace root.",
            )
        return candidate

    def uri_path(self, uri: str) -> Path | None:
        """The local file a store URI names, confined like every other path; None when the URI
        names no local file (http, postgresql, s3, ..., or an in-memory SQLite database).

        Local URIs are `sqlite:///rel.db` and `sqlite:////abs.db` (any `sqlite+driver`),
        `file:rel`, `file:///abs` and a bare path. A relative one resolves against the
        workspace root, never the server's working folder; one that lands outside is refused
        with `outside_workspace`.
        """
        match = _SCHEME.match(uri)
        if match is None or len(match["scheme"]) == 1:  # no scheme (or a Windows drive): a path
            return self.resolve(uri)
        scheme, rest = match["scheme"].lower(), uri[match.end():]
        if scheme == "sqlite" or scheme.startswith("sqlite+"):
            return self._sqlite_path(uri, rest)
        if scheme == "file":
            if rest.startswith("//"):
                host, _, path = rest[2:].partition("/")
                if host not in ("", "localhost"):
                    raise _bad_uri(uri, "names another host", "Use file:///<path in the workspace>.")
                rest = "/" + path
            return self.resolve(unquote(rest.split("?", 1)[0].split("#", 1)[0]))
        return None

    def _sqlite_path(self, uri: str, rest: str) -> Path | None:
        # SQLAlchemy's form: sqlite://<host>/<database>?<query>, the database percent-decoded.
        if not rest.startswith("//"):
            raise _bad_uri(uri, "is not a SQLAlchemy URL", "Write sqlite:///<relative path> or sqlite:////<absolute path>.")
        host, _, database = rest[2:].partition("/")
        database, _, query = database.partition("?")
        if host:
            raise _bad_uri(uri, "names a host", "Write sqlite:///<relative path> or sqlite:////<absolute path>.")
        if any(k.lower() == "uri" for k, _ in parse_qsl(query)):
            # `uri=true` makes SQLite read the database as a file: URI of its own, unchecked.
            raise _bad_uri(uri, "uses the uri parameter", "Drop ?uri=...; give the database as a path.")
        database = unquote(database)
        if database in ("", ":memory:"):
            return None
        return self.resolve(database)

    def resolve_uri(self, uri: str) -> str:
        """`uri` with its local file (see `uri_path`) made absolute and confined to the workspace;
        a URI that names no local file comes back unchanged."""
        path = self.uri_path(uri)
        if path is None:
            return uri
        match = _SCHEME.match(uri)
        scheme = match["scheme"] if match and len(match["scheme"]) > 1 else ""
        if scheme.lower().startswith("sqlite"):
            query = uri.partition("?")[2]
            return f"{scheme}:///{quote(str(path))}" + (f"?{query}" if query else "")
        if scheme.lower() == "file":
            return path.as_uri()
        return str(path)

    def relative(self, path: Path) -> str:
        """The path as the user sees it: relative to the root, with forward slashes."""
        return path.resolve().relative_to(self.root).as_posix()

    def write_bytes(self, path: str | Path, data: bytes) -> Path:
        return atomic_write_bytes(self.resolve(path), data)

    def write_text(self, path: str | Path, text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))


def _bad_uri(uri: str, why: str, hint: str) -> ToolError:
    return ToolError("invalid_input", f"The URI '{uri}' {why}.", hint)  # ToolError redacts it


def atomic_write_bytes(target: Path, data: bytes) -> Path:
    """Write atomically: a reader sees the old file or the new one, never half of it.

    A cancelled call writes nothing: the check runs before the write and again before the
    new file replaces the old one.
    """
    check_before_write()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o644)
        check_before_write()
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
