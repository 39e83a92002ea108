"""optimize_docker_build_cache `measure` on the real engine (the `docker_engine` fixture, BuildKit)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.locks import owner
from mlops_engineer.tools.optimize_docker_build_cache import TOOL
from tests.fixtures.docker_engine import DockerEngine
from tests.helpers import ToolRunner

pytestmark = pytest.mark.server

# A stand-in for pip (the Debian base has no Python): it takes a second, records what it
# "installed", and leaves 2 MB that a later RUN deletes (wasted bytes).
FAKE_PIP = """#!/bin/sh
sleep 1
mkdir -p /opt/site
cat "$3" > /opt/site/installed.txt
head -c 2000000 /dev/zero > /opt/site/build-leftovers.bin
"""


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_measure_before_and_after_the_rewrite(docker_engine: DockerEngine, tmp_path: Path) -> None:
    base = docker_engine.debian_base()
    project = tmp_path / "svc"
    (project / "app").mkdir(parents=True)
    (project / "app" / "main.py").write_text("print('serving')\n")
    (project / "requirements.txt").write_text("six==1.16.0\n")
    (project / "fakepip.sh").write_text(FAKE_PIP)
    (project / "fakepip.sh").chmod(0o755)
    (project / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY fakepip.sh /usr/local/bin/pip\n"
        "WORKDIR /app\n"
        "COPY . /app\n"
        "RUN pip install -r requirements.txt\n"
        "RUN rm -f /opt/site/build-leftovers.bin\n"
        'CMD ["cat", "/opt/site/installed.txt"]\n'
    )
    tools = ToolRunner(tmp_path)
    # What a killed measure leaves: a scratch copy whose owner process is gone.
    stale = tmp_path / ".mlops" / "tmp" / "docker-cache-dead"
    stale.mkdir(parents=True)
    (stale / "owner").write_text(owner(_dead_pid()))
    out = tools(TOOL, {"action": "measure", "dockerfile": "svc/Dockerfile", "docker_host": docker_engine.host,
                       "docker_cli": docker_engine.docker_cli, "network": "none"})
    original, rewritten = out.measurements
    assert (original.variant, rewritten.variant) == ("original", "rewritten") and out.changed_file == "app/main.py"
    # Warm: nothing changed, every step reused.
    assert original.reused_on_warm == original.steps and rewritten.reused_on_warm == rewritten.steps
    # After the source change the original re-runs the install; the rewrite reuses it.
    assert rewritten.reused_on_rebuild > original.reused_on_rebuild
    assert original.wasted_bytes >= 2_000_000 and original.image_bytes > 50_000_000
    assert out.rebuild_speedup is not None and out.rebuild_speedup > 1
    assert any("cache mount for pip" in c for c in out.changes)
    assert any("docker-cache-dead" in r for r in out.recovered) and not stale.exists()
    # The user's context is untouched; the scratch copy is gone; no probe image is left.
    assert (project / "app" / "main.py").read_text() == "print('serving')\n"
    assert not list((tmp_path / ".mlops" / "tmp").iterdir())
    assert not [t for i in docker_engine.client().images.list() for t in i.tags if t.startswith("mlops-cache-probe")]


def test_measure_without_an_engine_says_how_to_reach_one(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (tmp_path / "main.py").write_text("x = 1\n")
    with pytest.raises(ToolError) as err:
        ToolRunner(tmp_path)(TOOL, {"action": "measure", "docker_host": f"unix://{tmp_path}/none.sock", "docker_cli": "/usr/bin/docker"})
    assert err.value.code == "backend_unreachable" and "docker_host" in err.value.hint
