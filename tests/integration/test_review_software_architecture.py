"""review_software_architecture on real codebases: the installed optuna and feast read in place,
a copy of optuna with injected violations, and this project. lint-imports is the oracle: our
check must hold every contract verdict, pair and import it reports."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.review_software_architecture import TOOL
from tests.helpers import ToolRunner

REPO = Path(__file__).resolve().parents[2]

OPTUNA_CONTRACTS = """\
[importlinter]
root_package = optuna

[importlinter:contract:foundations]
name = Optuna foundations
type = layers
layers =
    optuna._transform
    optuna.distributions
    optuna._deprecated
    optuna._experimental
    optuna._warnings | optuna.exceptions | optuna.logging

[importlinter:contract:core]
name = Optuna core layers
type = layers
layers =
    optuna.visualization
    optuna.study
    optuna.samplers
    optuna.storages
    optuna.trial
    optuna.distributions

[importlinter:contract:no_study_below]
name = Foundations import no study machinery
type = forbidden
source_modules =
    optuna.distributions
    optuna.exceptions
    optuna.logging
forbidden_modules =
    optuna.study
    optuna.storages
    optuna.samplers

[importlinter:contract:leaves]
name = Leaf modules independent
type = independence
modules =
    optuna.exceptions
    optuna.logging
    optuna.version
"""

FEAST_CONTRACTS = """\
[importlinter]
root_package = feast

[importlinter:contract:servers]
name = Feast servers on top of the store
type = layers
layers =
    feast.feature_server | feast.registry_server | feast.offline_server
    feast.feature_store
    feast.infra
    feast.feature_view
    feast.entity
    feast.value_type

[importlinter:contract:protos]
name = Generated protos import no feast logic
type = forbidden
source_modules =
    feast.protos
forbidden_modules =
    feast.feature_store
    feast.infra
    feast.repo_config

[importlinter:contract:independent]
name = UI and transformation servers independent
type = independence
modules =
    feast.ui_server
    feast.transformation_server
"""

INJECTED_CONTRACT = """
[importlinter:contract:serving]
name = Serving does not import training
type = forbidden
source_modules =
    optuna.serving
forbidden_modules =
    optuna.training
