"""What `version_ml_data` adds on top of DVC: the tool, DVC's Python API and the `dvc` command
line doing the same work on identical copies of one project.

Each round copies a template project (git + DVC initialised, a local remote in
`.mlops/dvc-remote`, a CSV of --mb megabytes and a folder of --files small files, a two-stage
dvc.yaml already reproduced) three times, one copy per side, then times on each side:

- track+push: `dvc add` of the CSV and the folder, then `dvc push` to the local remote;
- status:     data status with the not-pushed check (after the push: everything clean);
- repro:      `dvc repro` with nothing changed (every stage skipped).

Sides:
- tool: `version_ml_data` in this process through `runtime.execute` (validation, path checks,
        the stdout guard, our status bookkeeping), DVC already imported;
- api:  `dvc.repo.Repo` calls in this process (the same DVC work, none of ours);
- cli:  `dvc add`/`dvc push`, `dvc data status --not-in-remote`, `dvc repro` as processes,
        as a person would run them (each pays Python and DVC start-up).

Sides run interleaved, in a rotating order, after one warm-up round. Medians, and the
ratios tool/api and tool/cli. Nothing is asserted.

    uv run --all-extras python benchmarks/dvc_overhead.py [--rounds 7] [--mb 20] [--files 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import versions

BIN = Path(sys.executable).parent
OPS = ("track+push", "status", "repro")
SIDES = ("tool", "api", "cli")


def make_template(root: Path, mb: int, files: int) -> None:
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.version_ml_data import TOOL
    from mlops_engineer.workspace import Workspace

    root.mkdir(parents=True)
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
    execute(TOOL, {"operation": {"action": "init"}, "confirm": True}, ctx)
    (root / "data/parts").mkdir(parents=True)
    line = "".join(f"{i},{i * 0.5:.3f},label-{i % 7}\n" for i in range(200))
    with open(root / "data/big.csv", "w") as f:
        while f.tell() < mb * 1024 * 1024:
            f.write(line)
    for i in range(files):
        (root / f"data/parts/part-{i:04d}.txt").write_text(f"part {i}\n" * 200)
    (root / "step.py").write_text("import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n")
    (root / "src.txt").write_text("source\n")
    stages = [
        {"name": "one", "cmd": "python step.py src.txt one.txt", "deps": ["src.txt", "step.py"], "outs": ["one.txt"]},
        {"name": "two", "cmd": "python step.py one.txt two.txt", "deps": ["one.txt", "step.py"], "outs": ["two.txt"]},
    ]
    execute(TOOL, {"operation": {"action": "write_pipeline", "stages": stages}}, ctx)
    execute(TOOL, {"operation": {"action": "repro", "git_commit": "template"}}, ctx)


def run_tool(root: Path, op: str) -> None:
    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.version_ml_data import TOOL
    from mlops_engineer.workspace import Workspace

    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
    if op == "track+push":
        execute(TOOL, {"operation": {"action": "track", "paths": ["data/big.csv", "data/parts"]}}, ctx)
        execute(TOOL, {"operation": {"action": "push"}}, ctx)
    elif op == "status":
        out = execute(TOOL, {"operation": {"action": "status"}}, ctx)
        assert out.status.clean, out.status  # type: ignore[attr-defined]
    else:
        out = execute(TOOL, {"operation": {"action": "repro"}}, ctx)
        assert all(s.status == "skipped" for s in out.stages), out.stages  # type: ignore[attr-defined]


def run_api(root: Path, op: str) -> None:
    from dvc.repo import Repo

    cwd = os.getcwd()
    os.chdir(root)  # what the dvc command line does; the tool does the same
    try:
        with Repo(str(root)) as repo:
            if op == "track+push":
                repo.add([str(root / "data/big.csv"), str(root / "data/parts")])
                repo.push()
            elif op == "status":
                repo.data_status(not_in_remote=True, remote_refresh=True)
                repo.status()
            else:
                repo.reproduce([str(root / "dvc.yaml")])
    finally:
        os.chdir(cwd)


def run_cli(root: Path, op: str) -> None:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    commands = {
        "track+push": [["dvc", "add", "-q", "data/big.csv", "data/parts"], ["dvc", "push", "-q"]],
        "status": [["dvc", "data", "status", "--not-in-remote"], ["dvc", "status", "-q"]],
        "repro": [["dvc", "repro", "-q"]],
    }[op]
    for cmd in commands:
        subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=root, env=env, check=True, capture_output=True)


RUNNERS = {"tool": run_tool, "api": run_api, "cli": run_cli}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mb", type=int, default=20, help="size of the CSV")
    parser.add_argument("--files", type=int, default=200, help="files in the folder")
    args = parser.parse_args()

    import dvc.repo  # noqa: F401 - paid once, outside the timings (the cli side pays it every call)

    from mlops_engineer.engines.dvc.repo import load

    load()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in {**versions(), "dvc": _dvc_version()}.items()))
    print(f"machine: nproc {len(os.sched_getaffinity(0))}, {platform.machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"project: one {args.mb} MB CSV + a folder of {args.files} files, two pipeline stages; {args.rounds} rounds + 1 warm-up")
    times: dict[tuple[str, str], list[float]] = {(s, o): [] for s in SIDES for o in OPS}
    with tempfile.TemporaryDirectory(prefix="dvc-bench-") as tmp:
        template = Path(tmp) / "template"
        make_template(template, args.mb, args.files)
        for rnd in range(args.rounds + 1):
            order = SIDES[rnd % 3:] + SIDES[: rnd % 3]
            for side in order:
                root = Path(tmp) / f"r{rnd}-{side}"
                shutil.copytree(template, root, symlinks=True)
                for op in OPS:
                    start = time.perf_counter()
                    RUNNERS[side](root, op)
                    if rnd:
                        times[(side, op)].append(time.perf_counter() - start)
                shutil.rmtree(root)
            if rnd:
                print(f"  round {rnd}: " + "  ".join(f"{s}/{o} {times[(s, o)][-1]:.2f}s" for s in SIDES for o in OPS), flush=True)
    print(f"\n{'operation':<12} " + " ".join(f"{s + ' (s)':>10}" for s in SIDES) + f" {'tool/api':>9} {'tool/cli':>9}")
    for op in OPS:
        med = {s: statistics.median(times[(s, op)]) for s in SIDES}
        print(f"{op:<12} " + " ".join(f"{med[s]:>10.3f}" for s in SIDES) + f" {med['tool'] / med['api']:>8.2f}x {med['tool'] / med['cli']:>8.2f}x")
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _dvc_version() -> str:
    from importlib import metadata

    return metadata.version("dvc")


if __name__ == "__main__":
    sys.exit(main())
