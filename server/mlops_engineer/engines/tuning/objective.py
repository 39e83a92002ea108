"""What a trial evaluates: a built-in scikit-learn (or XGBoost/LightGBM) estimator scored by
cross-validation on a workspace dataset, or the user's own `module:function`.

Both backends (Optuna in-process, Ray Tune in workers) call an `Objective` the same
way: `objective(params, report)` returns one value per metric, and `report(value, step)`
hands an intermediate score to the pruner or scheduler after each fold.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from mlops_engineer.contract import StrictModel
from mlops_engineer.errors import ToolError

Direction = Literal["maximize", "minimize"]
Scalar = str | int | float | bool
EstimatorName = Literal["hist_gradient_boosting", "random_forest", "logistic_regression", "xgboost", "lightgbm"]
Report = Callable[[float, int], None]


class EstimatorObjective(StrictModel):
    kind: Literal["estimator"]
    estimator: EstimatorName = Field(description="Built-in model; xgboost and lightgbm need those packages installed.")
    dataset: str = Field(description="CSV or Parquet file in the workspace.")
    target: str = Field(min_length=1, description="Target column in the dataset.")
    features: list[str] = Field(default_factory=list, description="Feature columns; default every other column (text columns are one-hot encoded).")
    task: Literal["auto", "classification", "regression"] = Field(default="auto", description="auto: classification for an integer/text target with at most 20 values.")
    metrics: list[str] = Field(
        default_factory=list, max_length=4,
        description="scikit-learn scorer names (greater is better), e.g. roc_auc, f1, neg_log_loss, r2. Default roc_auc (binary), accuracy (multiclass) or r2. Two or more make the study multi-objective.",
    )
    cv_folds: int = Field(default=3, ge=2, le=10, description="Cross-validation folds; the pruner sees the running mean after each fold.")
    fixed_params: dict[str, Scalar] = Field(default_factory=dict, description="Estimator arguments that are not tuned, e.g. {\"max_iter\": 200}.")


class CallableObjective(StrictModel):
    kind: Literal["callable"]
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="`module:function` importable from the workspace root. Called as function(params) or function(params, report) "
        "where report(value, step) feeds the pruner; returns a float, or one float per direction.",
    )
    directions: list[Direction] = Field(default_factory=lambda: ["maximize"], min_length=1, max_length=4, description="One per returned value.")
    metric_names: list[str] = Field(default_factory=list, description="Names for the returned values (default: value, or value_0, value_1, ...).")


ObjectiveSpec = Annotated[EstimatorObjective | CallableObjective, Field(discriminator="kind")]


class Cancelled(Exception):
    """Raised inside a trial when the call was cancelled; the trial is dropped, finished ones stay."""


# Modules load_callable imported for objectives: the only ones it may replace with another workspace's.
_USER_MODULES: set[str] = set()


class UserCodeExit(ToolError):
    """The user's objective called sys.exit() or raised KeyboardInterrupt: the study stops and the
    call fails with this error. User code never ends the server."""


class Objective:
    """A loaded, validated objective. Built from the spec before any study or run exists."""

    metric_names: list[str]
    directions: list[Direction]

    def __call__(self, params: dict[str, Any], report: Report | None = None, stop: Callable[[], bool] | None = None) -> list[float]:
        raise NotImplementedError

    def fit_best(self, params: dict[str, Any]) -> Any:
        """The estimator refitted on all rows with `params`, or None when the objective has no model."""
        return None


# --- built-in estimators --------------------------------------------------------------------

def _estimator_class(name: str, classification: bool) -> Any:
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        return HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return RandomForestClassifier if classification else RandomForestRegressor
    if name == "logistic_regression":
        if not classification:
            raise ToolError("invalid_input", "logistic_regression needs a classification target.",
                            "Use hist_gradient_boosting or random_forest for a regression target, or set task=classification.")
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression
    package = {"xgboost": "xgboost", "lightgbm": "lightgbm"}[name]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ToolError("missing_dependency", f"The estimator '{name}' needs the package '{package}', which is not installed.",
                        f"pip install {package}  (or pick hist_gradient_boosting, random_forest or logistic_regression)") from exc
    if name == "xgboost":
        return module.XGBClassifier if classification else module.XGBRegressor
    return module.LGBMClassifier if classification else module.LGBMRegressor


# Defaults that make the built-ins reproducible and polite on a shared machine.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {"random_state": 0},
    "random_forest": {"random_state": 0, "n_jobs": 1},
    "logistic_regression": {"max_iter": 1000},
    "xgboost": {"random_state": 0, "n_jobs": 1, "verbosity": 0},
    "lightgbm": {"random_state": 0, "n_jobs": 1, "verbose": -1},
}


class EstimatorEvaluation(Objective):
    def __init__(self, spec: EstimatorObjective, root: Path, param_names: Sequence[str], seed: int | None = None) -> None:
        from mlops_engineer.engines.mlflow.tracking import read_table

        path = _inside(root, spec.dataset)
        frame = read_table(path)
        if spec.target not in frame.columns:
            raise ToolError("invalid_input", f"The dataset {spec.dataset} has no target column '{spec.target}'.",
                            f"Columns: {', '.join(map(str, frame.columns[:30]))}")
        missing = [c for c in spec.features if c not in frame.columns]
        if missing:
            raise ToolError("invalid_input", f"The dataset {spec.dataset} has no feature column(s) {missing}.")
        frame = frame.dropna(subset=[spec.target])
        if len(frame) < spec.cv_folds * 2:
            raise ToolError("invalid_input", f"The dataset {spec.dataset} has {len(frame)} labelled rows; {spec.cv_folds}-fold CV needs more.")
        import pandas as pd

        features = frame[spec.features] if spec.features else frame.drop(columns=[spec.target])
        text = list(features.select_dtypes(exclude=["number", "bool"]).columns)
        self.X = pd.get_dummies(features, columns=text, dtype=float) if text else features
        self.y = frame[spec.target]
        self.classification = _is_classification(self.y) if spec.task == "auto" else spec.task == "classification"
        self.spec = spec
        self.seed = 0 if seed is None else seed
        self.cls = _estimator_class(spec.estimator, self.classification)
        defaults = {k: v for k, v in _DEFAULTS.get(spec.estimator, {}).items() if k in self.cls().get_params()}
        if "random_state" in defaults:
            defaults["random_state"] = self.seed
        self.base_params = {**defaults, **spec.fixed_params}
        known = set(self.cls().get_params())
        unknown = sorted((set(param_names) | set(spec.fixed_params)) - known)
        if unknown:
            raise ToolError("invalid_input", f"{self.cls.__name__} has no parameter(s) {unknown}.",
                            f"Its parameters: {', '.join(sorted(known))}")
        from sklearn.metrics import get_scorer, get_scorer_names

        if spec.metrics:
            names = list(spec.metrics)
        elif self.classification:
            names = ["roc_auc" if self.y.nunique() == 2 else "accuracy"]
        else:
            names = ["r2"]
        bad = [n for n in names if n not in get_scorer_names()]
        if bad:
            raise ToolError("invalid_input", f"Unknown scorer(s) {bad}.", "Use scikit-learn scorer names, e.g. roc_auc, accuracy, f1, neg_log_loss, r2, neg_root_mean_squared_error.")
        self.scorers = {n: get_scorer(n) for n in names}
        self.metric_names = names
        self.directions = ["maximize"] * len(names)  # scikit-learn scorers: greater is better

    def _splits(self) -> list[tuple[Any, Any]]:
        from sklearn.model_selection import KFold, StratifiedKFold

        splitter = (StratifiedKFold if self.classification else KFold)(self.spec.cv_folds, shuffle=True, random_state=self.seed)
        return list(splitter.split(self.X, self.y))

    def __call__(self, params: dict[str, Any], report: Report | None = None, stop: Callable[[], bool] | None = None) -> list[float]:
        from sklearn.base import clone

        template = self.cls(**{**self.base_params, **params})
        scores: dict[str, list[float]] = {n: [] for n in self.metric_names}
        for fold, (train, test) in enumerate(self._splits()):
            if stop is not None and stop():
                raise Cancelled()
            model = clone(template).fit(self.X.iloc[train], self.y.iloc[train])
            for name, scorer in self.scorers.items():
                scores[name].append(float(scorer(model, self.X.iloc[test], self.y.iloc[test])))
            if report is not None:
                first = scores[self.metric_names[0]]
                report(sum(first) / len(first), fold + 1)
        return [sum(v) / len(v) for v in scores.values()]

    def fit_best(self, params: dict[str, Any]) -> Any:
        return self.cls(**{**self.base_params, **params}).fit(self.X, self.y)


def _is_classification(y: Any) -> bool:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return True
    integral = bool((y.dropna() == y.dropna().round()).all())
    return integral and y.nunique() <= 20


def _inside(root: Path, path: str) -> Path:
    from mlops_engineer.workspace import Workspace

    return Workspace(root).resolve(path, must_exist=True)


# --- user callables ---------------------------------------------------------------------------

class CallableEvaluation(Objective):
    def __init__(self, spec: CallableObjective, root: Path, allow_external: bool = False) -> None:
        self.function = load_callable(spec.function, root, allow_external)
        self.takes_report = "report" in inspect.signature(self.function).parameters
        self.directions = list(spec.directions)
        n = len(spec.directions)
        if spec.metric_names and len(spec.metric_names) != n:
            raise ToolError("invalid_input", f"metric_names has {len(spec.metric_names)} names for {n} direction(s).")
        self.metric_names = list(spec.metric_names) or (["value"] if n == 1 else [f"value_{i}" for i in range(n)])
        self.spec = spec

    def __call__(self, params: dict[str, Any], report: Report | None = None, stop: Callable[[], bool] | None = None) -> list[float]:
        if stop is not None and stop():
            raise Cancelled()
        try:
            result = self.function(params, report=report or (lambda value, step: None)) if self.takes_report else self.function(params)
        except (SystemExit, KeyboardInterrupt) as exc:
            raise UserCodeExit(
                "invalid_input", f"The objective {self.spec.function} raised {type(exc).__name__}({exc}); the study was stopped.",
                "An objective returns its score; it must not call sys.exit() or exit(). Raise an exception to fail one trial.",
            ) from None
        values = list(result) if isinstance(result, list | tuple) else [result]
        if len(values) != len(self.directions):
            raise ValueError(f"{self.spec.function} returned {len(values)} value(s) for {len(self.directions)} direction(s)")
        return [float(v) for v in values]


_IMPORT_LOCK = threading.RLock()


def load_callable(reference: str, root: Path, allow_external: bool = False) -> Callable[..., Any]:
    """Import `module:function` with the workspace root first on sys.path; any failure is invalid_input.

    The module must be a file in the workspace (`allow_external` lifts that: the setting
    allow_external_callables), checked before any of its code runs and again once imported, so
    `sys:exit`, `os:system` or a workspace file shadowing an imported module are refused.
    """
    module_name, _, attr = reference.partition(":")
    hint = f"Put {module_name.replace('.', '/')}.py in the workspace root ({root}) and check that `python -c \"import {module_name}\"` works there."
    if not allow_external:
        _workspace_module(reference, module_name, root, hint)
    # One import at a time: concurrent calls would otherwise see each other's half-executed
    # reload, or lose the workspace from sys.path while another call still imports from it.
    with _IMPORT_LOCK:
        added = str(root) not in sys.path
        if added:
            sys.path.insert(0, str(root))
        try:
            importlib.invalidate_caches()
            stale = sys.modules.get(module_name)
            if stale is not None and not allow_external and not _module_inside(stale, root):
                if module_name not in _USER_MODULES:  # never replace a module the server imported (json, os, ...)
                    _in_workspace(reference, stale, root, hint)
                sys.modules.pop(module_name)  # an objective of another workspace: import this one's
                stale = None
            # A long-lived server must see the user's edits: reload a module imported before.
            module = importlib.reload(stale) if stale is not None else importlib.import_module(module_name)
        except ToolError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # ImportError, SyntaxError, anything the module raises or exits with
            raise ToolError("invalid_input", f"The objective '{reference}' does not import: {type(exc).__name__}: {exc}", hint) from None
        finally:
            if added:
                sys.path.remove(str(root))
        _USER_MODULES.add(module_name)
    if not allow_external:
        _in_workspace(reference, module, root, hint)
    function = getattr(module, attr, None)
    if function is None or not callable(function):
        raise ToolError("invalid_input", f"The module '{module_name}' has no function '{attr}'.", hint)
    return function  # type: ignore[no-any-return]


def _workspace_module(reference: str, module_name: str, root: Path, hint: str) -> None:
    """The module's file in the workspace (a.b -> a/b.py or a/b/__init__.py), found without running any code."""
    from mlops_engineer.workspace import Workspace

    base = root.joinpath(*module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            Workspace(root).resolve(candidate)  # a symlink out of the workspace is refused
            return
    raise ToolError(
        "invalid_input", f"The objective '{reference}' is not a module in the workspace: no {module_name.replace('.', '/')}.py under {root}.",
        hint + " Modules outside the workspace need the setting allow_external_callables (MLOPS_ENGINEER_ALLOW_EXTERNAL_CALLABLES=true).",
    )


def _module_inside(module: Any, root: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return bool(origin) and root.resolve() in Path(origin).resolve().parents


def _in_workspace(reference: str, module: Any, root: Path, hint: str) -> None:
    origin = getattr(module, "__file__", None)
    if not _module_inside(module, root):
        raise ToolError(
            "invalid_input", f"The objective '{reference}' names the module {module.__name__} from {origin or 'the interpreter'}, "
            "outside the workspace (its name shadows an installed module).",
            "Rename the workspace module (e.g. my_objective.py), or allow external modules with the setting allow_external_callables.",
        )


def load_objective(spec: EstimatorObjective | CallableObjective, root: Path, param_names: Sequence[str], seed: int | None = None,
                   allow_external: bool = False) -> Objective:
    if isinstance(spec, EstimatorObjective):
        return EstimatorEvaluation(spec, root, param_names, seed)
    return CallableEvaluation(spec, root, allow_external)
