"""What an R or Python project already declares about its dependencies, read from its files.

R: `renv.lock` (JSON) and a `DESCRIPTION` (Debian control format: Depends, Imports, LinkingTo,
SystemRequirements). Python: `uv.lock` with `pyproject.toml`, `pyproject.toml` alone,
`requirements*.txt`, a conda `environment.yml`. Nothing is executed or imported.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlops_engineer.errors import ToolError

PythonManager = Literal["uv", "pyproject", "requirements", "conda"]

# Shipped with R itself (priority "base"): never installed separately.
R_BASE_PACKAGES = frozenset({
    "R", "base", "compiler", "datasets", "graphics", "grDevices", "grid", "methods", "parallel",
    "splines", "stats", "stats4", "tcltk", "tools", "utils",
})
# A distribution whose import name differs from its name (the common ML ones).
IMPORT_NAMES = {
    "scikit-learn": "sklearn", "pyyaml": "yaml", "pillow": "PIL", "python-dateutil": "dateutil",
    "beautifulsoup4": "bs4", "opencv-python": "cv2", "opencv-python-headless": "cv2", "protobuf": "google.protobuf",
    "attrs": "attr", "python-dotenv": "dotenv", "msgpack-python": "msgpack", "pytorch": "torch",
}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_R_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")
MAX_FILE_BYTES = 5_000_000


@dataclass
class RProject:
    sources: list[str]
    packages: list[str]  # everything to install (a lockfile's full set, or DESCRIPTION's fields)
    load: list[str]  # what the smoke test loads: the direct dependencies when known
    system_requirements: str = ""  # DESCRIPTION's free-text SystemRequirements
    renv_version: str | None = None
    r_version: str | None = None
    name: str | None = None
    version: str | None = None
    license: str | None = None
    compiles: bool = False  # has src/: needs a compiler and dev headers


@dataclass
class PythonProject:
    manager: PythonManager
    sources: list[str]
    dependencies: list[str] = field(default_factory=list)  # requirement strings (pyproject / environment.yml pip)
    requirement_files: list[str] = field(default_factory=list)
    main_requirements: str | None = None
    installable: bool = False  # pyproject declares a build system: `pip install .` works
    modules: list[str] = field(default_factory=list)  # what the smoke test imports
    name: str | None = None
    version: str | None = None
    license: str | None = None
    description: str | None = None


@dataclass
class ProjectDeps:
    r: RProject | None
    python: PythonProject | None
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> Literal["r", "python", "mixed"]:
        return "mixed" if self.r and self.python else ("r" if self.r else "python")


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ToolError("invalid_input", f"{path.name} is larger than {MAX_FILE_BYTES // 1_000_000} MB.",
                        "Point `project` at the folder that holds the project's own dependency files.")
    return path.read_text("utf-8", errors="replace")


def _unreadable(name: str, exc: Exception) -> ToolError:
    return ToolError("invalid_input", f"{name} cannot be parsed: {exc}", f"Fix {name} (or remove it) and call again.")


def parse_dcf(text: str) -> dict[str, str]:
    """A DESCRIPTION file: `Field: value` lines, continuation lines start with whitespace."""
    fields: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and current:
            fields[current] += " " + line.strip()
        elif ":" in line:
            current, _, value = line.partition(":")
            current = current.strip()
            fields[current] = value.strip()
    return fields


def r_package_names(field_value: str) -> list[str]:
    """`pkg (>= 1.0), other` -> ['pkg', 'other']; R itself and base packages dropped."""
    names = []
    for item in field_value.split(","):
        name = item.split("(")[0].strip()
        if name and _R_NAME.match(name) and name not in R_BASE_PACKAGES:
            names.append(name)
    return names


def read_r_project(root: Path) -> RProject | None:
    lock, desc = root / "renv.lock", root / "DESCRIPTION"
    if not lock.is_file() and not desc.is_file():
        return None
    project = RProject(sources=[], packages=[], load=[], compiles=(root / "src").is_dir() and desc.is_file())
    if desc.is_file():
        fields = parse_dcf(_read(desc))
        project.sources.append("DESCRIPTION")
        direct = [n for key in ("Depends", "Imports", "LinkingTo") for n in r_package_names(fields.get(key, ""))]
        project.packages = list(dict.fromkeys(direct))
        project.load = [n for key in ("Depends", "Imports") for n in r_package_names(fields.get(key, ""))]
        project.system_requirements = fields.get("SystemRequirements", "")
        project.name, project.version, project.license = fields.get("Package"), fields.get("Version"), fields.get("License")
    if lock.is_file():
        try:
            data = json.loads(_read(lock))
            packages = data.get("Packages", {})
            locked = sorted((str(v.get("Package", k)) for k, v in packages.items()), key=str.lower)
        except (ValueError, AttributeError) as exc:
            raise _unreadable("renv.lock", exc) from exc
        project.sources.insert(0, "renv.lock")
        project.renv_version = (packages.get("renv") or {}).get("Version") or (data.get("renv") or {}).get("Version")
        project.r_version = (data.get("R") or {}).get("Version")
        locked = [n for n in locked if _R_NAME.match(n) and n not in R_BASE_PACKAGES and n != "renv"]
        project.packages = list(dict.fromkeys([*locked, *project.packages]))
        if not project.load:
            project.load = locked
    project.load = list(dict.fromkeys(n for n in project.load if n != "renv"))
    return project


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith(("-", ".", "/")) or "://" in line:
        return None
    match = _REQ_NAME.match(line)
    return match.group(1) if match else None


def import_name(distribution: str) -> str | None:
    key = re.sub(r"[-_.]+", "-", distribution).lower()
    module = IMPORT_NAMES.get(key, key.replace("-", "_"))
    return module if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", module) else None


def _own_modules(root: Path, name: str | None) -> list[str]:
    """The project's own package or module, as `import` names it (src/ layout or flat)."""
    found = []
    module = name.replace("-", "_").replace(".", "_").lower() if name else ""
    candidates = [module] if re.fullmatch(r"[a-z_][a-z0-9_]*", module) else []
    for base in (root / "src", root):
        for cand in candidates:
            if (base / cand / "__init__.py").is_file() or (base / f"{cand}.py").is_file():
                found.append(cand)
    return list(dict.fromkeys(found))


