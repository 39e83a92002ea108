"""How often our Conventional Commits checker agrees with commitlint (config-conventional) and
with commitizen's `cz check`, on the full histories of both projects (5,797 real messages).

    uv run --all-extras python benchmarks/commit_messages.py [--out .mlops/commit_messages.txt]

Prints the agreement rates (verdict; and for commitlint the exact set of failing rules), the
time each checker took, and every disagreement (to the --out file when there are more than 20).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from tests.oracles.commit_messages import (  # noqa: E402
    commitizen_verdicts,
    commitlint_verdicts,
    corpus_dir,
    read_corpus,
)

from mlops_engineer.engines.git.conventional import validate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".mlops" / "commit_messages_disagreements.txt")
    args = parser.parse_args()
    folder = corpus_dir()
    if folder is None:
        print("No corpus: set MLOPS_COMMIT_MESSAGES to the shared data/commit-messages folder.", file=sys.stderr)
        return 2
    records = read_corpus(folder)
    messages = [r.message for r in records]
    print(f"corpus: {len(records)} messages from {folder} ({', '.join(f'{k} {v}' for k, v in Counter(r.source for r in records).items())})")

    t0 = time.perf_counter()
    cl = commitlint_verdicts(messages)
    t1 = time.perf_counter()
    cz = commitizen_verdicts(messages)
    t2 = time.perf_counter()
    ours_cl = [validate(m, "commitlint") for m in messages]
    t3 = time.perf_counter()
    ours_cz = [validate(m, "commitizen") for m in messages]
    t4 = time.perf_counter()

    lines: list[str] = []
    verdict_same = rules_same = cz_same = warn_same = 0
    for rec, oracle, mine, cz_ok, mine_cz in zip(records, cl, ours_cl, cz, ours_cz, strict=True):
        mine_rules = sorted(p.rule for p in mine.errors)
        if oracle["valid"] is None:
            lines.append(f"[commitlint crashed: {oracle['crash']}; ours: valid={mine.valid}] {rec.source} {rec.sha}\n{rec.message!r}")
        elif oracle["valid"] == mine.valid:
            verdict_same += 1
        else:
            lines.append(f"[commitlint valid={oracle['valid']} {oracle['errors']}; ours valid={mine.valid} {mine_rules}] {rec.source} {rec.sha}\n{rec.message!r}")
        if oracle["valid"] is not None and sorted(oracle["errors"]) == mine_rules:
            rules_same += 1
        elif oracle["valid"] == mine.valid:
            lines.append(f"[same verdict, other rules: commitlint {oracle['errors']}; ours {mine_rules}] {rec.source} {rec.sha}\n{rec.message!r}")
        if oracle["valid"] is not None and sorted(oracle["warnings"]) == sorted(p.rule for p in mine.warnings):
            warn_same += 1
        if cz_ok == mine_cz.valid:
            cz_same += 1
        else:
            lines.append(f"[cz check valid={cz_ok}; ours valid={mine_cz.valid}] {rec.source} {rec.sha}\n{rec.message!r}")

    n = len(records)
    cl_valid = sum(1 for o in cl if o["valid"])
    cz_valid = sum(cz)
    print(f"commitlint (config-conventional 19.8.1): {cl_valid}/{n} valid; ours agrees on {verdict_same}/{n} verdicts "
          f"({100 * verdict_same / n:.2f}%), on the exact failing rules for {rules_same}/{n} ({100 * rules_same / n:.2f}%)")
    print(f"commitlint warnings (body/footer-leading-blank, not part of the verdict): same on {warn_same}/{n} ({100 * warn_same / n:.2f}%)")
    print(f"cz check (commitizen): {cz_valid}/{n} valid; ours agrees on {cz_same}/{n} ({100 * cz_same / n:.2f}%)")
    print(f"both oracles agree with each other on {sum(1 for o, c in zip(cl, cz, strict=True) if o['valid'] == c)}/{n}")
    print(f"time: commitlint (node, one process) {t1 - t0:.2f} s; cz Check {t2 - t1:.2f} s; "
          f"ours {t3 - t2:.3f} s (commitlint rules) + {t4 - t3:.3f} s (commitizen rules)")
    print(f"disagreements: {len(lines)}")
    if len(lines) > 20:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        print(f"listed in {args.out}")
    else:
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
