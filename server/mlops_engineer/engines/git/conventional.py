"""Conventional Commits: check a message the way commitlint's `config-conventional` or
commitizen's `cz check` would, and build one from parts.

Two rule sets, because the two tools disagree (commitizen accepts `bump:`, capitalised subjects
and any header length; commitlint refuses them), and a project uses one or the other:

- `commitlint`: @commitlint/config-conventional 19.8.1 as commitlint applies it. Its ignore list
  first (merges, reverts, `fixup!`, bare versions: valid without a check), then the header parsed
  with the conventionalcommits preset, then the error rules type-enum, type-case, type-empty,
  subject-empty, subject-case, subject-full-stop, header-trim, header-max-length 100 and
  body/footer-max-line-length 100. body-leading-blank and footer-leading-blank are warnings: they
  are reported but do not make a message invalid, as in commitlint.
- `commitizen`: `cz check` with the cz_conventional_commits defaults (commitizen 4.x): comment
  lines dropped, whitespace stripped, the allowed prefixes (Merge, Revert, fixup!, ...) pass,
  then its schema pattern.

Lengths are counted in UTF-16 code units, as JavaScript's `String.length` does, and `.` / `^` / `$`
follow JavaScript's line terminators, so the verdicts match commitlint's character for character
(benchmarks/commit_messages.py measures the agreement on 5,797 real messages).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

Profile = Literal["commitlint", "commitizen"]

TYPES = ("build", "chore", "ci", "docs", "feat", "fix", "perf", "refactor", "revert", "style", "test")
CZ_TYPES = ("build", "bump", "chore", "ci", "docs", "feat", "fix", "perf", "refactor", "revert", "style", "test")
MAX_HEADER = 100
MAX_LINE = 100

# JavaScript's `.` excludes four line terminators; Python's only "\n".
_DOT = r"[^\n\r\u2028\u2029]"
_EOL = r"(?=[\n\r\u2028\u2029]|\Z)"  # JS `$` under the m flag
_BOL = r"(?:(?<=[\n\r\u2028\u2029])|\A)"  # JS `^` under the m flag

# conventional-changelog-conventionalcommits' headerPattern; \w is ASCII in JavaScript.
HEADER = re.compile(rf"^(\w*)(?:\(({_DOT}*)\))?(!?): ({_DOT}*)$", re.ASCII)
_NOTE = re.compile(rf"^[\s|*]*(BREAKING CHANGE|BREAKING-CHANGE)[:\s]+({_DOT}*)", re.IGNORECASE)
# The parser's reference line: an action keyword, then an issue (`closes #12`, `fixes org/repo#3`).
_ACTIONS = "close|closes|closed|fix|fixes|fixed|resolve|resolves|resolved"
_REFERENCE = re.compile(rf"({_ACTIONS})(?:\s+({_DOT}*?))(?=(?:{_ACTIONS})|$)", re.IGNORECASE)
_REFERENCE_PART = re.compile(r"#[\w-]*\d", re.ASCII)  # what the parser's referenceParts needs to match
_SCISSOR = "# ------------------------ >8 ------------------------"

# @commitlint/is-ignored's defaults (19.8.1): messages commitlint does not check at all.
_IGNORED = [
    re.compile(rf"{_BOL}((Merge pull request)|(Merge ({_DOT}*?) into ({_DOT}*?)|(Merge branch ({_DOT}*?)))(?:\r?\n)*{_EOL})"),
    re.compile(rf"{_BOL}(Merge tag ({_DOT}*?))(?:\r?\n)*{_EOL}"),
    re.compile(rf"^(R|r)evert ({_DOT}*)"),
    re.compile(rf"^(R|r)eapply ({_DOT}*)"),
    re.compile(r"^(amend|fixup|squash)!"),
    re.compile(rf"^(Merged ({_DOT}*?)(in|into) ({_DOT}*)|Merged PR ({_DOT}*): ({_DOT}*))"),
    re.compile(rf"^Merge remote-tracking branch(\s*)({_DOT}*)"),
    re.compile(rf"^Automatic merge({_DOT}*)"),
    re.compile(rf"^Auto-merged ({_DOT}*?) into ({_DOT}*)"),
]
# node-semver's FULL (strict) pattern.
_NUM = r"(?:0|[1-9]\d*)"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_SEMVER = re.compile(rf"^v?{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE_ID}(?:\.{_PRE_ID})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$", re.ASCII)
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

# commitizen's cz_conventional_commits schema_pattern and default allowed_prefixes.
CZ_PATTERN = re.compile(r"(?s)(" + "|".join(CZ_TYPES) + r")(\(\S+\))?!?: ([^\n\r]+)((\n\n.*)|(\s*))?$")
CZ_PREFIXES = ("Merge", "Revert", "Pull request", "fixup!", "squash!", "amend!")


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str


@dataclass
class Parsed:
    """A message split as conventional-commits-parser splits it."""

    header: str | None
    type: str | None = None
    scope: str | None = None
    subject: str | None = None
    breaking: bool = False
    body: str | None = None
    footer: str | None = None
    notes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    valid: bool
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    ignored: bool = False  # commitlint skipped it (merge, revert, fixup!, version) or cz's allowed prefix


def js_length(text: str) -> int:
    """`text.length` in JavaScript: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _trim_newlines(text: str) -> str:
    start = re.search(r"[^\r\n]", text)
    return "" if start is None else text[start.start():].rstrip("\r\n")


