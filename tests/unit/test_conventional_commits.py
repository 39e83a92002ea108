"""Our Conventional Commits checker against the real commitlint (config-conventional) and cz check."""

from __future__ import annotations

import pytest

from mlops_engineer.engines.git.conventional import build_message, parse, validate
from tests.oracles.commit_messages import (
    commitizen_verdicts,
    commitlint_verdicts,
    corpus_dir,
    read_corpus,
)

# Messages chosen to hit each rule's edges: cases, stops, trims, lengths in UTF-16 units, ignores,
# references that move lines to the footer, breaking changes, gpg and scissors lines.
EDGE_MESSAGES = [
    "feat: add x", "feat(api): add x\n", "Feat: add x", "feat: Add x", "feat: ADD X", "feat: `Foo` is lowercased",
    "feat: 'Quoted' first", "feat: 1st thing", "feat: ändern", "feat: Ändern", "feat: ǅ titlecase", "feat: add x.",
    "feat: add x...", "feat:", "feat: ", " feat: add x", "feat: add x ", "feat:add x", "wip: add x", "feat!: drop y",
    "feat(scope)!: drop y\n\nBREAKING CHANGE: y is gone", "fix: x\nbody right after header",
    "fix: x\n\nbody\nCloses #12\nmore footer", "fix: x\n\nsee #12 for context\n\nsecond paragraph",
    "fix: x\n\n" + "b" * 101, "fix: x\n\n" + "é" * 100, "fix: x\n\n" + "😀" * 51, "fix: " + "a" * 95,
    "fix: " + "a" * 96, "fix: " + "😀" * 48, "Merge branch 'main' into x", "Merge pull request #1 from a/b",
    "feat: x\n\nMerge branch 'y'", "Revert \"feat: x\"", "revert: feat: x", "fixup! feat: x", "amend! x",
    "v1.2.3", "chore: 1.2.3", "chore(release): v2.0.0-rc.1", "1.2", "bump: version 1.0.0 → 1.1.0",
    "feat(a b): spaced scope", "feat(): empty scope", "feat(x)(y): two scopes", "FEAT: upper type",
    "fix: x\n\ngpg: Signature made\nbody", "fix: x\n# ------------------------ >8 ------------------------\n" + "d" * 200,
    "# comment\nfeat: x", "\n\nfeat: leading newlines", "fix: x\r\n\r\nwindows body", "feat: x\u2028y",
    "Auto-merged a into b", "Automatic merge from x", "feat: x\n\nBREAKING-CHANGE: y\n" + "c" * 120,
    "docs: fixed #5 and closes #6\n\nfixes #7", "test: prefix #12 word",
]


def test_edge_messages_agree_with_commitlint_and_cz_check() -> None:
    lint = commitlint_verdicts(EDGE_MESSAGES)
    cz = commitizen_verdicts(EDGE_MESSAGES)
    for message, oracle, cz_ok in zip(EDGE_MESSAGES, lint, cz, strict=True):
        mine = validate(message, "commitlint")
        assert (oracle["valid"], sorted(oracle["errors"])) == (mine.valid, sorted(p.rule for p in mine.errors)), message
        assert sorted(oracle["warnings"]) == sorted(p.rule for p in mine.warnings), message
        assert cz_ok == validate(message, "commitizen").valid, message


def test_the_full_corpus_agrees_with_both_oracles() -> None:
    folder = corpus_dir()
    if folder is None:
        pytest.skip("the shared commit-message corpus is not beside this checkout (set MLOPS_COMMIT_MESSAGES)")
    records = read_corpus(folder)
    messages = [r.message for r in records]
    assert len(messages) > 5000
    lint = commitlint_verdicts(messages)
    cz = commitizen_verdicts(messages)
    wrong = [r.sha for r, o in zip(records, lint, strict=True) if o["valid"] != validate(r.message, "commitlint").valid]
    wrong += [r.sha for r, ok in zip(records, cz, strict=True) if ok != validate(r.message, "commitizen").valid]
    assert wrong == []


def test_built_messages_are_valid_and_parse_back() -> None:
    message = build_message("feat", "drop the v1 API", scope="api", body="Long text " * 20,
                            breaking="clients must call /v2", footers=["Refs: #12"])
    assert validate(message).valid and validate(message, "commitizen").valid
    parsed = parse(message)
    assert (parsed.type, parsed.scope, parsed.breaking) == ("feat", "api", True)
    assert parsed.notes[0].startswith("clients must call /v2")
    assert all(len(line) <= 72 for line in message.splitlines()[2:])
