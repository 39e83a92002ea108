"""Run the runnable code blocks of a SKILL.md the way one person at one terminal would.

A fenced block whose info string is ``bash run`` (or ``sh run``) or ``python run`` is
runnable; every other block is illustrative. Blocks run in document order, in one
workspace folder:

* a bash block runs as ``bash -euo pipefail <script>``; on exit it dumps its exported
  environment (``env -0``) and its working directory, and the next block starts from
  both, so ``export X=...`` and ``cd sub`` carry over like in a terminal;
* a python block runs with this interpreter (``sys.executable``, the project's venv)
  from a temp file, with the accumulated environment, in the current directory; what
  it changes in ``os.environ`` or ``os.getcwd()`` does not carry over.

The folder holding ``sys.executable`` is put first on ``PATH`` so that ``python`` and
``mlflow`` inside bash blocks are the venv's. The scripts and dumps live in a private
temp folder, never in the workspace. The run stops at the first failing block.

See docs/runnable-procedures.md for the convention as documented for skill authors.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RUN_LANGS",
    "Block",
    "BlockResult",
    "ProcedureFailed",
    "check_results",
    "extract_runnable_blocks",
    "format_failure",
    "run_blocks",
    "run_procedure",
]

# Info-string language -> how the block is executed.
RUN_LANGS: dict[str, str] = {"bash": "bash", "sh": "bash", "python": "python", "py": "python"}
RUN_FLAG = "run"
DEFAULT_BLOCK_TIMEOUT = 300.0
TAIL_LINES = 30

# Variables that belong to the shell that ran a block, not to the next block.
_SHELL_ONLY_VARS = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "BASH_EXECUTION_STRING"})

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One runnable fenced block: its language (``bash`` or ``python``), code, and the
    1-based line of its opening fence in the markdown."""

    lang: str
    code: str
    line: int

    @property
    def first_line(self) -> str:
        for text in self.code.splitlines():
            if text.strip():
                return text.strip()
        return "(empty block)"


@dataclass
class BlockResult:
    """What happened when one block ran. ``index`` is 1-based among runnable blocks."""

    index: int
    block: Block
    returncode: int | None  # None: killed on timeout
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    env_after: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class ProcedureFailed(AssertionError):
    """A runnable block exited non-zero (or timed out)."""


def _fence_info(info: str) -> tuple[str, set[str]]:
    words = info.strip().split()
    if not words:
        return "", set()
    # Tolerate ```{python run} and ```python,run styles too.
    first = words[0].strip("{}").lower()
    lang, _, rest = first.partition(",")
    flags = {w.strip("{},").lower() for w in words[1:]}
    flags |= {w for w in rest.split(",") if w}
    return lang, flags