def parse(message: str) -> Parsed:
    """Header, type, scope, subject, body, footer and breaking-change notes of `message`."""
    raw_lines = re.split(r"\r?\n", _trim_newlines(message))
    if _SCISSOR in raw_lines:
        raw_lines = raw_lines[: raw_lines.index(_SCISSOR)]
    lines = [line for line in raw_lines if not re.match(r"^\s*gpg:", line)]
    if not lines or not message.strip(_JS_SPACE):
        return Parsed(header=None)
    header, rest = lines[0], lines[1:]
    match = HEADER.match(header)
    parsed = Parsed(header=header, lines=rest)
    if match:
        parsed.type, parsed.scope, parsed.subject = match[1] or None, match[2] or None, match[4] or None
        parsed.breaking = match[3] == "!"
    body: list[str] = []
    footer: list[str] = []
    in_body, in_note = True, False
    for line in rest:
        note = _NOTE.match(line)
        if note:
            in_note, in_body = True, False
            footer.append(line)
            parsed.notes.append(note[2])
            continue
        if _is_reference(line):
            in_body, in_note = False, False
            footer.append(line)
            continue
        if in_note:
            parsed.notes[-1] += "\n" + line
            footer.append(line)
        elif in_body:
            body.append(line)
        else:
            footer.append(line)
    parsed.body = _trim_newlines("\n".join(body)) or None
    parsed.footer = _trim_newlines("\n".join(footer)) or None
    if parsed.notes:
        parsed.breaking = True
    return parsed


def _is_reference(line: str) -> bool:
    # Sentences after an action keyword when the line has one; else the whole line (the parser's CATCH_ALL).
    sentences = [m[2] or "" for m in _REFERENCE.finditer(line)] or [line]
    return any(_REFERENCE_PART.search(sentence) for sentence in sentences)


def is_ignored(message: str) -> bool:
    """True when commitlint's default ignores skip `message` (it is then valid as it is)."""
    if any(pattern.search(message) if pattern.pattern.startswith("(?:(?<=") else pattern.match(message)
           for pattern in _IGNORED):
        return True
    first = message.split("\n", 1)[0]
    stripped = re.sub(r"^chore(\([^)]+\))?:", "", first).strip(_JS_SPACE)
    return len(stripped) <= 256 and bool(_SEMVER.match(stripped))


def _subject_case_error(subject: str | None) -> bool:
    # config-conventional: never sentence-, start-, pascal- or upper-case. The rule runs only on a
    # subject starting with a cased letter; removing quoted parts cannot touch that first letter,
    # and each of the four cases needs it unchanged by upper-casing, so the first letter decides.
    if not subject or unicodedata.category(subject[0]) not in ("Ll", "Lu", "Lt"):
        return False
    return subject[0].upper() == subject[0]


