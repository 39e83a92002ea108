"""How often our schema checkers agree with the peers', and how fast they are beside them.

Avro: every pair of the `avro` package's own compatibility test module (its case lists and every
ordered pair of its schema constants), ours vs `avro.compatibility.ReaderWriterCompatibilityChecker`:
agreement, and the median time of one check (each pair timed `--repeat` times).
Protobuf: the .proto pairs of tests/oracles/buf/corpus.py under Buf's WIRE and WIRE_JSON rules, ours
vs `buf breaking` (tests/oracles/buf, `npm ci` there first): agreement on the rule ids per pair, and
the time of one whole-corpus run of each (ours: compile with protoc + compare; buf: one process).

    uv run --all-extras python benchmarks/schema_compat.py [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import finish, print_header

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def avro_figures(repeat: int) -> dict[str, float]:
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
    from avro.schema import Schema

    from mlops_engineer.engines.schemas import avro_compat
    from tests.unit.test_avro_compat import LISTED, avro_cases

    constants = [v for v in vars(avro_cases).values() if isinstance(v, Schema)]
    pairs = [(r, w) for _, r, w in LISTED] + list(itertools.product(constants, constants))
    as_json = [(r.to_json(), w.to_json()) for r, w in pairs]
    agree, ours_t, theirs_t = 0, [], []
    for (r, w), (rj, wj) in zip(pairs, as_json, strict=True):
        start = time.perf_counter()
        for _ in range(repeat):
            theirs = ReaderWriterCompatibilityChecker().get_compatibility(r, w).compatibility is SchemaCompatibilityType.compatible
        theirs_t.append((time.perf_counter() - start) / repeat)
        start = time.perf_counter()
        for _ in range(repeat):
            ours = not avro_compat.check(rj, wj)[0]  # parses the JSON too: the avro side got parsed schemas
        ours_t.append((time.perf_counter() - start) / repeat)
        agree += ours == theirs
    return {"pairs": len(pairs), "agree": agree, "ours_median_us": statistics.median(ours_t) * 1e6,
            "avro_median_us": statistics.median(theirs_t) * 1e6}


def buf_figures() -> dict[str, float]:
    import json

    from mlops_engineer.engines.schemas import proto_compat
    from tests.oracles.buf.corpus import files

    buf = ROOT / "tests/oracles/buf/node_modules/.bin/buf"
    if not buf.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=buf.parents[2], check=True, capture_output=True)
    pairs = files()
    out: dict[str, float] = {"pairs": len(pairs)}
    for rules in ("WIRE", "WIRE_JSON"):
        with tempfile.TemporaryDirectory() as tmp:
            for side in ("old", "new"):
                Path(tmp, side).mkdir()
                Path(tmp, side, "buf.yaml").write_text(f"version: v2\nbreaking:\n  use:\n    - {rules}\n")
            for pid, old, new in pairs:
                Path(tmp, "old", f"{pid}.proto").write_text(old)
                Path(tmp, "new", f"{pid}.proto").write_text(new)
            start = time.perf_counter()
            proc = subprocess.run([str(buf), "breaking", "new", "--against", "old", "--error-format", "json"], cwd=tmp, capture_output=True, text=True)
            buf_s = time.perf_counter() - start
        theirs: dict[str, set[str]] = {}
        for line in proc.stdout.splitlines():
            entry = json.loads(line)
            theirs.setdefault(Path(entry["path"]).stem, set()).add(entry["type"])
        start = time.perf_counter()
        ours = {}
        for pid, old, new in pairs:
            name = f"{pid}.proto"
            found = proto_compat.check_descriptors(proto_compat.compile_proto(old, name), proto_compat.compile_proto(new, name), rules, name)  # type: ignore[arg-type]
            ours[pid] = {v.kind for v in found}
        ours_s = time.perf_counter() - start
        out[f"{rules}_agree"] = sum(ours[pid] == theirs.get(pid, set()) for pid, _, _ in pairs)
        out[f"{rules}_breaking"] = sum(bool(theirs.get(pid)) for pid, _, _ in pairs)
        out[f"{rules}_ours_s"], out[f"{rules}_buf_s"] = ours_s, buf_s
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    print_header()
    a = avro_figures(args.repeat)
    print(f"avro: {a['agree']}/{a['pairs']} pairs agree with avro.compatibility ({a['agree'] / a['pairs']:.2%}); "
          f"median check {a['ours_median_us']:.1f} us ours vs {a['avro_median_us']:.1f} us avro "
          f"({a['avro_median_us'] / a['ours_median_us']:.2f}x)")
    b = buf_figures()
    for rules in ("WIRE", "WIRE_JSON"):
        print(f"buf {rules}: {b[f'{rules}_agree']:.0f}/{b['pairs']:.0f} pairs agree on the rule ids ({b[f'{rules}_breaking']:.0f} breaking); "
              f"whole corpus {b[f'{rules}_ours_s']:.2f} s ours (protoc in-process, 2 compiles a pair) vs {b[f'{rules}_buf_s']:.2f} s buf")
    finish({"avro": a, "buf": b}, args.json)


if __name__ == "__main__":
    main()