def extract_runnable_blocks(markdown: str) -> list[Block]:
    """Return the runnable blocks of `markdown`, in order.

    Follows CommonMark fences: a block opens with 3+ backticks or tildes and closes
    with a line holding only the same character, at least as many times. Indentation
    of the opening fence is removed from the block's lines (blocks inside list items).
    Blocks nested in a longer fence (e.g. a markdown example) are not runnable.
    """
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match or (match.group("fence")[0] == "`" and "`" in match.group("info")):
            i += 1
            continue
        indent = len(match.group("indent").expandtabs(4))
        fence = match.group("fence")
        lang, flags = _fence_info(match.group("info"))
        start_line = i + 1
        body: list[str] = []
        i += 1
        closer = re.compile(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        while i < len(lines) and not closer.match(lines[i]):
            text = lines[i]
            strip = min(indent, len(text) - len(text.lstrip(" ")))
            body.append(text[strip:])
            i += 1
        i += 1  # skip the closing fence (or run past the end: unclosed block)
        if RUN_FLAG in flags and lang in RUN_LANGS:
            blocks.append(Block(RUN_LANGS[lang], "\n".join(body) + "\n", start_line))
    return blocks


def _parse_env_dump(data: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in data.split(b"\0"):
        if not entry:
            continue
        key, sep, value = entry.decode("utf-8", "surrogateescape").partition("=")
        if sep and key and key not in _SHELL_ONLY_VARS and not key.startswith("BASH_FUNC_"):
            env[key] = value
    return env


def _with_venv_on_path(env: Mapping[str, str]) -> dict[str, str]:
    out = dict(env)
    bindir = str(Path(sys.executable).parent)
    parts = [p for p in out.get("PATH", os.defpath).split(os.pathsep) if p and p != bindir]
    out["PATH"] = os.pathsep.join([bindir, *parts])
    return out


def _bash_script(block: Block, env_dump: Path, cwd_dump: Path) -> str:
    # The EXIT trap records the environment even when the block calls `exit 0`.
    return (
        f"trap 'env -0 > {_sh_quote(env_dump)}; pwd > {_sh_quote(cwd_dump)}' EXIT\n"
        f"{block.code}"
    )


def _sh_quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _run(cmd: list[str], cwd: Path, env: Mapping[str, str], timeout: float
         ) -> tuple[int | None, str, str, bool]:
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), False
    except subprocess.TimeoutExpired:
        # Kill the whole group: a block may have started servers or workers.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace"), True


def run_blocks(
    blocks: list[Block],
    workdir: Path | str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_BLOCK_TIMEOUT,
    stop_on_failure: bool = True,
) -> list[BlockResult]:
    """Run `blocks` in order in `workdir` (created if missing) starting from `env`
    (default: this process's environment). Returns one result per block that ran."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    current_env = _with_venv_on_path(os.environ if env is None else env)
    cwd = workdir
    results: list[BlockResult] = []
    with tempfile.TemporaryDirectory(prefix="procedure-") as scratch_dir:
        scratch = Path(scratch_dir)
        for index, block in enumerate(blocks, start=1):
            script = scratch / f"block{index:02d}.{'sh' if block.lang == 'bash' else 'py'}"
            env_dump = scratch / f"block{index:02d}.env"
            cwd_dump = scratch / f"block{index:02d}.cwd"
            if block.lang == "bash":
                script.write_text(_bash_script(block, env_dump, cwd_dump))
                cmd = ["bash", "-euo", "pipefail", str(script)]
            else:
                script.write_text(block.code)
                cmd = [sys.executable, str(script)]
            started = time.monotonic()
            code, out, err, timed_out = _run(cmd, cwd, current_env, timeout)
            seconds = time.monotonic() - started
            if block.lang == "bash" and env_dump.exists():
                current_env = _with_venv_on_path(_parse_env_dump(env_dump.read_bytes()))
                new_cwd = Path(cwd_dump.read_text().strip()) if cwd_dump.exists() else cwd
                cwd = new_cwd if new_cwd.is_dir() else cwd
            result = BlockResult(index, block, code, out, err, seconds, timed_out,
                                 dict(current_env))
            results.append(result)
            if not result.ok and stop_on_failure:
                break
    return results


def run_procedure(
    skill_md_path: Path | str,
    workdir: Path | str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_BLOCK_TIMEOUT,
) -> list[BlockResult]:
    """Run every runnable block of the SKILL.md at `skill_md_path` in `workdir`.

    Stops at the first failing block; check ``all(r.ok for r in results)`` or call
    :func:`format_failure` on the last result.
    """
    blocks = extract_runnable_blocks(Path(skill_md_path).read_text(encoding="utf-8"))
    return run_blocks(blocks, workdir, env, timeout=timeout)


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(empty)"


def format_failure(skill: str, result: BlockResult) -> str:
    """A failure message naming the skill, the block number, its first line and the
    tail of its output."""
    status = (f"timed out after {result.seconds:.0f} s" if result.timed_out
              else f"exited with code {result.returncode}")
    return (
        f"{skill}: runnable block {result.index} ({result.block.lang}, SKILL.md line "
        f"{result.block.line}) {status}\n"
        f"  first line: {result.block.first_line}\n"
        f"--- stdout (last {TAIL_LINES} lines) ---\n{_tail(result.stdout)}\n"
        f"--- stderr (last {TAIL_LINES} lines) ---\n{_tail(result.stderr)}"
    )


def check_results(skill: str, results: list[BlockResult]) -> None:
    """Raise :class:`ProcedureFailed` if any block failed."""
    for result in results:
        if not result.ok:
            raise ProcedureFailed(format_failure(skill, result))
