"""What a run of `orchestrate_ml_pipeline` costs over its stages' own work, in local mode.

The pipeline: three stages of `python steps/stage.py N` (each writes one file from the
previous one), chained. Each round, interleaved:

- direct:  the three commands run one after another with subprocess (the stages' own work);
- for each build (this one, and with `--before DIR` the build in DIR, each in a worker process
  of its own: see _sides.py), in a fresh workspace:
    first:  action `run` (nothing cached yet): on this build it starts the workspace's kept
            Prefect API and warm runner; before, every run started a temporary API;
    again:  action `run` with refresh=true (every stage runs again);
    cached: action `run` with unchanged inputs (every task `Cached`);
  then action `stop` (this build), so the next round's first run starts from nothing.

Times are the whole tool call, as a client waits for it (`execute()`), and the tool's own
`wall_seconds` / `flow_seconds`. One uncounted warm-up round first (imports, disk caches).

    uv run --all-extras python benchmarks/pipeline_run.py [--rounds 3] [--before /tmp/before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import versions

STAGE = """\
import pathlib, sys
n = int(sys.argv[1])
source = pathlib.Path("out") / f"s{n - 1}.txt"
text = source.read_text() if n > 1 else "seed\\n"
pathlib.Path("out").mkdir(exist_ok=True)
(pathlib.Path("out") / f"s{n}.txt").write_text(text + f"stage {n}\\n")
"""

SPEC = {
    "name": "bench",
    "stages": [
        {"name": f"s{n}", "command": f"python steps/stage.py {n}", "outputs": [f"out/s{n}.txt"],
         **({"inputs": [f"out/s{n - 1}.txt"]} if n > 1 else {})}
        for n in (1, 2, 3)
    ],
}


def _direct(root: Path) -> float:
    started = time.perf_counter()
    for n in (1, 2, 3):
        subprocess.run([sys.executable, "steps/stage.py", str(n)], cwd=root, check=True)
    return time.perf_counter() - started


def side_round(root: str) -> dict[str, Any]:
    """In a worker: first, again (refresh) and cached runs in a fresh workspace, then stop."""
    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    workspace = Path(root)
    (workspace / "steps").mkdir(parents=True)
    (workspace / "steps" / "stage.py").write_text(STAGE)
    tool = load_registry().tool("orchestrate_ml_pipeline")
    ctx = ToolContext(workspace=Workspace(workspace), settings=Settings(workspace=workspace, tracking_uri=None))
    figures: dict[str, Any] = {}
    for label, refresh, cached in (("first", False, 0), ("again", True, 0), ("cached", False, 3)):
        started = time.perf_counter()
        run = execute(tool, {"operation": {"action": "run", "spec": SPEC, "refresh": refresh}}, ctx).run  # type: ignore[attr-defined]
        call = time.perf_counter() - started
        assert run.ok and run.cached == cached, run
        figures[label] = {"call": call, "wall": run.wall_seconds, "flow": run.flow_seconds,
                          "server": getattr(run, "local_server", None)}
    try:
        execute(tool, {"operation": {"action": "stop"}}, ctx)
    except Exception:  # noqa: BLE001 - a build before the kept server has no stop action (and nothing to stop)
        pass
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="source tree of the build to compare with (see _sides.py)")
    args = parser.parse_args()

    from _sides import Side

    print("versions:", versions(), "| prefect", __import__("importlib.metadata").metadata.version("prefect"))
    print(f"load average at start: {os.getloadavg()}")
    sides = [Side("after", None)] + ([Side("before", args.before)] if args.before else [])
    samples: dict[str, list[float]] = {"direct": []}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        direct_root = root / "direct"
        (direct_root / "steps").mkdir(parents=True)
        (direct_root / "steps" / "stage.py").write_text(STAGE)
        for round_no in range(args.rounds + 1):
            order = sides if round_no % 2 == 0 else list(reversed(sides))
            direct = _direct(direct_root)
            line = [f"direct {direct:.2f}"]
            for side in order:
                figures = side.call("pipeline_run:side_round", root=str(root / f"{side.label}-{round_no}"))
                line.append(f"{side.label}: " + ", ".join(f"{k} {v['call']:.2f} s" + (f" ({v['server']})" if v["server"] else "")
                                                           for k, v in figures.items()))
                if round_no == 0:
                    continue
                for kind, value in figures.items():
                    for measure in ("call", "wall", "flow"):
                        samples.setdefault(f"{side.label} {kind} {measure}", []).append(value[measure])
                    samples.setdefault(f"{side.label} {kind} over direct", []).append(value["call"] - direct)
            if round_no:
                samples["direct"].append(direct)
            print(("warm-up: " if round_no == 0 else f"round {round_no}: ") + "; ".join(line), flush=True)
    for side in sides:
        side.close()
    print(f"load average at end: {os.getloadavg()}")
    print(f"\n{'what (seconds, median of ' + str(args.rounds) + ')':34} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in samples.items():
        print(f"{name:34} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}")
    if args.before:
        for kind in ("first", "again", "cached"):
            ratios = [a / b for a, b in zip(samples[f"after {kind} call"], samples[f"before {kind} call"], strict=True)]
            print(f"after/before {kind:6}: median {statistics.median(samples[f'after {kind} call']) / statistics.median(samples[f'before {kind} call']):.2f}x, "
                  f"paired {statistics.median(ratios):.2f}x")
    again = statistics.median(samples["after again over direct"])
    cached = statistics.median(samples["after cached call"])
    print(f"targets: later run over the stages' own work {again:.2f} s (<= 2 s: {'met' if again <= 2 else 'NOT met'}); "
          f"cached re-run {cached:.2f} s (< 2 s: {'met' if cached < 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