def _pyproject(root: Path) -> dict:
    try:
        return tomllib.loads(_read(root / "pyproject.toml"))
    except tomllib.TOMLDecodeError as exc:
        raise _unreadable("pyproject.toml", exc) from exc


def read_python_project(root: Path) -> PythonProject | None:
    pyproject = _pyproject(root) if (root / "pyproject.toml").is_file() else None
    meta = (pyproject or {}).get("project", {}) if isinstance(pyproject, dict) else {}
    requirement_files = sorted(p.name for p in root.glob("requirements*.txt") if p.is_file())
    env_file = next((n for n in ("environment.yml", "environment.yaml") if (root / n).is_file()), None)
    if (root / "uv.lock").is_file() and pyproject is not None:
        project = PythonProject(manager="uv", sources=["uv.lock", "pyproject.toml"])
    elif pyproject is not None and "project" in pyproject and (meta.get("dependencies") or not requirement_files):
        # requirements*.txt win over a pyproject.toml that declares no dependencies (metadata only).
        project = PythonProject(manager="pyproject", sources=["pyproject.toml"])
    elif requirement_files:
        project = PythonProject(manager="requirements", sources=requirement_files)
    elif env_file:
        project = PythonProject(manager="conda", sources=[env_file])
    else:
        return None
    project.name, project.version = meta.get("name"), meta.get("version")
    project.description = meta.get("description") if isinstance(meta.get("description"), str) else None
    lic = meta.get("license")
    project.license = lic if isinstance(lic, str) else (lic.get("text") if isinstance(lic, dict) else None)
    project.installable = bool(pyproject and "build-system" in pyproject)
    names: list[str] = []
    if project.manager in ("uv", "pyproject"):
        project.dependencies = [str(d) for d in meta.get("dependencies", [])]
        names = [n for n in (_requirement_name(d) for d in project.dependencies) if n]
    elif project.manager == "requirements":
        project.requirement_files = requirement_files
        main = "requirements.txt" if "requirements.txt" in requirement_files else next(
            (f for f in requirement_files if not re.search(r"dev|test|lint|doc", f)), requirement_files[0])
        project.main_requirements = main
        names = [n for n in (_requirement_name(line) for line in _read(root / main).splitlines()) if n]
    else:
        names = _conda_pip_names(root / env_file)  # type: ignore[operator]
    own = _own_modules(root, project.name)
    deps = [m for m in (import_name(n) for n in names) if m and m != "pip" and m != "python"]
    project.modules = (own or deps)[:10]
    return project


def _conda_pip_names(path: Path) -> list[str]:
    """Dependency names of an environment.yml: conda specs (`numpy=1.26`, `conda-forge::x`) and its pip list."""
    import yaml

    try:
        data = yaml.safe_load(_read(path)) or {}
    except yaml.YAMLError as exc:
        raise _unreadable(path.name, exc) from exc
    names: list[str] = []
    for dep in data.get("dependencies", []) if isinstance(data, dict) else []:
        if isinstance(dep, str):
            name = re.split(r"[=<>!~ \[]", dep.split("::")[-1], maxsplit=1)[0]
            names.append(name)
        elif isinstance(dep, dict):
            names += [n for n in (_requirement_name(str(d)) for d in dep.get("pip", [])) if n]
    return names


def read_project(root: Path) -> ProjectDeps:
    """Both languages' declarations; `not_found` when the folder declares neither."""
    deps = ProjectDeps(r=read_r_project(root), python=read_python_project(root))
    if deps.r is None and deps.python is None:
        raise ToolError(
            "not_found",
            f"No dependency file in {root.name or '.'}: none of renv.lock, DESCRIPTION, uv.lock, pyproject.toml, "
            "requirements*.txt, environment.yml.",
            "Point `project` at the project's folder, or declare its dependencies first (renv::snapshot(), uv lock, pip freeze).",
        )
    if deps.r and deps.python and deps.python.manager == "conda":
        deps.notes.append("environment.yml ignored for a mixed project: R comes from apt, Python from pip; declare Python deps in requirements.txt.")
        deps.python = None
    return deps