"""


def _check(tools: ToolRunner, config: str, text: str, **target: str):  # noqa: ANN202
    (tools.root / config).write_text(text)
    return tools(TOOL, {"action": "check", "config": config}, **target)


def _assert_agrees(out) -> None:  # noqa: ANN001
    for row in out.contracts:
        assert row.lint_imports_kept is not None, row.name
        assert row.agrees, (row.name, row.missing)
        assert row.kept == row.lint_imports_kept
        pairs, imports = row.found_of_lint_imports.split(", ")
        assert pairs.split()[0].split("/")[0] == pairs.split()[0].split("/")[1], row
        assert imports.split()[0].split("/")[0] == imports.split()[0].split("/")[1], row


@pytest.mark.parametrize(("package", "contracts", "verdicts"), [
    ("optuna", OPTUNA_CONTRACTS, {"Optuna foundations": True, "Optuna core layers": False,
                                  "Foundations import no study machinery": True, "Leaf modules independent": True}),
    ("feast", FEAST_CONTRACTS, {"Feast servers on top of the store": False, "Generated protos import no feast logic": True,
                                "UI and transformation servers independent": False}),
])
def test_installed_packages_agree_with_lint_imports(tmp_path: Path, package: str, contracts: str, verdicts: dict[str, bool]) -> None:
    tools = ToolRunner(tmp_path)
    out = _check(tools, ".importlinter", contracts, package=package)
    assert out.origin == "installed"
    assert {r.name: r.kept for r in out.contracts} == verdicts
    _assert_agrees(out)
    broken = [r for r in out.contracts if not r.kept]
    assert broken and all(r.lint_imports_pairs > 0 and r.lint_imports_imports > 0 for r in broken)
    # Every broken pair is a finding with its chain and a command that reproduces it.
    findings = json.loads((tmp_path / f".mlops/review/architecture/{package}/contracts/findings.json").read_text())
    assert len(findings) == sum(len(r.broken_pairs) for r in broken)
    assert all(f["check"] == "architecture.contract_broken" and f["evidence"]["command"].startswith("lint-imports") for f in findings)
    # Nothing was written beside the installed package.
    assert not (Path(sys.prefix) / ".import_linter_cache").exists()


@pytest.mark.parametrize("package", ["optuna", "feast"])
def test_review_of_installed_package_is_stable(tmp_path: Path, package: str) -> None:
    tools = ToolRunner(tmp_path)
    first = tools(TOOL, {"action": "review", "report": "docs/review.md"}, package=package)
    folder = tmp_path / f".mlops/review/architecture/{package}"
    snapshot = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    second = tools(TOOL, {"action": "review", "report": "docs/review.md"}, package=package)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == snapshot
    assert first.model_dump() == second.model_dump()
    assert len(first.layers) >= 3 and first.modules > 150
    checks = {f["check"] for f in json.loads(snapshot["findings.json"])}
    assert {"architecture.layer_violation", "architecture.large_module"} <= checks
    report = (tmp_path / "docs/review.md").read_text()
    assert "```mermaid" in report and "flowchart TB" in report and report == snapshot["report.md"].decode()
    for f in json.loads(snapshot["findings.json"]):
        assert f["evidence"]["command"] and f["fix"], f
        if f["check"] in ("architecture.layer_violation", "architecture.cycle"):
            # The cited line really imports what the finding says.
            file = Path(importlib.util.find_spec(package).origin).parents[1] / f["evidence"]["file"]
            line = file.read_text().splitlines()[f["evidence"]["line"] - 1]
            assert "import" in line, (f["evidence"], line)
    modules = list(csv.DictReader((folder / "modules.csv").open()))
    assert len(modules) == first.modules and all(int(m["lines"]) >= 0 for m in modules)


def _inject(root: Path) -> Path:
    """A copy of optuna with a new cycle, a layer skipped, serving importing training, and
    what import-linter cannot express: a model importing the web layer, a secret read outside config."""
    import optuna

    package = root / "src" / "optuna"
    shutil.copytree(Path(optuna.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    # A new cycle: exceptions <-> distributions.
    with (package / "exceptions.py").open("a") as handle:
        handle.write("\nfrom optuna.distributions import BaseDistribution  # injected cycle\n")
    # A layer skipped: the bottom layer imports the top one, over three layers.
    with (package / "logging.py").open("a") as handle:
        handle.write("\nimport optuna._transform  # injected layer skip\n")
    for folder, files in {
        "training": {"loop.py": "def fit_model():\n    return 'fitted'\n"},
        "serving": {"app.py": "import os\n\nfrom optuna.training.loop import fit_model\n\nTOKEN = os.environ['OPTUNA_SERVING_TOKEN']\n\n\ndef predict():\n    return fit_model()\n"},
        "web": {"routes.py": "import fastapi\n\nrouter = fastapi.APIRouter()\n"},
        "models": {"net.py": "from optuna.web import routes\n"},
    }.items():
        (package / folder).mkdir()
        (package / folder / "__init__.py").write_text("")
        for name, text in files.items():
            (package / folder / name).write_text(text)
    return package


def test_injected_violations_reported_with_everything_lint_imports_reports(tmp_path: Path) -> None:
    _inject(tmp_path)
    tools = ToolRunner(tmp_path)
    out = _check(tools, ".importlinter", OPTUNA_CONTRACTS + INJECTED_CONTRACT, path="src/optuna")
    assert out.origin == "workspace"
    _assert_agrees(out)
    verdicts = {r.name: r.kept for r in out.contracts}
    assert verdicts == {"Optuna foundations": False, "Optuna core layers": False, "Foundations import no study machinery": True,
                        # logging -> _transform -> distributions -> exceptions: the skip also joins two leaves.
                        "Leaf modules independent": False, "Serving does not import training": False}
    foundations = next(r for r in out.contracts if r.name == "Optuna foundations")
    # The cycle (exceptions -> distributions) and the skip (logging -> _transform), as lint-imports says.
    assert {"optuna.exceptions -> optuna.distributions", "optuna.logging -> optuna._transform"} <= set(foundations.broken_pairs)
    # lint-imports itself, run by hand the way the output says, reports the same contracts broken.
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), ".importlinter", "--no-cache"], cwd=tmp_path,
                         env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin", "COLUMNS": "1000"}, capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "Serving does not import training BROKEN" in run.stdout
    assert out.lint_imports_command == "PYTHONPATH=src lint-imports .importlinter --no-cache"

    review = tools(TOOL, {"action": "review", "severity": "low"}, path="src/optuna")
    findings = json.loads((tmp_path / ".mlops/review/architecture/optuna/findings.json").read_text())
    by_check: dict[str, list[dict]] = {}
    for f in findings:
        by_check.setdefault(f["check"], []).append(f)
    serving = by_check["architecture.serving_imports_training"]
    assert [(f["severity"], f["evidence"]["file"], f["evidence"]["line"]) for f in serving] == [("high", "src/optuna/serving/app.py", 3)]
    web = [f for f in by_check["architecture.model_imports_web"] if "optuna.web" in f["title"]]
    assert web and web[0]["evidence"]["file"] == "src/optuna/models/net.py"
    assert any("fastapi" in f["title"] for f in by_check["architecture.model_imports_web"])
    secret = [f for f in by_check["architecture.config_scattered"] if f["evidence"]["file"] == "src/optuna/serving/app.py"]
    assert secret and secret[0]["severity"] == "medium" and secret[0]["evidence"]["line"] == 5
    # The new cycle is shown with its import lines, whichever of its imports grimp nominates to break it.
    injected_line = (tmp_path / "src/optuna/exceptions.py").read_text().count("\n")
    cycles = [f for f in by_check["architecture.layer_violation"] + by_check.get("architecture.cycle", [])
              if re.search(rf"optuna\.exceptions \([l., 0-9]+\) -> optuna\.distributions \(l\.{injected_line}\)", f["evidence"]["detail"])]
    assert cycles, [f["evidence"]["detail"] for f in by_check["architecture.layer_violation"]]
    assert review.findings_total == len(findings)


def test_propose_contracts_needs_confirm_then_lint_imports_verifies(tmp_path: Path) -> None:
    _inject(tmp_path)
    tools = ToolRunner(tmp_path)
    plan = tools(TOOL, {"action": "propose_contracts"}, path="src/optuna")
    assert plan.dry_run and not (tmp_path / ".importlinter").exists()
    assert "type = layers" in plan.config_text and "Serving does not import training or notebooks" in plan.config_text
    assert all(r.lint_imports_kept is None for r in plan.contracts)
    done = tools(TOOL, {"action": "propose_contracts"}, path="src/optuna", confirm=True)
    assert (tmp_path / ".importlinter").read_text() == plan.config_text
    _assert_agrees(done)
    serving = next(r for r in done.contracts if r.name.startswith("Serving"))
    assert not serving.kept and serving.broken_pairs == ["optuna.serving -> optuna.training"]


def test_this_project(tmp_path: Path) -> None:
    """The review of server/mlops_engineer (a copy, with this repository's tests beside it)."""
    shutil.copytree(REPO / "server" / "mlops_engineer", tmp_path / "server" / "mlops_engineer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__", "node_modules", "ts"))
    tools = ToolRunner(tmp_path)
    out = tools(TOOL, {"action": "review", "report": "docs/architecture-review.md"}, path="server/mlops_engineer")
    assert out.package == "mlops_engineer" and out.origin == "workspace" and out.modules > 100
    report = (tmp_path / "docs/architecture-review.md").read_text()
    assert "```mermaid" in report and "test files in `tests`" in report
    # Engines never import tools (the house rule a contract test also checks).
    assert not any(f.check == "architecture.layer_violation" and "mlops_engineer.engines imports mlops_engineer.tools" in f.title for f in out.findings)
    modules = {m["module"]: m for m in csv.DictReader((tmp_path / ".mlops/review/architecture/mlops_engineer/modules.csv").open())}
    assert modules["mlops_engineer.workspace"]["tested"] == "True"


