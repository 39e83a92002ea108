"""Reproducibility of a project: dependencies pinned or locked, data versioned with DVC, runs
tracked with MLflow. (Hard-coded absolute paths and missing seeds are found per file by
`code_leakage`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from mlops_engineer.engines.review.findings import Finding, finding

LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pdm.lock", "conda-lock.yml", "pixi.lock", "requirements.lock")
SKIP_DIRS = {".git", ".venv", "venv", "env", "node_modules", "__pycache__", ".mlops", ".dvc", "site-packages",
             "build", "dist", ".ipynb_checkpoints", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".feather", ".jsonl", ".npz", ".npy", ".h5", ".pkl", ".joblib")
MAX_FILES = 5000
PINNED = re.compile(r"^[A-Za-z0-9_.\[\],-]+\s*(===?)\s*[^\s;,]+")


def walk(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Project files with these suffixes, skipping environments, caches and our own state; sorted."""
    found: list[Path] = []
    stack = [root]
    while stack and len(found) < MAX_FILES:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                    stack.append(entry)
            elif entry.suffix.lower() in suffixes:
                found.append(entry)
    return sorted(found)


def _requirements(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("requirements*.txt") if p.is_file())


def dependencies(root: Path) -> list[Finding]:
    locks = [name for name in LOCK_FILES if (root / name).is_file()]
    requirements = _requirements(root)
    manifests = [p for p in ("pyproject.toml", "setup.py", "setup.cfg", "environment.yml", "Pipfile") if (root / p).is_file()]
    if locks:
        return [finding("repro.dependencies", "info", f"dependencies locked ({', '.join(locks)})", "Nothing to do.",
                        file=locks[0], key="locked")]
    found = []
    for path in requirements:
        loose = []
        for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith(("-", "--")):
                continue
            if not PINNED.match(line) and "@" not in line:
                loose.append((number, line))
        if loose:
            found.append(finding(
                "repro.dependencies", "medium", f"{len(loose)} unpinned requirements in {path.name}",
                "Pin exact versions (`pip freeze > requirements.txt`, or `uv pip compile`) or commit a lock file.",
                numbers={"unpinned": len(loose)}, file=path.name, line=loose[0][0],
                detail=", ".join(name for _, name in loose[:8]), key=path.name,
            ))
    if requirements and not found:
        return [finding("repro.dependencies", "info", "requirements pinned to exact versions", "Nothing to do.",
                        file=requirements[0].name, key="pinned")]
    if not requirements:
        what = f"{', '.join(manifests)} without a lock file" if manifests else "no dependency list at all"
        found.append(finding(
            "repro.dependencies", "medium", f"dependencies not locked: {what}",
            "Commit a lock file (`uv lock`, `poetry lock`) or a requirements.txt with exact versions.",
            file=manifests[0] if manifests else None, key="unlocked",
        ))
    return found


def _dvc_tracked(root: Path) -> set[str]:
    """Workspace paths DVC tracks: `<file>.dvc` pointers and outputs in dvc.yaml/dvc.lock."""
    import yaml

    tracked: set[str] = set()
    for pointer in walk(root, (".dvc",)):
        try:
            outs = (yaml.safe_load(pointer.read_text()) or {}).get("outs") or []
        except yaml.YAMLError:
            continue
        for out in outs:
            target = (pointer.parent / str(out.get("path", ""))).resolve() if isinstance(out, dict) else None
            if target is not None and target.is_relative_to(root):
                tracked.add(target.relative_to(root).as_posix())
    for stage_file in [p for p in walk(root, (".lock", ".yaml")) if p.name in ("dvc.lock", "dvc.yaml")]:
        try:
            stages = (yaml.safe_load(stage_file.read_text()) or {}).get("stages") or {}
        except yaml.YAMLError:
            continue
        for stage in stages.values():
            for out in (stage or {}).get("outs") or []:
                name = out.get("path") if isinstance(out, dict) and "path" in out else next(iter(out)) if isinstance(out, dict) else out
                target = (stage_file.parent / str(name)).resolve()
                if target.is_relative_to(root):
                    tracked.add(target.relative_to(root).as_posix())
    return tracked


def data_versioning(root: Path) -> list[Finding]:
    data = [p for p in walk(root, DATA_SUFFIXES) if p.stat().st_size > 0]
    if not data:
        return []
    relative = [p.relative_to(root).as_posix() for p in data]
    if not (root / ".dvc").is_dir():
        return [finding(
            "repro.data_versioning", "medium", f"{len(relative)} data files and no DVC repository",
            "Version the data: `dvc init`, then `dvc add <file>` (see the version-ml-data skill); a model is only "
            "reproducible with the exact data it saw.",
            numbers={"data_files": len(relative)}, detail=", ".join(relative[:8]), key="no-dvc",
        )]
    tracked = _dvc_tracked(root)
    untracked = [r for r in relative if r not in tracked and not any(r.startswith(t.rstrip("/") + "/") for t in tracked)]
    if untracked:
        return [finding(
            "repro.data_versioning", "low", f"{len(untracked)} of {len(relative)} data files are not tracked by DVC",
            "Track them with `dvc add <file>` or as outputs of a dvc.yaml stage, or delete them if they are scratch.",
            numbers={"untracked": len(untracked), "data_files": len(relative)}, detail=", ".join(untracked[:8]),
            key="untracked",
        )]
    return [finding("repro.data_versioning", "info", f"all {len(relative)} data files are tracked by DVC", "Nothing to do.",
                    numbers={"data_files": len(relative)}, key="tracked")]


def run_tracking(root: Path, sources: Iterable[tuple[str, str]]) -> list[Finding]:
    """Does any training code log to MLflow (or is there a store)? `sources` are (file, text)."""
    texts = list(sources)
    trains = [f for f, t in texts if re.search(r"\.fit\(|\btrain\(", t)]
    if not trains:
        return []
    if any(re.search(r"^\s*(import mlflow|from mlflow)", t, re.MULTILINE) for _, t in texts) or \
            (root / "mlruns").is_dir() or (root / ".mlops" / "mlflow.db").is_file():
        return [finding("repro.run_tracking", "info", "training runs are tracked with MLflow", "Nothing to do.", key="mlflow")]
    return [finding(
        "repro.run_tracking", "low", f"{len(trains)} files train models and none logs runs to MLflow",
        "Log params, metrics, data and the model with MLflow (track-ml-experiments skill: `mlflow.autolog()` is one line).",
        numbers={"training_files": len(trains)}, file=trains[0], detail=", ".join(trains[:8]), key="no-mlflow",
    )]
