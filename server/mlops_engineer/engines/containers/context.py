""".dockerignore matching and build-context size: what `docker build` would send.

Patterns follow Docker's rules: one per line, `#` comments, `!` re-includes, `**` spans
folders, a leading `/` is ignored, and a pattern that matches a folder excludes what is in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Paths that ML projects keep next to their code and that a build almost never needs.
HEAVY_ENTRIES: dict[str, str] = {
    ".git": "version-control history",
    ".venv": "a local virtualenv",
    "venv": "a local virtualenv",
    "__pycache__": "bytecode",
    ".ipynb_checkpoints": "notebook checkpoints",
    "node_modules": "JavaScript packages",
    "mlruns": "MLflow runs",
    "mlartifacts": "MLflow artifacts",
    "wandb": "Weights & Biases runs",
    ".dvc/cache": "DVC cache",
    "data": "data sets",
    "datasets": "data sets",
    "checkpoints": "model checkpoints",
    "outputs": "run outputs",
    ".mypy_cache": "tool caches",
    ".pytest_cache": "tool caches",
    ".mlops": "mlops-engineer state",
    ".env": "secrets (environment file)",
}
HEAVY_SUFFIXES = (".ckpt", ".pt", ".pth", ".onnx", ".h5", ".safetensors", ".parquet", ".pkl", ".joblib")
MAX_FILES = 200_000


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    negated: bool
    text: str


def _translate(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            # `**/` matches zero or more folders; a trailing `**` matches everything below.
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("!") or body.startswith("^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class DockerIgnore:
    patterns: list[_Pattern] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            body = line[1:].strip() if negated else line
            body = os.path.normpath(body.lstrip("/")).replace(os.sep, "/")
            if body in (".", ""):
                continue
            patterns.append(_Pattern(regex=_translate(body), negated=negated, text=line))
        return cls(patterns)

    @property
    def has_exceptions(self) -> bool:
        return any(p.negated for p in self.patterns)

    def excluded(self, rel: str) -> bool:
        """True when `rel` (a posix path inside the context) is left out of the context."""
        parts = rel.split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        result = False
        for pattern in self.patterns:
            # A pattern matching a parent folder applies to everything inside it.
            if any(pattern.regex.match(prefix) for prefix in prefixes):
                result = not pattern.negated
        return result

    def texts(self) -> list[str]:
        return [p.text for p in self.patterns]


@dataclass
class ContextScan:
    files: int = 0
    bytes: int = 0
    excluded_files: int = 0
    excluded_bytes: int = 0
    by_top: dict[str, int] = field(default_factory=dict)  # top-level entry -> bytes sent
    heavy: dict[str, int] = field(default_factory=dict)  # heavy entry found in the context -> bytes sent
    heavy_bytes: int = 0  # bytes of sent files under any heavy entry (each file once)
    secrets: list[str] = field(default_factory=list)  # secret-looking files that would be sent
    truncated: bool = False


SECRET_NAMES = re.compile(
    r"(^|/)(\.env(\.[\w.-]+)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]*\.pem|[^/]*\.key|[^/]*\.p12|credentials(\.json)?|"
    r"\.netrc|\.pypirc|\.npmrc|kaggle\.json|\.git-credentials|service[-_]account[^/]*\.json|\.aws/credentials|"
    r"\.docker/config\.json|secrets?\.(ya?ml|json|toml))$")
SAFE_SECRET_EXAMPLES = re.compile(r"\.(example|sample|template|dist)$")


def is_secret_file(rel: str) -> bool:
    return bool(SECRET_NAMES.search(rel)) and not SAFE_SECRET_EXAMPLES.search(rel) and not rel.endswith("ca-certificates.crt")


def read_dockerignore(context: Path, dockerfile: Path | None = None) -> tuple[DockerIgnore | None, Path | None]:
    """The ignore file BuildKit uses: `<Dockerfile>.dockerignore` beside it first, else the context's."""
    candidates = []
    if dockerfile is not None:
        candidates.append(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    candidates.append(context / ".dockerignore")
    for path in candidates:
        if path.is_file():
            return DockerIgnore.parse(path.read_text(errors="replace")), path
    return None, None


def scan_context(context: Path, ignore: DockerIgnore | None,
                 check: Callable[[], None] | None = None) -> ContextScan:
    """Walk the context once; count what would be sent and what the ignore file leaves out."""
    scan = ContextScan()
    ignore = ignore or DockerIgnore()
    seen = 0
    for dirpath, dirnames, filenames in os.walk(context, followlinks=False):
        rel_dir = os.path.relpath(dirpath, context).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        if check is not None:
            check()
        for name in list(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if ignore.excluded(rel) and not ignore.has_exceptions:
                dirnames.remove(name)
                scan.excluded_bytes += _tree_bytes(Path(dirpath) / name)
        for name in filenames:
            seen += 1
            if seen > MAX_FILES:
                scan.truncated = True
                return scan
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            if ignore.excluded(rel):
                scan.excluded_files += 1
                scan.excluded_bytes += size
                continue
            scan.files += 1
            scan.bytes += size
            top = rel.split("/", 1)[0]
            scan.by_top[top] = scan.by_top.get(top, 0) + size
            heavy = False
            for entry in HEAVY_ENTRIES:
                if rel == entry or rel.startswith(entry + "/") or f"/{entry}/" in f"/{rel}":
                    scan.heavy[entry] = scan.heavy.get(entry, 0) + size
                    heavy = True
            if rel.endswith(HEAVY_SUFFIXES) and size >= 1_000_000:
                key = "*" + os.path.splitext(rel)[1]
                scan.heavy[key] = scan.heavy.get(key, 0) + size
                heavy = True
            scan.heavy_bytes += size if heavy else 0
            if is_secret_file(rel):
                scan.secrets.append(rel)
    return scan


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def suggested_ignore(scan: ContextScan) -> list[str]:
    """Lines to add to .dockerignore for what the scan found (plus the usual small ones)."""
    lines = []
    for entry in sorted(scan.heavy):
        if entry.startswith("*"):
            lines.append(f"**/{entry}")
        elif entry in {"__pycache__", ".ipynb_checkpoints"}:
            lines.append(f"**/{entry}")
        else:
            lines.append(entry)
    lines += [f"**/{s}" if "/" not in s else s for s in sorted({Path(s).name if "/" not in s else s for s in scan.secrets})]
    for usual in (".git", "**/__pycache__", "*.pyc", ".venv", ".env"):
        if usual not in lines:
            lines.append(usual)
    return lines
