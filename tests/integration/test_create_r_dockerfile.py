"""create_r_dockerfile against a real Docker engine (the shared `docker_engine` fixture): BuildKit
builds of the rendered Dockerfiles on a real Debian bookworm base, then the smoke commands run in
the images. One Python project (pip behind the host's CA, passed as a build secret) and one R
project (Debian's r-cran-jsonlite through apt). Build times are printed, never asserted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.create_r_dockerfile import TOOL
from tests.helpers import ToolRunner

pytestmark = pytest.mark.server
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def _build(tools: ToolRunner, engine: Any, **operation: Any) -> Any:
    return tools(TOOL, {"action": "build", "base_image": engine.debian_base(), "docker_host": engine.host, **operation})


def test_python_project_builds_and_imports_on_debian(tmp_path: Path, docker_engine: Any) -> None:
    tools = ToolRunner(tmp_path)
    project = tmp_path / "pyapp"
    (project / "pyapp").mkdir(parents=True)
    (project / "requirements.txt").write_text("six==1.17.0\n")
    (project / "pyproject.toml").write_text('[project]\nname = "pyapp"\nversion = "0.1.0"\n')
    (project / "pyapp/__init__.py").write_text("import six\nVERSION = six.__version__\n")
    (project / "data").mkdir()
    (project / "data/big.csv").write_text("x\n1\n")
    (tmp_path / "certs").mkdir()
    shutil.copy(HOST_CA, tmp_path / "certs/ca.crt")  # the proxy's CA: a build secret, never in the image

    out = _build(tools, docker_engine, project="pyapp", tag="pyapp:test", ca_bundle="certs/ca.crt")
    assert out.detected.python_manager == "requirements" and out.base_flavour == "debian" and out.lint.findings == []
    smoke = out.build.smoke
    assert [s.exit_code for s in smoke] == [0] and "imported: pyapp" in smoke[0].output, smoke
    print(f"\npython image: first build {out.build.seconds} s, {out.build.size_mb} MB, {out.build.cached_steps} cached steps")

    client = docker_engine.client()
    image = client.images.get("pyapp:test")
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert image.labels["org.opencontainers.image.title"] == "pyapp"
    listing = client.containers.run("pyapp:test", ["sh", "-c", "ls /app; ls /run/secrets 2>&1; id -u"], remove=True, network_mode="none").decode()
    assert "data" not in listing.split() and "pyapp" in listing and listing.strip().endswith("10001")

    # A source change: the dependency layers come from BuildKit's cache.
    (project / "pyapp/__init__.py").write_text("import six\nVERSION = six.__version__  # changed\n")
    again = _build(tools, docker_engine, project="pyapp", tag="pyapp:test", ca_bundle="certs/ca.crt")
    assert again.build.cached_steps >= 3 and again.build.smoke[0].exit_code == 0
    assert [f.action for f in again.files] == ["unchanged", "unchanged"]
    print(f"python image: rebuild after a source change {again.build.seconds} s, {again.build.cached_steps} cached steps")


def test_r_project_builds_with_debian_r_cran_packages(tmp_path: Path, docker_engine: Any) -> None:
    tools = ToolRunner(tmp_path)
    project = tmp_path / "rapp"
    (project / "R").mkdir(parents=True)
    (project / "DESCRIPTION").write_text(
        "Package: rapp\nVersion: 0.1.0\nTitle: Tiny\nDescription: Tiny.\nLicense: MIT\nImports: jsonlite\n")
    (project / "NAMESPACE").write_text("export(to_json)\n")
    (project / "R/to_json.R").write_text("to_json <- function(x) jsonlite::toJSON(x, auto_unbox = TRUE)\n")

    out = _build(tools, docker_engine, project="rapp", tag="rapp:test")
    assert "r-cran-jsonlite" in out.detected.apt_packages and out.lint.findings == []
    smoke = out.build.smoke
    assert smoke[0].exit_code == 0 and "loaded 2 package(s)" in smoke[0].output, smoke
    print(f"\nR image: first build {out.build.seconds} s, {out.build.size_mb} MB")
    result = docker_engine.client().containers.run(
        "rapp:test", ["Rscript", "-e", "cat(rapp::to_json(list(ok = TRUE)), \"\\n\")"], remove=True, network_mode="none").decode()
    assert result.strip().endswith('{"ok":true}'), result

    # A smoke command that fails is reported as a failure, with its output.
    with pytest.raises(ToolError) as err:
        _build(tools, docker_engine, project="rapp", tag="rapp:test", smoke=["Rscript", "-e", "library(notapackage)"])
    assert err.value.code == "failed" and "notapackage" in err.value.message
