"""The shared `docker_engine` fixture itself: overlay2 daemon, the Debian base, BuildKit, Compose v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.docker_engine import DEBIAN_TAG, DockerEngine

pytestmark = pytest.mark.server


def test_daemon_uses_overlay2_and_runs_the_debian_base(docker_engine: DockerEngine) -> None:
    assert docker_engine.client().info()["Driver"] == "overlay2"
    tag = docker_engine.debian_base()
    assert tag == DEBIAN_TAG and docker_engine.debian_base() == tag  # second call: already there
    out = docker_engine.docker("run", "--rm", "--network", "none", tag, "cat", "/etc/debian_version")
    assert out.stdout.strip().startswith("12.")


def test_buildkit_build_reuses_its_cache_and_compose_v2_answers(docker_engine: DockerEngine, tmp_path: Path) -> None:
    base = docker_engine.debian_base()
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\n"
        "RUN --mount=type=cache,target=/var/cache/probe echo cached > /var/cache/probe/x && echo built > /built\n"
        "COPY note.txt /note.txt\n"
        'CMD ["cat", "/built"]\n'
    )
    (tmp_path / "note.txt").write_text("one\n")
    docker_engine.build(tmp_path, "fixture-probe:1")
    second = docker_engine.build(tmp_path, "fixture-probe:1")
    assert "CACHED" in second.stderr
    assert docker_engine.docker("run", "--rm", "fixture-probe:1").stdout.strip() == "built"
    version = docker_engine.compose("version", "--short").stdout.strip()
    assert version.split(".")[0].lstrip("v") == "2"
