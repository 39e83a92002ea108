"""containerize's parts that need no engine: the rendered Dockerfile, the build context, the inputs, skops pins."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops_engineer.engines.serving.bentoml_service import model_requirements
from mlops_engineer.engines.serving.docker_images import context_tar
from mlops_engineer.render import render_template
from mlops_engineer.tools._deploy_ml_model_serving.containerize import UV_VERSION, workspace_label
from mlops_engineer.tools._deploy_ml_model_serving.models import ServingInput


def _dockerfile(**options: object) -> str:
    values = dict(bento_tag="churn:abc", base_image="local/debian:bookworm", install_requirements=True, install_python=True,
                  host_ca=False, slim_mlflow=True, service_name="churn", model_uri="models:/churn@champion",
                  python_version="3.11", uv_version=UV_VERSION)
    return render_template("serving/Dockerfile.j2", **{**values, **options})


def test_a_debian_base_gets_python_then_the_packages_then_the_bento() -> None:
    text = _dockerfile()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "FROM local/debian:bookworm"
    assert "apt-get install -y --no-install-recommends python3 python3-venv" in text and "ENV PATH=/opt/venv/bin:$PATH" in text
    order = [text.index(s) for s in ("python3 -m venv", "COPY env/python/requirements.txt", "uv pip install", "COPY . /home/bentoml/bento")]
    assert order == sorted(order)  # packages before the bento: another model with the same pins reuses the layer
    assert f"uv=={UV_VERSION}" in text and "s/^mlflow==/mlflow-skinny==/" in text and "host-ca.crt" not in text


def test_options_change_the_dockerfile() -> None:
    plain = _dockerfile(install_python=False, slim_mlflow=False, base_image="python:3.11-slim")
    assert "apt-get" not in plain and "mlflow-skinny" not in plain and "/opt/venv" not in plain
    with_ca = _dockerfile(host_ca=True)
    assert "COPY host-ca.crt /etc/ssl/certs/mlops-host-ca.crt" in with_ca and "SSL_CERT_FILE=/etc/ssl/certs/mlops-host-ca.crt" in with_ca
    prebuilt = _dockerfile(install_requirements=False, install_python=False)
    assert "uv pip install" not in prebuilt and "already hold the bento's packages" in prebuilt


def test_the_build_context_holds_the_bento_the_extra_files_and_our_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "env/python").mkdir(parents=True)
    (tmp_path / "env/python/requirements.txt").write_text("bentoml==1.4.40\n")
    buffer = context_tar(tmp_path, "FROM scratch\n", {"host-ca.crt": b"CERT"})
    with tarfile.open(fileobj=buffer) as tar:
        names = tar.getnames()
        assert tar.extractfile("Dockerfile").read() == b"FROM scratch\n"  # type: ignore[union-attr]
        assert tar.extractfile("host-ca.crt").read() == b"CERT"  # type: ignore[union-attr]
    assert {"env/python/requirements.txt", "host-ca.crt", "Dockerfile"} <= set(names)


def test_containerize_inputs() -> None:
    op = ServingInput.model_validate({"operation": {"action": "containerize", "model_uri": "models:/churn@champion"}}).operation
    assert (op.smoke, op.network, op.install_python, op.slim_mlflow, op.host_ca_bundle) == (True, "auto", False, True, False)
    assert op.base_image == "python:3.11-slim"
    for bad in ({"network": "overlay"}, {"startup_timeout": 0}, {"base_image": "python:3.11\nRUN touch /x"}):
        with pytest.raises(ValidationError):
            ServingInput.model_validate({"operation": {"action": "containerize", "model_uri": "models:/churn@champion", **bad}})
    assert workspace_label(Path("/a")) != workspace_label(Path("/b")) and len(workspace_label(Path("/a"))) == 16


def test_a_skops_model_pins_skops(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mlflow==3.0\nscikit-learn==1.5\n")
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn:\n    serialization_format: skops\n")
    assert any(r.startswith("skops==") for r in model_requirements(tmp_path))
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn:\n    serialization_format: cloudpickle\n")
    assert not any(r.startswith("skops") for r in model_requirements(tmp_path))
