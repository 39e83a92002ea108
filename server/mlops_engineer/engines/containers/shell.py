"""Just enough shell reading for Dockerfile rules: the simple commands of a RUN script.

A RUN line is split on `&&`, `||`, `;`, `|`, `&` and newlines into commands (word lists with
quotes removed); leading `VAR=value` assignments and `sudo`/`env`/`exec`/`time` wrappers are
dropped, so `PIP_X=1 sudo python -m pip install x` reads as `pip install x`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

_SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "|&", "(", ")", "{", "}"}
_WRAPPERS = {"sudo", "env", "exec", "time", "nice", "nohup", "xargs", "command"}


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # as written, without leading assignments and wrappers
    assignments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The program's base name (`/usr/bin/pip3` -> `pip3`)."""
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    def flag(self, *names: str) -> bool:
        """Any of `names` given as an option (`--no-cache-dir`, `-y`, or `--opt=value`)."""
        return any(w in names or w.split("=", 1)[0] in names for w in self.words)

    def text(self) -> str:
        return " ".join(self.words)


def commands(script: str) -> list[Command]:
    """The simple commands of a shell script, in order. Unbalanced quotes fall back to a
    whitespace split of the line, so a rule still sees the words."""
    out: list[Command] = []
    for line in _logical_lines(script):
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|(){}")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            tokens = line.split()
        current: list[str] = []
        for token in tokens:
            if token in _SEPARATORS:
                _emit(current, out)
                current = []
            else:
                current.append(token)
        _emit(current, out)
    return out


def _logical_lines(script: str) -> list[str]:
    # A backslash-newline continues a line; heredoc bodies arrive as plain lines.
    return script.replace("\\\n", " ").splitlines()


def _emit(words: list[str], out: list[Command]) -> None:
    assignments: list[str] = []
    while words and "=" in words[0] and not words[0].startswith(("-", "=")) and words[0].split("=", 1)[0].isidentifier():
        assignments.append(words.pop(0))
    while words and words[0].rsplit("/", 1)[-1] in _WRAPPERS:
        wrapper = words.pop(0).rsplit("/", 1)[-1]
        # `sudo -u x`, `env -i`: drop the wrapper's own options and assignments too.
        while words and (words[0].startswith("-") or (wrapper == "env" and "=" in words[0])):
            if wrapper == "env" and "=" in words[0] and not words[0].startswith("-"):
                assignments.append(words.pop(0))
                continue
            option = words.pop(0)
            if wrapper == "sudo" and option in {"-u", "-g"} and words:
                words.pop(0)
    if words:
        out.append(Command(words=tuple(words), assignments=tuple(assignments)))


def pip_install(cmd: Command) -> bool:
    """`pip install`, `pip3 install`, `pip --opt install`, `python -m pip install` (not pipx/pipenv)."""
    words = cmd.words
    name = cmd.name
    if name.startswith("pip") and not name.startswith(("pipx", "pipenv")):
        return "install" in words[1:]
    if name.startswith("python"):
        args = list(words[1:])
        for i in range(len(args) - 2):
            if args[i] == "-m" and args[i + 1] in {"pip", "pip3"} and args[i + 2] == "install":
                return True
    return False


def uv_install(cmd: Command) -> bool:
    """`uv pip install`, `uv sync`, `uv add`, `uv pip sync` (uv keeps its cache in ~/.cache/uv)."""
    if cmd.name != "uv" or len(cmd.words) < 2:
        return False
    rest = [w for w in cmd.words[1:] if not w.startswith("-")]
    return bool(rest) and (rest[0] in {"sync", "add"} or (rest[0] == "pip" and len(rest) > 1 and rest[1] in {"install", "sync"}))


def apt_install(cmd: Command) -> bool:
    return cmd.name in {"apt-get", "apt"} and "install" in cmd.words


def apt_update(cmd: Command) -> bool:
    return cmd.name in {"apt-get", "apt"} and "update" in cmd.words


def conda_install(cmd: Command) -> bool:
    if cmd.name not in {"conda", "mamba", "micromamba"} or len(cmd.words) < 2:
        return False
    rest = [w for w in cmd.words[1:] if not w.startswith("-")]
    return bool(rest) and (rest[0] in {"install", "create", "update"} or rest[:2] in (["env", "create"], ["env", "update"]))


def renv_restore(cmd: Command) -> bool:
    """`Rscript -e 'renv::restore()'` / `R -e ...` (also install.packages with renv present)."""
    return cmd.name in {"R", "Rscript"} and any("renv::restore" in w or "renv::install" in w for w in cmd.words)


def r_install(cmd: Command) -> bool:
    return cmd.name in {"R", "Rscript"} and any("install.packages" in w or "remotes::install" in w or "pak::" in w for w in cmd.words)
