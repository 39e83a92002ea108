"""Our Protobuf checker against Buf's breaking-change checker (npm @bufbuild/buf, pinned in
tests/oracles/buf/package-lock.json; `npm ci` on first use) on the corpus of .proto pairs in
tests/oracles/buf/corpus.py, with the WIRE and the WIRE_JSON rule sets.

For every pair, the set of rule ids we report must equal the set Buf reports (so the verdicts
agree too). One `buf breaking` run per rule set checks every pair: each pair is a file of its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_engineer.engines.schemas import proto_compat
from tests.oracles.buf.corpus import PAIRS, PAIRS_PROTO2, files

BUF_DIR = Path(__file__).resolve().parents[1] / "oracles" / "buf"
RULES = ("WIRE", "WIRE_JSON")


def _installed_matches_lock() -> bool:
    locked = json.loads((BUF_DIR / "package-lock.json").read_text())["packages"]
    for path, entry in locked.items():
        if not path or entry.get("optional") and not (BUF_DIR / path).exists():
            continue
        manifest = BUF_DIR / path / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != entry.get("version"):
            return False
    return True


@pytest.fixture(scope="module")
def buf() -> str:
    """The buf binary from the pinned npm package (npm ci when missing or stale)."""
    binary = BUF_DIR / "node_modules" / ".bin" / "buf"
    if not binary.exists() or not _installed_matches_lock():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the Buf oracle (Debian: apt-get install nodejs npm; .ci/run does this)"
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BUF_DIR, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"`npm ci` in {BUF_DIR} failed (it needs the npm registry):\n{proc.stdout}\n{proc.stderr}"
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"the buf binary does not run: {proc.stderr}"
    return str(binary)


def _buf_rules(buf: str, tmp: Path, rules: str) -> dict[str, set[str]]:
    """pair id -> the rule ids Buf reports for it."""
    for side in ("old", "new"):
        (tmp / side).mkdir(parents=True)
        (tmp / side / "buf.yaml").write_text(f"version: v2\nbreaking:\n  use:\n    - {rules}\n")
    for pid, old, new in files():
        (tmp / "old" / f"{pid}.proto").write_text(old)
        (tmp / "new" / f"{pid}.proto").write_text(new)
    proc = subprocess.run([buf, "breaking", "new", "--against", "old", "--error-format", "json"],
                          cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 100), proc.stderr  # 100: breaking changes found
    found: dict[str, set[str]] = {}
    for line in proc.stdout.splitlines():
        entry = json.loads(line)
        found.setdefault(Path(entry["path"]).stem, set()).add(entry["type"])
    return found


def _ours(pid: str, old: str, new: str, rules: str) -> set[str]:
    name = f"{pid}.proto"
    old_set, new_set = proto_compat.compile_proto(old, name), proto_compat.compile_proto(new, name)
    return {v.kind for v in proto_compat.check_descriptors(old_set, new_set, rules, name)}  # type: ignore[arg-type]


def test_corpus_covers_the_rule_families() -> None:
    assert len(PAIRS) + len(PAIRS_PROTO2) >= 40


@pytest.mark.parametrize("rules", RULES)
def test_rules_agree_with_buf(buf: str, tmp_path: Path, rules: str) -> None:
    theirs = _buf_rules(buf, tmp_path, rules)
    pairs = files()
    disagree = [(pid, sorted(theirs.get(pid, set())), sorted(_ours(pid, old, new, rules)))
                for pid, old, new in pairs if theirs.get(pid, set()) != _ours(pid, old, new, rules)]
    print(f"buf {rules}: {len(pairs) - len(disagree)}/{len(pairs)} pairs agree; "
          f"{sum(1 for pid, _, _ in pairs if theirs.get(pid))} breaking")
    assert not disagree, disagree
    # The corpus exercises both verdicts and many rules, not only one.
    assert len({rule for found in theirs.values() for rule in found}) >= (9 if rules == "WIRE" else 14)
    assert sum(1 for pid, _, _ in pairs if not theirs.get(pid)) >= 8


def test_reasons_name_the_field_and_what_to_do() -> None:
    [(pid, old, new)] = [p for p in files() if p[0] == "delete_field"]
    [v] = proto_compat.check(old, new, "WIRE")
    assert v.kind == "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED" and v.path.endswith("Order.quantity") and "reserv" in v.reason


def test_protoc_errors_are_reported() -> None:
    with pytest.raises(proto_compat.ProtoSchemaError, match="schema.proto:2"):
        proto_compat.compile_proto('syntax = "proto3";\nmessage A { int32 a = 1 }\n')
