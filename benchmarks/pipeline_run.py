"""What Prefect's local mode costs: a small pipeline run by `orchestrate_ml_pipeline` against the same stages run directly.

The pipeline: three stages of `python steps/stage.py N` (each writes one file from the
previous one), chained. Measured per round, interleaved:

- direct:   the three commands run one after another with subprocess (the floor);
- prefect:  action `run` with refresh=true (every stage runs) in local mode: the flow file in a
            child process, a temporary Prefect API, the stages, the results file;
- temporary API start: from Prefect's "Starting temporary server" log line to the flow's start;
- cached:   action `run` again with unchanged inputs (every task `Cached`).

For the Prefect rows the tool also reports `flow_seconds` (inside the flow function) and
`prefect_overhead_seconds` (the rest: interpreter and Prefect start-up, the temporary API).

    uv run --all-extras python benchmarks/pipeline_run.py [--rounds 3]
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


def _api_start(root: Path) -> float | None:
    """Seconds from Prefect's "Starting temporary server" log line to "Beginning flow run"."""
    import datetime as dt

    stamps = {}
    for line in (root / ".mlops/pipelines/bench/flow.log").read_text(errors="replace").splitlines():
        for key, marker in (("start", "Starting temporary server"), ("flow", "Beginning flow run")):
            if marker in line and key not in stamps:
                stamps[key] = dt.datetime.strptime(line.split(" | ")[0].strip(), "%H:%M:%S.%f")
    if len(stamps) < 2:
        return None
    return (stamps["flow"] - stamps["start"]).total_seconds()


def _direct(root: Path) -> float:
    started = time.perf_counter()
    for n in (1, 2, 3):
        subprocess.run([sys.executable, "steps/stage.py", str(n)], cwd=root, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from mlops_engineer.registry import load_registry
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.workspace import Workspace

    tool = load_registry().tool("orchestrate_ml_pipeline")
    print("versions:", versions(), "| prefect", __import__("importlib.metadata").metadata.version("prefect"))
    print(f"load average at start: {os.getloadavg()}")
    samples: dict[str, list[float]] = {"direct": [], "prefect": [], "prefect flow_seconds": [], "prefect overhead": [], "temporary API start": [], "cached": [], "cached overhead": []}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        (root / "steps").mkdir()
        (root / "steps" / "stage.py").write_text(STAGE)
        ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root, tracking_uri=None))
        for round_no in range(1, args.rounds + 1):
            samples["direct"].append(_direct(root))
            full = execute(tool, {"operation": {"action": "run", "spec": SPEC, "refresh": True}}, ctx).run  # type: ignore[attr-defined]
            assert full.ok and full.cached == 0, full
            samples["prefect"].append(full.wall_seconds)
            samples["prefect flow_seconds"].append(full.flow_seconds)
            samples["prefect overhead"].append(full.prefect_overhead_seconds)
            api = _api_start(root)
            if api is not None:
                samples["temporary API start"].append(api)
            cached = execute(tool, {"operation": {"action": "run", "spec": SPEC}}, ctx).run  # type: ignore[attr-defined]
            assert cached.ok and cached.cached == 3, cached
            samples["cached"].append(cached.wall_seconds)
            samples["cached overhead"].append(cached.prefect_overhead_seconds)
            print(f"round {round_no}: direct {samples['direct'][-1]:.2f} s, prefect {full.wall_seconds:.2f} s "
                  f"(flow {full.flow_seconds:.2f} s), cached {cached.wall_seconds:.2f} s", flush=True)
    print(f"load average at end: {os.getloadavg()}")
    floor = statistics.median(samples["direct"])
    print(f"\n{'what':24} {'median s':>9} {'vs direct':>10}")
    for name, values in samples.items():
        if not values:
            continue
        median = statistics.median(values)
        print(f"{name:24} {median:9.2f} {median / floor:9.1f}x")


if __name__ == "__main__":
    main()