def test_refusals(tmp_path: Path) -> None:
    tools = ToolRunner(tmp_path)
    (tmp_path / "notapkg").mkdir()
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "review"}, path="notapkg")
    assert err.value.code == "invalid_input"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "review"}, package="no_such_package_here")
    assert err.value.code == "not_found"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "review", "report": "../outside.md"}, package="optuna")
    assert err.value.code == "outside_workspace"
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "review"}, package="optuna", path="x")
    assert err.value.code == "invalid_input"
    (tmp_path / ".importlinter").write_text("[importlinter]\nroot_package = optuna\n[importlinter:contract:x]\nname = X\ntype = protected\n")
    with pytest.raises(ToolError) as err:
        tools(TOOL, {"action": "check", "config": ".importlinter"}, package="optuna")
    assert err.value.code == "invalid_input" and "protected" in err.value.message


def test_random_contracts_agree_with_lint_imports(tmp_path: Path) -> None:
    """Seeded random layers, forbidden and independence contracts over optuna's children."""
    import random

    from mlops_engineer.engines.review.architecture_contracts import ForbiddenContract, IndependenceContract, LayersContract, render_ini

    rng = random.Random(11)
    children = sorted(p.name.removesuffix(".py") for p in Path(importlib.util.find_spec("optuna").origin).parent.iterdir()
                      if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file())
    children = [f"optuna.{c}" for c in children]
    contracts = []
    for i in range(8):
        picked = rng.sample(children, 5)
        contracts.append(LayersContract(name=f"layers {i}", layers=[picked[0], f"{picked[1]} | {picked[2]}", picked[3], picked[4]]))
        contracts.append(ForbiddenContract(name=f"forbidden {i}", source_modules=picked[:2], forbidden_modules=picked[2:4]))
        contracts.append(IndependenceContract(name=f"independence {i}", modules=picked[1:4]))
    out = _check(ToolRunner(tmp_path), "random.ini", render_ini("optuna", contracts), package="optuna")
    _assert_agrees(out)
    assert sum(not r.kept for r in out.contracts) >= 10


def test_same_findings_in_another_process(tmp_path: Path) -> None:
    """Hash seeds differ between processes; the findings and the report must not."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    ToolRunner(here)(TOOL, {"action": "review"}, package="optuna")
    cli = Path(sys.executable).with_name("mlops-engineer")
    call = json.dumps({"operation": {"action": "review"}, "package": "optuna"})
    subprocess.run([str(cli), "--workspace", str(there), "call", "review_software_architecture", "--input", call],
                   env={**os.environ, "PYTHONHASHSEED": "12345"}, capture_output=True, check=True, timeout=300)
    for name in ("findings.json", "findings.csv", "modules.csv", "report.md"):
        relative = f".mlops/review/architecture/optuna/{name}"
        assert (here / relative).read_bytes() == (there / relative).read_bytes(), name
