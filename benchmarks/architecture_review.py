"""review_software_architecture on optuna and feast (installed, read in place): how long a
review takes, and how our contract check compares with lint-imports on seeded random
contracts (verdicts, pairs, and the share of the imports lint-imports lists that we report).

The peer is `lint-imports` itself, run as the tool runs it (a child process, no cache).

    uv run --all-extras python benchmarks/architecture_review.py [--contracts 30] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import finish, print_header

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mlops_engineer.engines.review import architecture_contracts as ac  # noqa: E402
from mlops_engineer.engines.review import architecture_graph as ag  # noqa: E402
from mlops_engineer.engines.review import architecture_lint_imports as al  # noqa: E402
from mlops_engineer.engines.review.architecture_review import review  # noqa: E402


def _random_contracts(graph: ag.ImportGraph, count: int, seed: int) -> list[ac.Contract]:
    rng = random.Random(seed)
    children = graph.children(graph.codebase.name)
    contracts: list[ac.Contract] = []
    for i in range(count):
        picked = rng.sample(children, 6)
        contracts.append(ac.LayersContract(name=f"L{i}", layers=[picked[0], f"{picked[1]} | {picked[2]}", f"{picked[3]} : {picked[4]}", picked[5]]))
        contracts.append(ac.ForbiddenContract(name=f"F{i}", source_modules=picked[:2], forbidden_modules=picked[2:4], allow_indirect_imports=rng.random() < 0.2))
        contracts.append(ac.IndependenceContract(name=f"I{i}", modules=picked[1:4]))
    return contracts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=30, help="random contracts of each type per package")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    print_header()
    results = {}
    for package in ("optuna", "feast"):
        codebase = ag.installed_codebase(package)
        graph_s, review_s, ours_s, lint_s = [], [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            graph = ag.load_graph(codebase)
            graph_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            done = review(graph, [], [], lambda _message: None)
            review_s.append(time.perf_counter() - start)
        contracts = _random_contracts(graph, args.contracts, seed=7)
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "contracts.ini"
            config.write_text(ac.render_ini(package, contracts))
            for _ in range(args.repeats):
                start = time.perf_counter()
                checked = [ac.check_contract(graph, c) for c in contracts]
                ours_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                report = al.run_lint_imports(config, codebase.source_root, Path(folder), lambda: None)
                lint_s.append(time.perf_counter() - start)
        rows = al.compare(checked, report)
        figures = {
            "modules": len(graph.modules), "imports": sum(len(v) for v in graph.imports.values()), "findings": len(done.findings),
            "graph_s": statistics.median(graph_s), "review_s": statistics.median(review_s),
            "contracts": len(contracts), "broken": sum(not r.ours_kept for r in rows),
            "verdicts_agree": sum(r.ours_kept == r.lint_kept for r in rows),
            "lint_pairs": sum(r.lint_pairs for r in rows), "pairs_found": sum(r.pairs_found for r in rows),
            "extra_pairs": sum(len(r.extra_pairs) for r in rows),
            "lint_imports": sum(r.lint_imports for r in rows), "imports_found": sum(r.imports_found for r in rows),
            "ours_check_s": statistics.median(ours_s), "lint_imports_s": statistics.median(lint_s),
        }
        results[package] = figures
        print(f"{package}: {figures['modules']} modules, {figures['imports']} imports; graph {figures['graph_s']:.2f} s, "
              f"review {figures['review_s']:.2f} s ({figures['findings']} findings), medians of {args.repeats}")
        print(f"  {figures['contracts']} random contracts, {figures['broken']} broken: verdicts agree {figures['verdicts_agree']}/{figures['contracts']}, "
              f"pairs {figures['pairs_found']}/{figures['lint_pairs']} (+{figures['extra_pairs']} not in lint-imports), "
              f"imports {figures['imports_found']}/{figures['lint_imports']} "
              f"({100 * figures['imports_found'] / max(figures['lint_imports'], 1):.1f}%)")
        print(f"  check: ours {figures['ours_check_s']:.2f} s, lint-imports {figures['lint_imports_s']:.2f} s "
              f"({figures['lint_imports_s'] / figures['ours_check_s']:.1f}x ours; lint-imports also builds its graph and starts Python)")
    finish(results, args.json)


if __name__ == "__main__":
    main()
