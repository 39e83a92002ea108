"""Build-cache figures for optimize_docker_build_cache on the real engine.

A sample ML service (a requirements file pip-installing small wheels from the package index,
sources, a data folder, a typical Dockerfile that copies everything before installing) is
measured with the tool's `measure` action: cold build, warm rebuild, rebuild after one source
file changes, for the original and the rewritten Dockerfile, `--repeats` times. Prints medians
and the rebuild ratio.

    uv run --all-extras python benchmarks/docker_cache.py [--repeats 3] [--docker-host unix://...]

Without --docker-host it starts a private dockerd (overlay2) and a Debian bookworm base the way
the tests do (tests/fixtures/docker_engine.py), then builds a Python base from it once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PYTHON_BASE = "local/python:bookworm"
REQUIREMENTS = "six==1.16.0\nidna==3.7\ncertifi==2024.8.30\ncharset-normalizer==3.3.2\nurllib3==2.2.3\nrequests==2.32.3\n"
DOCKERFILE = f"""FROM {PYTHON_BASE}
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_BREAK_SYSTEM_PACKAGES=1
COPY ca-certificates.crt /etc/ssl/certs/host-ca.crt
WORKDIR /app
COPY . /app
RUN pip install -r requirements.txt
CMD ["python3", "-m", "app.main"]
"""


def make_project(root: Path) -> None:
    import shutil

    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "main.py").write_text("import requests\n\nprint('serving with requests', requests.__version__)\n")
    (root / "app" / "features.py").write_text("def scale(x):\n    return x / 10\n")
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "data").mkdir()
    (root / "data" / "train.parquet").write_bytes(b"\0" * 5_000_000)
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", root / "ca-certificates.crt")
    (root / "Dockerfile").write_text(DOCKERFILE)


def ensure_python_base(engine) -> None:  # type: ignore[no-untyped-def]
    try:
        engine.client().images.get(PYTHON_BASE)
        return
    except Exception:
        pass
    base = engine.debian_base()
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "Dockerfile").write_text(
            f"FROM {base}\nRUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip "
            "&& rm -rf /var/lib/apt/lists/*\n")
        engine.build(folder, PYTHON_BASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docker-host", default=None, help="use this engine (it must have %s)" % PYTHON_BASE)
    args = parser.parse_args()

    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.optimize_docker_build_cache import TOOL
    from mlops_engineer.workspace import Workspace

    started = None
    if args.docker_host is None:
        from tests.fixtures.docker_engine import start_docker_engine, stop_docker_engine

        engine, proc = start_docker_engine()
        started = (engine.base_dir, proc)
        ensure_python_base(engine)
        host, cli = engine.host, engine.docker_cli
    else:
        host, cli = args.docker_host, None
    try:
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            make_project(root / "svc")
            ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
            for n in range(args.repeats):
                operation = {"action": "measure", "dockerfile": "svc/Dockerfile", "changed_file": "app/features.py",
                             "network": "host", "docker_host": host}
                if cli:
                    operation["docker_cli"] = cli
                out = execute(TOOL, {"operation": operation}, ctx)
                runs.append(out)
                print(f"run {n + 1}: " + TOOL.summarize(out), flush=True)
    finally:
        if started is not None:
            stop_docker_engine(*started)

    print("\nmedians over", len(runs), "runs (seconds; bytes)")
    print(f"{'variant':<10} {'cold':>7} {'warm':>7} {'rebuild':>8} {'reused':>7} {'image MB':>9} {'wasted MB':>10}")
    medians = {}
    for k, variant in enumerate(("original", "rewritten")):
        rows = [r.measurements[k] for r in runs]
        med = {f: statistics.median(getattr(x, f) for x in rows) for f in
               ("cold_seconds", "warm_seconds", "rebuild_seconds", "reused_on_rebuild", "steps", "image_bytes", "wasted_bytes")}
        medians[variant] = med
        print(f"{variant:<10} {med['cold_seconds']:>7.2f} {med['warm_seconds']:>7.2f} {med['rebuild_seconds']:>8.2f} "
              f"{int(med['reused_on_rebuild'])}/{int(med['steps']):<5} {med['image_bytes'] / 1e6:>9.1f} {med['wasted_bytes'] / 1e6:>10.2f}")
    ratio = medians["original"]["rebuild_seconds"] / medians["rewritten"]["rebuild_seconds"]
    print(f"\nrebuild after a one-file source change: {ratio:.1f}x faster after the rewrite")


if __name__ == "__main__":
    main()
