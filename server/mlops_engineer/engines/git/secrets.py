"""Find secrets in what is about to be committed: private keys, cloud and chat tokens, passwords
in URLs or assignments, and files that hold secrets by their nature (`.env`, SSH keys).

Only added lines are scanned (removing a leaked key must stay possible), and a finding never
carries the secret: `preview` shows its first four characters. A line holding
`pragma: allowlist secret` (detect-secrets' marker) is skipped, so a known false positive can be
kept with a visible note in the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from mlops_engineer.redact import (  # the same words and URL shapes as our redaction
    _SECRET_WORD,
    _USERINFO,
)

ALLOW_MARKER = "pragma: allowlist secret"

# (kind, pattern): the group "secret" is what gets masked.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", re.compile(r"(?P<secret>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)")),
    ("AWS access key id", re.compile(r"(?<![A-Z0-9])(?P<secret>(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16})(?![A-Z0-9])")),
    ("AWS secret access key", re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")),
    ("GitHub token", re.compile(r"(?P<secret>\bgh[pousr]_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}\b)")),
    ("Slack token", re.compile(r"(?P<secret>\bxox[abposr]-[A-Za-z0-9-]{10,250})")),
    ("Slack webhook", re.compile(r"(?P<secret>https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)")),
    ("Google API key", re.compile(r"(?P<secret>\bAIza[0-9A-Za-z_-]{35})")),
    ("Stripe secret key", re.compile(r"(?P<secret>\b[rs]k_live_[0-9A-Za-z]{16,})")),
    ("OpenAI/Anthropic API key", re.compile(r"(?P<secret>\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,})")),
    ("Hugging Face token", re.compile(r"(?P<secret>\bhf_[A-Za-z0-9]{30,})")),
]
# `password = "..."`, `API_KEY: ...`: a secret-named key with a literal value of 8+ characters.
_ASSIGNMENT = re.compile(
    r"(?P<key>[\w.-]*(?:token|password|passwd|secret|api_?key|access_?key|private_?key|credential)[\w.-]*)[\"']?"
    r"\s*(?::|=|:=|=>)\s*[\"']?(?P<secret>[^\s\"'`,;)}\]]{8,})",
    re.IGNORECASE,
)
# Values that are obviously not secrets: references to the environment, templates, placeholders.
_PLACEHOLDER = re.compile(
    r"^(?:\$\{?\w+.*|<[^>]*>|\{\{.*|%\(?\w+\)?s?|os\.environ.*|getenv.*|env\(.*|(?:x+|\*+|\.+)|"
    r"(?i:change[-_]?me[-\w]*|example\w*|dummy\w*|placeholder\w*|your[_-]?\w*|redacted|none|null|true|false|secret|password|"
    r"\w+\(.*|self\.\w+|settings\.\w+|config\.\w+|\w+\.\w+\(?.*))$"
)
# Files whose presence in a commit is the leak, whatever they hold.
_SECRET_FILE_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass", "credentials.json",
                      "service-account.json", ".htpasswd"}
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".keystore", ".jks")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")


# Every pattern above needs one of these words: a line without any is skipped at the cost of one search.
_TRIGGER = re.compile(
    r"PRIVATE KEY|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|gh[pousr]_|github_pat_|xox[abposr]-|hooks\.slack|AIza|k_live_|sk-|hf_|://"
    r"|(?i:token|passw|secret|api_?key|access_?key|private_?key|credential)"
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None  # None for a file flagged by its name
    kind: str
    preview: str  # never the secret: its first characters, then ***


def mask(secret: str) -> str:
    return f"{secret[:4]}***" if len(secret) > 8 else "***"


def secret_file_kind(path: str) -> str | None:
    """Why a file is a secret by its name alone (`.env`, an SSH key), or None."""
    name = PurePosixPath(path).name
    lowered = name.lower()
    if lowered == ".env" or (lowered.startswith(".env.") and not lowered.endswith(_ENV_TEMPLATES)) or lowered.endswith(".env"):
        return ".env file (environment secrets)"
    if lowered in _SECRET_FILE_NAMES:
        return f"{name} (credentials file)"
    if lowered.endswith(_SECRET_SUFFIXES):
        return f"{name} (key or certificate store)"
    return None


def scan_line(path: str, number: int | None, text: str) -> list[Finding]:
    """Secrets on one added line."""
    if ALLOW_MARKER in text or len(text) > 10_000:  # minified blobs: no line-level scan, bounded cost
        return []
    if not _TRIGGER.search(text):
        return []
    found: list[Finding] = []
    seen: set[str] = set()
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            secret = match["secret"]
            if secret not in seen:
                seen.add(secret)
                found.append(Finding(path, number, kind, mask(secret)))
    for match in _ASSIGNMENT.finditer(text):
        value = match["secret"]
        if value in seen or _PLACEHOLDER.match(value) or not _SECRET_WORD.search(match["key"]):
            continue
        seen.add(value)
        found.append(Finding(path, number, f"secret-named value ({match['key']})", mask(value)))
    for match in _USERINFO.finditer(text):
        userinfo = match["userinfo"]
        # `${USER:-x}:${PASSWORD}@`: filled in from the environment, not a secret.
        if ":" in userinfo and "$" not in userinfo and "{{" not in userinfo and not _PLACEHOLDER.match(userinfo.split(":", 1)[1]):
            found.append(Finding(path, number, "password in a URL", f"{match['scheme']}{mask(userinfo)}@"))
    return found


def scan_patch(patch: str) -> list[Finding]:
    """Secrets on the added lines of a unified diff (`git diff --cached -U0`), with their line numbers."""
    findings: list[Finding] = []
    path, line_no = "", 0
    for line in patch.split("\n"):
        if line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else target
            continue
        if line.startswith("@@"):
            match = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", line)
            line_no = int(match[1]) if match else 0
            continue
        if line.startswith("+"):
            findings.extend(scan_line(path, line_no, line[1:]))
            line_no += 1
        elif line.startswith(" "):
            line_no += 1
    return findings
