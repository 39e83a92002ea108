"""Cold start of `mlops-engineer serve` (stdio) against a one-tool floor server on the same SDK.

For every round, each server is spawned fresh through the SDK's stdio client and timed:

- spawn -> `initialize` answer,
- spawn -> full `tools/list` answer,
- the server process's peak RSS (VmHWM from /proc/<pid>/status, read just before closing)
  and its CPU time (user + system, from /proc/<pid>/stat) by then,
- the size of the `tools/list` answer (its JSON, by alias, without nulls).

Linux only (it reads /proc).

Rounds interleave the servers (and alternate which goes first) so both share the
machine's noise. Timings are printed, never asserted.

    uv run --all-extras python benchmarks/coldstart.py [--rounds 10] [--other PATH/bin/mlops-engineer] [--with-mlflow-mcp]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import anyio
from _common import versions
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

# The venv's interpreter: benchmarks are meant to be run with `uv run python ...`.
PYTHON = sys.executable
BIN = Path(sys.executable).parent


def _console_script(name: str, module: str) -> list[str]:
    """`<venv>/bin/<name>` (its shebang is this interpreter), else `python -m <module>`."""
    script = BIN / name
    return [str(script)] if script.exists() else [PYTHON, "-m", module]


FLOOR_SOURCE = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("floor")


    @mcp.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text


    if __name__ == "__main__":
        mcp.run()
    '''
)

# Targets: tools/list within 1.1x the floor's time (issue 9, with the compact catalogue), RSS within 40 MB of it.
TARGET_TIME_RATIO = 1.1
TARGET_RSS_DELTA_MB = 40.0


@dataclass
class Sample:
    server: str
    round: int
    initialize_s: float
    tools_list_s: float
    peak_rss_mb: float
    cpu_s: float  # user + sys CPU time of the server process by the tools/list answer
    tools_list_bytes: int
    tools: int
    processes: int  # the server process plus any children it started


def _params(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=argv[0], args=argv[1:], cwd=str(cwd), env=env)


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3, `state`, is index 0)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:  # field 4: ppid
                    found.add(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [pid], [pid]
    while todo:
        children = _children(todo.pop())
        pids += sorted(children)
        todo += sorted(children)
    return pids


async def measure(name: str, params: StdioServerParameters, round_no: int, errlog: TextIO) -> Sample:
    before = _children(os.getpid())
    with anyio.fail_after(180):
        start = time.perf_counter()
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                t_init = time.perf_counter() - start
                listing = await session.list_tools()
                t_list = time.perf_counter() - start
                # The server is the one child of ours that was not there before the spawn
                # (the stdio client execs the command directly, without a shell).
                new = _children(os.getpid()) - before
                if len(new) != 1:
                    raise RuntimeError(f"expected one new child process, found {sorted(new)}")
                tree = _tree(new.pop())
                peak_kb, cpu = 0, 0.0
                for pid in tree:
                    try:
                        peak_kb += _vm_hwm_kb(pid)
                        cpu += _cpu_seconds(pid)
                    except (FileNotFoundError, ProcessLookupError):
                        pass
                size = len(listing.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))
    return Sample(name, round_no, t_init, t_list, peak_kb / 1024, cpu, size, len(listing.tools), len(tree))


def _median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


def _table(by_server: dict[str, list[Sample]], reference: str) -> str:
    ref = by_server[reference]
    lines = [
        f"{'server':<18} {'n':>3} {'initialize s':>13} {'tools/list s':>13} {'min/max list s':>15} "
        f"{'CPU s':>6} {'peak RSS MB':>12} {'list bytes':>11} {'tools':>6}",
    ]
    for name, samples in by_server.items():
        lo = min(s.tools_list_s for s in samples)
        hi = max(s.tools_list_s for s in samples)
        lines.append(
            f"{name:<18} {len(samples):>3} {_median(samples, 'initialize_s'):>13.3f} "
            f"{_median(samples, 'tools_list_s'):>13.3f} {f'{lo:.2f}/{hi:.2f}':>15} "
            f"{_median(samples, 'cpu_s'):>6.2f} {_median(samples, 'peak_rss_mb'):>12.1f} "
            f"{int(_median(samples, 'tools_list_bytes')):>11} "
            f"{samples[0].tools:>6}"
        )
    lines.append("")
    lines.append(
        f"{'vs ' + reference:<18} {'initialize x':>13} {'tools/list x':>13} {'paired list x':>14} "
        f"{'list +ms':>9} {'CPU x':>6} {'RSS +MB':>8} {'list bytes x':>13}"
    )
    for name, samples in by_server.items():
        if name == reference:
            continue
        lines.append(
            f"{name:<18} {_median(samples, 'initialize_s') / _median(ref, 'initialize_s'):>13.2f} "
            f"{_median(samples, 'tools_list_s') / _median(ref, 'tools_list_s'):>13.2f} "
            f"{_paired_ratio(samples, ref):>14.2f} "
            f"{(_median(samples, 'tools_list_s') - _median(ref, 'tools_list_s')) * 1000:>9.0f} "
            f"{_median(samples, 'cpu_s') / _median(ref, 'cpu_s'):>6.2f} "
            f"{_median(samples, 'peak_rss_mb') - _median(ref, 'peak_rss_mb'):>8.1f} "
            f"{_median(samples, 'tools_list_bytes') / _median(ref, 'tools_list_bytes'):>13.1f}"
        )
    lines.append(
        "(x = ratio of the medians; paired x = median over rounds of the ratio within a round, "
        "where both ran back to back: steadier under load; CPU s = the server's user+sys time by its "
        "tools/list answer, which other load on the machine inflates less than wall time)"
    )
    return "\n".join(lines)


def _paired_ratio(samples: list[Sample], ref: list[Sample]) -> float:
    ref_by_round = {s.round: s.tools_list_s for s in ref}
    return statistics.median(s.tools_list_s / ref_by_round[s.round] for s in samples if s.round in ref_by_round)



async def main_async(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mlops-coldstart-"))
    try:
        floor = tmp / "floor_server.py"
        floor.write_text(FLOOR_SOURCE, "utf-8")
        workspace = tmp / "workspace"
        workspace.mkdir()
        errlog_path = tmp / "servers.stderr"
        servers: dict[str, StdioServerParameters] = {
            "mlops-engineer": _params(
                [*_console_script("mlops-engineer", "mlops_engineer"), "--workspace", str(workspace), "serve"],
                cwd=workspace,
            ),
            "floor": _params([PYTHON, str(floor)], cwd=workspace),
        }
        if args.other:
            # Another build of this server (e.g. a checkout of an earlier commit), for before/after figures.
            # Its own catalog cache: older builds evict every other cache file they find.
            servers["other build"] = _params(
                [args.other, "--workspace", str(workspace), "serve"], cwd=workspace,
                env={"MLOPS_ENGINEER_CACHE_DIR": str(tmp / "other-build-cache")},
            )
        if args.with_mlflow_mcp:
            # `mlflow mcp run` needs MLflow's `mcp` extra (fastmcp), which this project does not
            # install; --mlflow-python points at an interpreter that has it.
            python = args.mlflow_python or PYTHON
            check = subprocess.run([python, "-c", "import fastmcp, mlflow"], capture_output=True, text=True)
            if check.returncode == 0:
                servers["mlflow mcp run"] = _params(
                    [python, "-m", "mlflow", "mcp", "run"],
                    cwd=workspace,
                    env={"MLFLOW_TRACKING_URI": f"sqlite:///{workspace / 'mlflow-ref.db'}"},
                )
            else:
                print(f"skipping `mlflow mcp run`: {python} cannot import fastmcp/mlflow "
                      "(see benchmarks/README.md for --mlflow-python)\n")

        print(f"python: {PYTHON}")
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
        print(f"machine: {os.cpu_count()} cpus (nproc {len(os.sched_getaffinity(0))}), {platform.machine()}, "
              f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"rounds: {args.warmup} warm-up (not counted) + {args.rounds}, interleaved\n")

        names = list(servers)
        by_server: dict[str, list[Sample]] = {n: [] for n in names}
        with errlog_path.open("w") as errlog:
            for round_no in range(-args.warmup, args.rounds):
                # Alternate the order so neither server always runs right after the other.
                order = names if round_no % 2 == 0 else list(reversed(names))
                for name in order:
                    try:
                        sample = await measure(name, servers[name], round_no, errlog)
                    except Exception as exc:
                        errlog.flush()
                        print(f"{name}: round {round_no} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                        print(errlog_path.read_text()[-4000:], file=sys.stderr)
                        return 1
                    counted = round_no >= 0
                    if counted:
                        by_server[name].append(sample)
                    if args.verbose:
                        print(f"  {'' if counted else '(warm-up) '}{name:<16} round {round_no:>2}: "
                              f"init {sample.initialize_s:.3f}s list {sample.tools_list_s:.3f}s "
                              f"cpu {sample.cpu_s:.2f}s rss {sample.peak_rss_mb:.1f}MB procs {sample.processes}")

        print(_table(by_server, "floor"))
        ours, ref = by_server["mlops-engineer"], by_server["floor"]
        ratio = _median(ours, "tools_list_s") / _median(ref, "tools_list_s")
        paired = _paired_ratio(ours, ref)
        delta = _median(ours, "peak_rss_mb") - _median(ref, "peak_rss_mb")
        if max(ratio, paired) <= TARGET_TIME_RATIO:
            verdict = "met"
        elif min(ratio, paired) > TARGET_TIME_RATIO:
            verdict = "NOT met"
        else:
            verdict = "borderline: the two estimates disagree"
        print(
            f"\ntarget: tools/list <= {TARGET_TIME_RATIO}x floor -> {ratio:.2f}x of medians, {paired:.2f}x paired "
            f"({verdict}); "
            f"RSS <= floor + {TARGET_RSS_DELTA_MB:.0f} MB -> +{delta:.1f} MB "
            f"({'met' if delta <= TARGET_RSS_DELTA_MB else 'NOT met'})"
        )
        print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "versions": versions(),
                        "load_end": os.getloadavg(),
                        "samples": [asdict(s) for samples in by_server.values() for s in samples],
                    },
                    indent=2,
                )
            )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="Counted rounds per server (default 10).")
    parser.add_argument(
        "--warmup", type=int, default=1, help="Uncounted rounds first, to warm the disk cache (default 1)."
    )
    parser.add_argument("--with-mlflow-mcp", action="store_true", help="Also measure `mlflow mcp run` as a reference.")
    parser.add_argument(
        "--mlflow-python", help="Interpreter with `mlflow[mcp]` installed, for --with-mlflow-mcp (default: this one)."
    )
    parser.add_argument(
        "--other", help="The mlops-engineer console script of another build, measured in the same rounds (before/after)."
    )
    parser.add_argument("--json", help="Also write every sample to this JSON file.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print every sample.")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
