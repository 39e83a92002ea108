"""A Dockerfile parser that keeps line numbers: parser directives, continuation lines,
heredocs, flags (`RUN --mount=...`, `COPY --from=...`), stages, and ARG/ENV substitution.

Our own, so audits can point at the line a finding is about and rewrites can move
instructions without losing their text. It follows the BuildKit frontend's rules
(dockerfile/parser) for what it covers; what it does not understand it keeps verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Instructions whose leading `--flag[=value]` words are flags, not arguments.
FLAGGED = {"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"}
HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class DockerfileSyntaxError(ValueError):
    """The text is not a Dockerfile we can read; `line` is where it went wrong (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Mount:
    """One `RUN --mount=...` flag: its type (bind by default), target and other options."""

    type: str
    target: str
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)


@dataclass(frozen=True)
class Heredoc:
    name: str
    body: str
    strip_tabs: bool = False
    quoted: bool = False  # <<'EOF': no expansion in the body


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: RUN, COPY, ...
    line: int  # first line, 1-based
    end_line: int  # last line, heredoc bodies included
    original: str  # the source lines exactly as written
    args: str  # after the keyword and flags; continuation lines joined as BuildKit joins them
    flags: tuple[tuple[str, str | None], ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    stage: int = -1  # index of the stage it belongs to; -1 before the first FROM
    json_args: tuple[str, ...] | None = None  # exec form (`["a", "b"]`), when it is one

    def flag(self, name: str) -> str | None:
        """The last value of `--name` (None if absent; "" for a bare `--name`)."""
        values = self.flag_values(name)
        return values[-1] if values else None

    def flag_values(self, name: str) -> list[str]:
        return [value or "" for key, value in self.flags if key == name]

    @property
    def mounts(self) -> tuple[Mount, ...]:
        return tuple(parse_mount(value) for value in self.flag_values("mount"))

    @property
    def command(self) -> str:
        """The shell text a RUN executes: exec form joined by spaces, heredoc bodies appended."""
        text = " ".join(self.json_args) if self.json_args is not None else self.args
        if self.heredocs and self.keyword == "RUN":
            bodies = "\n".join(h.body for h in self.heredocs)
            # `RUN <<EOF` runs the body; `RUN python3 <<EOF` feeds it: keep both readable to rules.
            head = _HEREDOC.sub("", text).strip()
            return f"{head}\n{bodies}" if head else bodies
        return text

    def words(self) -> list[str]:
        """Arguments split as COPY/ADD/FROM/ARG read them: exec form, else whitespace words."""
        if self.json_args is not None:
            return list(self.json_args)
        return self.args.split()


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None
    base: str  # as written after FROM
    base_resolved: str  # with global ARGs substituted
    platform: str | None
    line: int
    first: int  # index of its FROM in Dockerfile.instructions
    last: int  # index of its last instruction

    @property
    def refs(self) -> set[str]:
        """Names a later FROM or COPY --from may use for this stage."""
        return {str(self.index)} | ({self.name.lower()} if self.name else set())


@dataclass
class Dockerfile:
    text: str
    directives: dict[str, str]
    escape: str
    instructions: list[Instruction]
    stages: list[Stage]
    global_args: dict[str, str | None] = field(default_factory=dict)

    def in_stage(self, stage: int) -> list[Instruction]:
        return [i for i in self.instructions if i.stage == stage]

    def stage_by_ref(self, ref: str) -> Stage | None:
        """The stage a `FROM <ref>` / `COPY --from=<ref>` means, if it is one of ours."""
        for stage in self.stages:
            if ref.lower() in stage.refs:
                return stage
        return None

    def env_at(self, instruction: Instruction) -> dict[str, str]:
        """ARG and ENV values in force when `instruction` runs (defaults for ARGs; build args unknown)."""
        env: dict[str, str] = {}
        if instruction.stage < 0:
            return {k: v for k, v in self.global_args.items() if v is not None}
        stage = self.stages[instruction.stage]
        for ins in self.instructions[stage.first + 1:]:
            if ins is instruction or ins.line >= instruction.line:
                break
            if ins.keyword == "ENV":
                env.update({k: substitute(v, env) for k, v in parse_env(ins.args).items()})
            elif ins.keyword == "ARG":
                for name, default in parse_arg(ins.args).items():
                    value = default if default is not None else self.global_args.get(name)
                    if value is not None:
                        env.setdefault(name, substitute(value, env))
        return env


def parse_mount(value: str) -> Mount:
    """`type=cache,target=/root/.cache/pip,sharing=locked` as a Mount (type defaults to bind)."""
    options: list[tuple[str, str]] = []
    for part in _split_csv(value):
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        options.append((key, val.strip() if sep else "true"))
    found = dict(options)
    target = found.get("target") or found.get("dst") or found.get("destination") or ""
    return Mount(type=found.get("type", "bind"), target=target,
                 options=tuple((k, v) for k, v in options if k not in {"type", "target", "dst", "destination"}))


def _split_csv(value: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in value:
        if quote:
            if ch == quote:
                quote = ""
            else:
                current.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def substitute(word: str, env: Mapping[str, str]) -> str:
    """Expand `$X`, `${X}`, `${X:-default}`, `${X:+alt}` (and the forms without colon) as BuildKit does."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        op, operand = match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            missing = value is None or (op == ":-" and value == "")
            return substitute(operand, env) if missing else str(value)
        if op in (":+", "+"):
            present = value is not None and (op == "+" or value != "")
            return substitute(operand, env) if present else ""
        return "" if value is None else str(value)

    return _VAR.sub(repl, word)


def parse_env(args: str) -> dict[str, str]:
    """`ENV a=1 b="two words"` or the legacy `ENV a one value`."""
    words = _shell_words(args)
    if words and "=" not in words[0]:
        name, _, rest = args.strip().partition(" ")
        return {name: _unquote(rest.strip())}
    out: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        out[key] = value
    return out


def parse_arg(args: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for word in _shell_words(args):
        key, sep, value = word.partition("=")
        out[key] = value if sep else None
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _shell_words(text: str) -> list[str]:
    """Whitespace words with quotes removed (a quoted space stays inside its word)."""
    words, current, quote, escaped, started = [], [], "", False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
            else:
                current.append(ch)
        elif ch in "\"'":
            quote, started = ch, True
        elif ch.isspace():
            if current or started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
    if current or started:
        words.append("".join(current))
    return words


def _split_flags(keyword: str, rest: str) -> tuple[list[tuple[str, str | None]], str]:
    """Leading `--name[=value]` words (values may be quoted) and what follows them."""
    flags: list[tuple[str, str | None]] = []
    if keyword not in FLAGGED:
        return flags, rest
    text = rest.lstrip()
    while text.startswith("--"):
        i, quote = 0, ""
        while i < len(text) and (quote or not text[i].isspace()):
            if quote and text[i] == quote:
                quote = ""
            elif not quote and text[i] in "\"'":
                quote = text[i]
            i += 1
        word, text = text[:i], text[i:].lstrip()
        name, sep, value = word[2:].partition("=")
        flags.append((name.lower(), _unquote(value) if sep else None))
    return flags, text


def _json_form(args: str) -> tuple[str, ...] | None:
    stripped = args.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile. Raises DockerfileSyntaxError for an unterminated heredoc or an
    instruction-less first line that is not one; unknown keywords are kept (BuildKit refuses
    them at build time, and the audit says so)."""
    lines = text.splitlines()
    directives: dict[str, str] = {}
    escape = "\\"
    n = 0
    # Parser directives: only at the very top, before any blank line, comment or instruction.
    while n < len(lines):
        match = _DIRECTIVE.match(lines[n].strip())
        if not match or match.group(1).lower() in directives:
            break
        directives[match.group(1).lower()] = match.group(2)
        n += 1
    if directives.get("escape") in ("`", "\\"):
        escape = directives["escape"]

    instructions: list[Instruction] = []
    stages: list[Stage] = []
    global_args: dict[str, str | None] = {}
    while n < len(lines):
        raw = lines[n]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            n += 1
            continue
        start = n
        pieces = [raw.lstrip()]
        # Continuation: a line ending in the escape character joins the next non-comment line.
        while pieces[-1].rstrip().endswith(escape) and n + 1 < len(lines):
            pieces[-1] = pieces[-1].rstrip()[:-1]
            n += 1
            while n < len(lines) and lines[n].strip().startswith("#"):
                n += 1
            if n >= len(lines):
                break
            pieces.append(lines[n])
        if pieces[-1].rstrip().endswith(escape):
            pieces[-1] = pieces[-1].rstrip()[:-1]
        logical = "".join(pieces)
        keyword, _, rest = logical.strip().partition(" ")
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            rest = f"{more} {rest}".strip()
        keyword = keyword.upper()
        flags, args = _split_flags(keyword, rest)
        heredocs: list[Heredoc] = []
        if keyword in HEREDOC_KEYWORDS:
            for match in _HEREDOC.finditer(args):
                strip_tabs, quoted, name = match.group(1) == "-", bool(match.group(2)), match.group(3)
                body: list[str] = []
                n += 1
                while n < len(lines):
                    candidate = lines[n].lstrip("\t") if strip_tabs else lines[n]
                    if candidate == name:
                        break
                    body.append(candidate)
                    n += 1
                else:
                    raise DockerfileSyntaxError(f"heredoc <<{name} is never closed", start + 1)
                heredocs.append(Heredoc(name=name, body="\n".join(body), strip_tabs=strip_tabs, quoted=quoted))
        end = n
        ins = Instruction(keyword=keyword, line=start + 1, end_line=end + 1, original="\n".join(lines[start:end + 1]),
                          args=args.strip(), flags=tuple(flags), heredocs=tuple(heredocs),
                          stage=len(stages) - 1 if keyword != "FROM" else len(stages),
                          json_args=_json_form(args) if keyword in {"RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "SHELL", "VOLUME"} else None)
        if keyword == "FROM":
            words = args.split()
            if not words:
                raise DockerfileSyntaxError("FROM needs an image", start + 1)
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            resolved = substitute(words[0], {k: v for k, v in global_args.items() if v is not None})
            if stages:
                stages[-1] = _close(stages[-1], len(instructions) - 1)
            stages.append(Stage(index=len(stages), name=name, base=words[0], base_resolved=resolved,
                                platform=dict(flags).get("platform"), line=start + 1, first=len(instructions),
                                last=len(instructions)))
        elif keyword == "ARG" and not stages:
            global_args.update(parse_arg(args))
        instructions.append(ins)
        n += 1
    if stages:
        stages[-1] = _close(stages[-1], len(instructions) - 1)
    return Dockerfile(text=text, directives=directives, escape=escape, instructions=instructions, stages=stages,
                      global_args=global_args)


def _close(stage: Stage, last: int) -> Stage:
    return Stage(index=stage.index, name=stage.name, base=stage.base, base_resolved=stage.base_resolved,
                 platform=stage.platform, line=stage.line, first=stage.first, last=last)


def image_reference(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; tag/digest None when absent.
    `localhost:5000/a/b:1@sha256:..` splits on the last ':' after the last '/'."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest or None
    return name, None, digest or None
