"""The commit-message corpus and the two oracles our Conventional Commits checker is measured against.

The corpus is the full history of commitizen and commitlint (5,797 messages), read in place from
the team's shared folder (`../shared/data/commit-messages/`, or `MLOPS_COMMIT_MESSAGES`): records
separated by a line `--END--`, each starting with its commit hash. It is never copied here.

- commitlint: @commitlint/lint + @commitlint/load with config-conventional, pinned in
  tests/oracles/commitlint/package-lock.json (`npm ci` on first use), all messages in one node process.
- commitizen: `cz check`'s own `Check` command object (commitizen from the dev group), in process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.shared_data import shared_data

ROOT = Path(__file__).resolve().parents[2]
COMMITLINT_DIR = Path(__file__).resolve().parent / "commitlint"


@dataclass(frozen=True)
class Record:
    source: str  # commitizen or commitlint: whose history
    sha: str
    message: str


def corpus_dir() -> Path | None:
    """The shared corpus folder, or None when this checkout has no shared folder beside it."""
    candidates = [os.environ.get("MLOPS_COMMIT_MESSAGES", ""), str(shared_data("commit-messages") or "")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "commitlint.txt").is_file():
            return Path(candidate)
    return None


def read_corpus(folder: Path) -> list[Record]:
    records: list[Record] = []
    for path in sorted(folder.glob("*.txt")):
        if path.name.endswith(".SOURCE.txt"):
            continue
        text = path.read_text(encoding="utf-8")
        for chunk in text.split("--END--\n"):
            if not chunk.strip():
                continue
            sha, _, message = chunk.partition("\n")
            records.append(Record(path.stem, sha.strip(), message))
    return records


def _installed() -> bool:
    lock = json.loads((COMMITLINT_DIR / "package-lock.json").read_text())
    for name, meta in lock.get("packages", {}).items():
        if name.startswith("node_modules/@commitlint/") and name.count("/") == 2:
            pkg = COMMITLINT_DIR / name / "package.json"
            if not pkg.is_file() or json.loads(pkg.read_text())["version"] != meta["version"]:
                return False
    return True


def commitlint_node() -> str:
    """`node`, with the oracle's node_modules installed from its lock file (npm ci when missing or stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise RuntimeError("node and npm are needed for the commitlint oracle (Debian: apt-get install nodejs npm).")
    if not _installed():
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=COMMITLINT_DIR, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"npm ci in {COMMITLINT_DIR} failed (it needs the npm registry):\n{proc.stderr}")
    return node


def commitlint_verdicts(messages: list[str]) -> list[dict]:
    """[{valid, errors: [rule names]}] from commitlint for each message, in order."""
    node = commitlint_node()
    proc = subprocess.run([node, "lint_all.mjs"], cwd=COMMITLINT_DIR, input=json.dumps(messages),
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the commitlint oracle failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


# commitizen's import runs logging.config.dictConfig(disable_existing_loggers=True) and colorama's
# init() on sys.stdout, which would silence every logger of the test process: ask it in a child.
_COMMITIZEN_CHILD = """
import io, json, sys
from contextlib import redirect_stdout
from commitizen.commands.check import Check
from commitizen.config import BaseConfig
from commitizen.exceptions import CommitizenException

config = BaseConfig()
config.settings.update({"name": "cz_conventional_commits"})
verdicts = []
for message in json.load(sys.stdin):
    try:
        with redirect_stdout(io.StringIO()):
            Check(config=config, arguments={"message": message})()
        verdicts.append(True)
    except CommitizenException:
        verdicts.append(False)
sys.__stdout__.write(json.dumps(verdicts))
"""


def commitizen_verdicts(messages: list[str]) -> list[bool]:
    """True/False from commitizen's `cz check --message` code path for each message, in order."""
    proc = subprocess.run(
        [sys.executable, "-c", _COMMITIZEN_CHILD], input=json.dumps(messages), capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the commitizen oracle failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)