def _commitlint(message: str) -> Verdict:
    if is_ignored(message):
        return Verdict(True, ignored=True)
    parsed = parse(message) if message else Parsed(header=None)
    if parsed.header is None:
        return Verdict(True, ignored=True)  # an empty message: commitlint skips it (git refuses it anyway)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    header = parsed.header
    if not parsed.type:
        errors.append(Problem("type-empty", "type may not be empty (write `<type>: <subject>`, e.g. `fix: ...`)"))
    else:
        if parsed.type.lower() != parsed.type and not parsed.type.lower()[:1].isdigit():
            errors.append(Problem("type-case", "type must be lower-case"))
        if parsed.type not in TYPES:
            errors.append(Problem("type-enum", f"type must be one of [{', '.join(TYPES)}]"))
    if not parsed.subject:
        errors.append(Problem("subject-empty", "subject may not be empty"))
    elif _subject_case_error(parsed.subject):
        errors.append(Problem("subject-case", "subject must not be sentence-case, start-case, pascal-case, upper-case"))
    colon = header.find(":")
    if not (colon > 0 and colon == len(header) - 1) and header.endswith(".") and not header.endswith("..."):
        errors.append(Problem("subject-full-stop", "subject may not end with full stop"))
    if header and header != header.strip(_JS_SPACE):
        errors.append(Problem("header-trim", "header must not start or end with whitespace"))
    if js_length(header) > MAX_HEADER:
        errors.append(Problem("header-max-length", f"header must not be longer than {MAX_HEADER} characters, current length is {js_length(header)}"))
    for part, rule in ((parsed.body, "body-max-line-length"), (parsed.footer, "footer-max-line-length")):
        if part and any(js_length(line) > MAX_LINE for line in re.split(r"\r?\n", part)):
            errors.append(Problem(rule, f"{rule.split('-')[0]}'s lines must not be longer than {MAX_LINE} characters"))
    raw_lines = re.split(r"\r?\n", message)
    if parsed.body and len(raw_lines) > 1 and raw_lines[1] != "":
        warnings.append(Problem("body-leading-blank", "body must have leading blank line"))
    if parsed.footer:
        first = re.split(r"\r?\n", parsed.footer)[0]
        at = raw_lines.index(first) if first in raw_lines else 0
        if at > 0 and raw_lines[at - 1] != "":
            warnings.append(Problem("footer-leading-blank", "footer must have leading blank line"))
    return Verdict(not errors, errors, warnings)


def _commitizen(message: str) -> Verdict:
    kept: list[str] = []
    for line in message.split("\n"):
        if _SCISSOR in line:
            break
        if not line.startswith("#"):
            kept.append(line)
    text = "\n".join(kept).strip()
    if not text:
        return Verdict(False, [Problem("empty", "commit message is empty")])
    if text.startswith(CZ_PREFIXES):
        return Verdict(True, ignored=True)
    if CZ_PATTERN.match(text):
        return Verdict(True)
    return Verdict(False, [Problem("pattern", "the message does not match `<type>(<scope>)!: <subject>` with a "
                                   f"type among {', '.join(CZ_TYPES)} and a blank line before the body")])


def validate(message: str, profile: Profile = "commitlint") -> Verdict:
    """Check `message` with the rules of `profile` (see the module docstring)."""
    return _commitlint(message) if profile == "commitlint" else _commitizen(message)


def build_message(type_: str, subject: str, *, scope: str | None = None, body: str | None = None,
                  breaking: str | None = None, footers: list[str] | None = None) -> str:
    """`type(scope)!: subject`, a blank line, the body, a blank line, `BREAKING CHANGE: ...` and footers."""
    header = f"{type_}{f'({scope})' if scope else ''}{'!' if breaking else ''}: {subject}"
    parts = [header]
    if body:
        parts.append(wrap(body))
    tail = ([f"BREAKING CHANGE: {breaking}"] if breaking else []) + list(footers or [])
    if tail:
        parts.append("\n".join(tail))
    return "\n\n".join(parts) + "\n"


def wrap(text: str, width: int = 72) -> str:
    """Paragraphs re-flowed to `width` (lines of a list or indented code kept as they are)."""
    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.lstrip().startswith(("-", "*", "```")) or line.startswith("    ") for line in lines):
            out.append(paragraph)
            continue
        words, current = " ".join(lines).split(), ""
        wrapped: list[str] = []
        for word in words:
            if current and len(current) + 1 + len(word) > width:
                wrapped.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        wrapped.append(current)
        out.append("\n".join(wrapped))
    return "\n\n".join(out)
