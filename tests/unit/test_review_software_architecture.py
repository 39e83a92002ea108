"""The parts of the architecture review that need no large codebase: lint-imports' report
parsed, contracts written and read back, ML roles, and layers on a small real package."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_engineer.engines.review.architecture_boundaries import roles_of
from mlops_engineer.engines.review.architecture_contracts import (
    ForbiddenContract,
    IndependenceContract,
    LayersContract,
    check_contract,
    parse_ini,
    render_ini,
)
from mlops_engineer.engines.review.architecture_graph import Codebase, load_graph
from mlops_engineer.engines.review.architecture_lint_imports import parse_report
from mlops_engineer.engines.review.architecture_structure import cycle_breakers, infer_layers
from mlops_engineer.errors import ToolError

REPORT = """\
---------
Contracts
---------

Analyzed 9 files, 6 dependencies.
---------------------------------

Shop layers BROKEN
Leaves KEPT

Contracts: 1 kept, 1 broken.


----------------
Broken contracts
----------------

Shop layers
-----------

shop.low is not allowed to import shop.high:

- shop.low.a (l.12)
  & shop.low.b (l.9)
  & shop.low.c -> shop (l.11)
  shop -> shop.mid (l.3, l.4)
  shop.mid -> shop.high.x (l.7)
          & shop.high.y (l.8)

- shop.low.d -> shop.high (l.2)


"""


def test_lint_imports_report_parsed_with_heads_and_tails() -> None:
    contracts = parse_report(REPORT)
    assert {n: c.kept for n, c in contracts.items()} == {"Shop layers": False, "Leaves": True}
    broken = contracts["Shop layers"]
    assert broken.pairs == {("shop.low", "shop.high")}
    assert broken.edges == {
        ("shop.low.a", "shop"): {12}, ("shop.low.b", "shop"): {9}, ("shop.low.c", "shop"): {11},
        ("shop", "shop.mid"): {3, 4}, ("shop.mid", "shop.high.x"): {7}, ("shop.mid", "shop.high.y"): {8},
        ("shop.low.d", "shop.high"): {2},
    }


def test_contracts_round_trip_through_ini() -> None:
    contracts = [
        LayersContract(name="Layers", layers=["pkg.api", "pkg.core | pkg.util"], containers=[]),
        ForbiddenContract(name="No web in models", source_modules=["pkg.models"], forbidden_modules=["fastapi"], allow_indirect_imports=True),
        IndependenceContract(name="Leaves", modules=["pkg.a", "pkg.b"]),
    ]
    root, read = parse_ini(render_ini("pkg", contracts))
    assert root == "pkg" and read == contracts
    with pytest.raises(ToolError) as err:
        parse_ini("[importlinter]\nroot_package = pkg\n[importlinter:contract:x]\nname = X\ntype = layers\nlayers = a\n    b\nexhaustive = true\n")
    assert "exhaustive" in err.value.message


@pytest.mark.parametrize(("module", "roles"), [
    ("pkg.serving.app", {"serving"}), ("pkg.feature_server", {"serving"}), ("pkg.training.loop", {"training"}),
    ("pkg.train_model", {"training"}), ("pkg.notebooks.eda", {"notebook"}), ("pkg.models.net", {"model"}),
    ("pkg.run_ab_test_models", set()), ("pkg.web.routes", {"web"}), ("pkg.settings", {"config"}), ("pkg.trainer_utils", set()),
])
def test_ml_roles_from_module_names(module: str, roles: set[str]) -> None:
    assert roles_of(module) == roles


def _package(root: Path, files: dict[str, str]) -> Codebase:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Codebase(name="pkg", package_dir=root / "pkg")


def test_layers_cycles_and_contracts_on_a_small_package(tmp_path: Path) -> None:
    graph = load_graph(_package(tmp_path, {
        "__init__.py": "",
        "api.py": "from pkg import core\n",
        "core.py": "from pkg import util\n",
        "util.py": "\n\nfrom pkg import core  # closes a cycle\n",
        "leaf.py": "",
    }))
    breakers = cycle_breakers(graph)
    assert [(b.importer, b.imported, b.lines) for b in breakers] in ([("pkg.util", "pkg.core", (3,))], [("pkg.core", "pkg.util", (1,))])
    layering = infer_layers(graph, breakers)
    assert layering.layers[0] == ["pkg.api"] and len(layering.layers) == 3
    result = check_contract(graph, LayersContract(name="L", layers=["pkg.api", "pkg.core", "pkg.util"]))
    assert not result.kept and [(v.importer, v.imported) for v in result.violations] == [("pkg.util", "pkg.core")]
    assert result.violations[0].edges == {("pkg.util", "pkg.core"): [3]}
    assert check_contract(graph, IndependenceContract(name="I", modules=["pkg.api", "pkg.leaf"])).kept
    with pytest.raises(ToolError):
        check_contract(graph, ForbiddenContract(name="F", source_modules=["pkg.nope"], forbidden_modules=["pkg.core"]))


def test_optional_and_missing_layers(tmp_path: Path) -> None:
    graph = load_graph(_package(tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": ""}))
    assert check_contract(graph, LayersContract(name="L", layers=["pkg.a", "(pkg.gone)", "pkg.b"])).kept
    with pytest.raises(ToolError) as err:
        check_contract(graph, LayersContract(name="L", layers=["pkg.a", "pkg.gone"]))
    assert "pkg.gone" in err.value.message


def test_a_cycle_closed_inside_a_function_is_low(tmp_path: Path) -> None:
    from mlops_engineer.engines.review.architecture_review import review

    graph = load_graph(_package(tmp_path, {
        "__init__.py": "", "sub/__init__.py": "",
        "sub/a.py": "from pkg.sub import b\n",
        "sub/b.py": "def f():\n    from pkg.sub import a\n    return a\n",
    }))
    done = review(graph, [], [], lambda _message: None)
    (cycle,) = [f for f in done.findings if f.check == "architecture.cycle"]
    assert cycle.severity == "low" and cycle.evidence.numbers["lazy_imports_in_cycle"] == 1
    assert "inside a function" in cycle.fix
