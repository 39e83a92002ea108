"""The serving engines without servers: schema from a signature, the rendered service, manifest validation, percentiles."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from mlops_engineer.engines.serving import bentoml_service as bs
from mlops_engineer.engines.serving.http_load import percentile
from mlops_engineer.engines.serving.k8s_manifests import validate_document, validate_yaml
from mlops_engineer.errors import ToolError
from mlops_engineer.render import render_template


def _saved_model(tmp_path: Path, frame) -> Path:  # noqa: ANN001
    import mlflow
    from sklearn.dummy import DummyClassifier

    path = tmp_path / "model"
    mlflow.sklearn.save_model(DummyClassifier().fit(frame, [0, 1, 0][: len(frame)]), str(path), input_example=frame,
                              pip_requirements=["scikit-learn==1.0"], serialization_format="cloudpickle")
    return path


def test_signature_becomes_request_fields_and_a_service_that_compiles(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"tenure months": [1, 2, 3], "charges": [1.5, 2.0, 3.25], "class": ["a", "b", "c"], "fiber": [True, False, True]})
    path = _saved_model(tmp_path, frame)
    fields, examples = bs.read_signature(path, "models:/m/1")
    assert [(f.name, f.type, f.annotation) for f in fields] == [
        ("tenure months", "long", "int"), ("charges", "double", "float"), ("class", "string", "str"), ("fiber", "boolean", "bool")]
    assert fields[0].ident.isidentifier() and fields[2].ident != "class"  # a keyword is not a field name
    assert examples[0] == {"tenure months": 1, "charges": 1.5, "class": "a", "fiber": True}
    reqs = bs.model_requirements(path)
    assert "scikit-learn==1.0" in reqs and sum(r.startswith("bentoml==") for r in reqs) == 1 and sum(r.startswith("mlflow") for r in reqs) == 1

    text = render_template("serving/service.py.j2", model_uri="models:/m/1", service_name="m", class_name="M", fields=fields,
                           columns=[f.name for f in fields], labels={"k": "v"}, workers=1, concurrency=8, timeout_seconds=30,
                           max_batch_size=16, max_latency_ms=100)
    tree = ast.parse(text)
    row = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Row")
    assert len([n for n in row.body if isinstance(n, ast.AnnAssign)]) == 4
    assert "MAX_BATCH_ROWS = 16" in text and "MAX_WAIT_SECONDS = 100 / 1000" in text and 'alias="tenure months"' in text

    # The batch becomes the frame the model was trained on: its columns, in order, in its dtypes.
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "rendered_service.py").write_text(text)
    spec = importlib.util.spec_from_file_location("rendered_service", tmp_path / "svc" / "rendered_service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["rendered_service"] = module
    spec.loader.exec_module(module)
    rows = [module.Row.model_validate(example) for example in ({**examples[0]}, {"tenure months": 7, "charges": 0.5, "class": "b", "fiber": False})]
    seen = {}

    class Model:
        def predict(self, frame: pd.DataFrame) -> list[int]:
            seen["frame"] = frame
            return [0] * len(frame)

    service = type("Service", (), {"model": Model()})()
    assert module.M.inner.predict_rows(service, rows) == [0, 0]
    frame = seen["frame"]
    assert list(frame.columns) == ["tenure months", "charges", "class", "fiber"]
    assert [str(d) for d in frame.dtypes] == ["int64", "float64", "object", "bool"]
    assert frame.to_dict("records") == [{"tenure months": 1, "charges": 1.5, "class": "a", "fiber": True},
                                        {"tenure months": 7, "charges": 0.5, "class": "b", "fiber": False}]
    _greedy_batching(module)


def _greedy_batching(module: object) -> None:
    """The rendered batcher: a lone request is computed at once; requests that arrive while the model
    computes share its next call; one that waited past the budget gets a 503; a model error reaches all."""
    import asyncio
    import threading
    import time

    from bentoml.exceptions import ServiceUnavailable

    calls: list[list[int]] = []
    gate = threading.Event()

    def predict(rows: list[int]) -> list[int]:
        calls.append(list(rows))
        if rows[0] == 0:
            gate.wait(5)  # the first call is slow: the others queue meanwhile
        if -1 in rows:
            raise ValueError("bad row")
        return [r * 10 for r in rows]

    async def scenario() -> None:
        batcher = module.GreedyBatcher(predict)  # type: ignore[attr-defined]
        started = time.monotonic()
        assert await batcher.submit([3]) == [30] and time.monotonic() - started < 0.5  # alone: no wait for company
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit([i, i + 100])) for i in (1, 2)]
        await asyncio.sleep(0.05)
        gate.set()
        assert await first == [0] and [await r for r in rest] == [[10, 1010], [20, 1020]]
        assert calls[-2:] == [[0], [1, 101, 2, 102]]  # the two that queued made one call
        failing = [asyncio.ensure_future(batcher.submit(rows)) for rows in ([-1], [5])]  # one batch: one model error
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        assert await batcher.submit([6]) == [60]  # and the next call works

    asyncio.run(scenario())
    module.MAX_WAIT_SECONDS = 0.01  # type: ignore[attr-defined]

    async def overdue() -> None:
        gate.clear()
        batcher = module.GreedyBatcher(predict)  # type: ignore[attr-defined]
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.02)
        late = asyncio.ensure_future(batcher.submit([7]))
        await asyncio.sleep(0.05)
        gate.set()
        assert await first == [0]
        try:
            await late
        except ServiceUnavailable as exc:
            assert "waited more than" in str(exc)
        else:
            raise AssertionError("a request past the latency budget is refused")

    asyncio.run(overdue())


def test_a_model_without_signature_is_refused(tmp_path: Path) -> None:
    import mlflow
    from sklearn.dummy import DummyClassifier

    mlflow.sklearn.save_model(DummyClassifier().fit([[0], [1]], [0, 1]), str(tmp_path / "m"), serialization_format="cloudpickle")
    with pytest.raises(ToolError) as err:
        bs.read_signature(tmp_path / "m", "runs:/x/m")
    assert err.value.code == "invalid_input" and "no signature" in err.value.message


@pytest.mark.parametrize("uri", ["models:/churn@champion", "models:/churn/3", "runs:/0123456789abcdef0123456789abcdef/model"])
def test_model_uris_accepted(uri: str) -> None:
    bs.check_model_uri(uri)


@pytest.mark.parametrize("uri", ["churn", "models:/churn", "models:/churn@", "s3://b/m", "runs:/short/model"])
def test_model_uris_refused(uri: str) -> None:
    with pytest.raises(ToolError) as err:
        bs.check_model_uri(uri)
    assert err.value.code == "invalid_input" and "models:/<name>@<alias>" in err.value.hint


def test_rendered_manifests_validate_and_broken_ones_do_not() -> None:
    common = dict(model_uri="models:/m@champion", name="churn", namespace="ml", image="r/churn:1", min_replicas=1, max_replicas=3,
                  memory_request="512Mi")
    text = render_template("serving/kubernetes.yaml.j2", **common, bento_tag="t", k8s_version="1.31", path="k.yaml",
                           target_cpu_percent=70, cpu_request="500m", memory_limit="1Gi")
    assert validate_yaml(text, "1.31") == (["Deployment", "Service", "HorizontalPodAutoscaler"], [])
    seldon = render_template("serving/seldon-model.yaml.j2", **common, storage_uri="s3://b/m")
    assert validate_yaml(seldon) == (["Model"], [])

    bad_deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    assert any("spec.replicas" in p for p in validate_document(bad_deploy))
    typo = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": {}, "replica": 2}}
    assert validate_document(typo), "strict validation refuses unknown fields"
    bad_seldon = {"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model", "metadata": {"name": "Bad_Name"},
                  "spec": {"storageUri": "s3://b/m", "replicas": -1, "storageURI": "typo"}}
    problems = validate_document(bad_seldon)
    assert any("metadata.name" in p for p in problems) and any("spec.replicas" in p for p in problems)
    assert any("storageURI" in p for p in problems)
    assert any("storageUri" in p for p in validate_document({**bad_seldon, "metadata": {"name": "ok"}, "spec": {}}))


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile([7.0], 99) == 7.0


def test_names() -> None:
    assert bs.slug("Churn_Classifier v2") == "churn-classifier-v2" and bs.class_name("churn-classifier") == "ChurnClassifier"
    assert bs.class_name("3d-model") == "Model3dModel"


def _real_uv() -> str:
    import os
    import shutil

    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "the tests run under uv"
    return found


def test_uv_for_bentoml_build_is_found_the_way_the_server_was_started(tmp_path: Path) -> None:
    """`bentoml build` looks for uv on PATH only; `uv run` puts it in $UV, `pip install uv` beside the interpreter."""
    import os
    import subprocess
    import sys

    uv = _real_uv()
    bare = tmp_path / "bare"  # a real environment with neither uv nor pip, as `uv venv` makes them
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    nothing = {"PATH": str(tmp_path / "empty")}

    assert bs.find_uv({"PATH": str(Path(uv).parent)}, python) == str(Path(uv).parent / "uv")
    assert bs.find_uv({**nothing, "UV": uv}, python) == uv
    with pytest.raises(ToolError) as missing:
        bs.require_uv(nothing, python)
    assert missing.value.code == "missing_dependency"
    assert "not on PATH, $UV is not set" in missing.value.message and python in missing.value.message
    assert "uv run" in missing.value.hint and f"{python} -m pip install uv" in missing.value.hint

    os.symlink(uv, bare / "bin" / "uv")  # what installing the uv package into that environment leaves
    assert bs.find_uv(nothing, python) == str(bare / "bin" / "uv")
    bs.require_uv(nothing, python)


def test_programs_of_this_environment_are_found_without_activating_it(tmp_path: Path) -> None:
    """`mlflow models serve` starts `uvicorn` by name: from a venv nobody activated, its bin folder must come first on PATH."""
    import shutil
    import sys

    bare = {"PATH": str(tmp_path)}  # a shell whose PATH does not hold this environment's bin folder
    assert shutil.which("uvicorn", path=bare["PATH"]) is None
    env = bs.with_interpreter_scripts(bare, sys.executable)
    assert shutil.which("uvicorn", path=env["PATH"]) == str(Path(sys.executable).parent / "uvicorn")
    assert env["PATH"].split(":") == [str(Path(sys.executable).parent), str(tmp_path)]
    assert bs.with_interpreter_scripts(env, sys.executable) == env  # not added twice
