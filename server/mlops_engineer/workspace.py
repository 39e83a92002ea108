"""The workspace root, and the only way a tool turns a user-given path into a real one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from mlops_engineer.errors import ToolError

# Our own state (embedded MLflow store, render manifest, large results) lives here.
STATE_DIR = ".mlops"

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

    def relative(self, path: Path) -> str:
        """The path as the user sees it: relative to the root, with forward slashes."""
        return path.resolve().relative_to(self.root).as_posix()

    def write_bytes(self, path: str | Path, data: bytes) -> Path:
        return atomic_write_bytes(self.resolve(path), data)

    def write_text(self, path: str | Path, text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))


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
