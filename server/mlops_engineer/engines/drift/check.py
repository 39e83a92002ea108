"""One drift check: load two datasets, decide column roles, validate them, and compute the
per-feature statistics (`stats`), prediction drift and concept drift.

No file is written here; the tool decides what to write and where.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_engineer.engines.drift import stats as ds
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd

    from mlops_engineer.engines.mlflow.backend import MlflowTarget
    from mlops_engineer.workspace import Workspace

Severity = Literal["none", "moderate", "severe"]
TARGET_NAMES = ("target", "label", "y", "churned", "churn", "class")
PREDICTION_NAMES = ("prediction", "predictions", "pred", "score", "y_pred")
MAX_THREADS = 2  # numpy releases the GIL in sort/argsort/cumsum; more threads than cores only adds memory


@dataclass(frozen=True)
class Thresholds:
    psi_moderate: float = 0.1
    psi_severe: float = 0.2
    drift_share: float = 0.5
    n_bins: int = ds.DEFAULT_BINS
    epsilon: float = ds.DEFAULT_EPSILON
    ks_method: ds.KsMethod = "auto"


@dataclass
class Roles:
    numerical: list[str]
    categorical: list[str]
    target: str | None
    prediction: str | None
    inferred: bool


@dataclass
class FeatureResult:
    stats: ds.ColumnStats | None
    column: str
    kind: str
    severity: Severity
    drifted: bool
    note: str = ""

    def row(self) -> dict[str, Any]:
        s = self.stats
        row: dict[str, Any] = {"feature": self.column, "kind": self.kind, "severity": self.severity, "drifted": self.drifted}
        if s is not None:
            row.update(
                psi=_r(s.psi), js_distance=_r(s.js_distance), ks_statistic=_r(s.ks_statistic), ks_pvalue=_r(s.ks_pvalue),
                wasserstein=_r(s.wasserstein), wasserstein_normed=_r(s.wasserstein_normed),
                chi2_statistic=_r(s.chi2_statistic), chi2_pvalue=_r(s.chi2_pvalue),
                reference_mean=_r(s.reference_mean), current_mean=_r(s.current_mean),
                n_reference=s.n_reference, n_current=s.n_current,
                missing_reference=_r(s.missing_reference), missing_current=_r(s.missing_current), bins=s.bins,
            )
        if self.note:
            row["note"] = self.note
        return row


def _r(value: float | None, digits: int = 6) -> float | None:
    if value is None:
        return None
    if math.isinf(value) or math.isnan(value):
        return None  # JSON has no infinity; the note or the p-value says what happened
    return round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------- loading


def load_frame(workspace: Workspace, source: str, target: MlflowTarget | None, label: str) -> pd.DataFrame:
    """A CSV or Parquet file in the workspace, or `runs:/<run_id>/<artifact path>` of an MLflow run."""
    pd = import_optional("pandas", "monitoring")
    path = resolve_source(workspace, source, target, label)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise ToolError("invalid_input", f"{label} {source}: could not be read ({type(exc).__name__}: {exc})",
                        "Give a CSV with a header row or a Parquet file.") from exc
    if frame.shape[0] == 0:
        raise ToolError("invalid_input", f"{label} {source} has no rows.", "A drift check needs data on both sides.")
    return frame


def resolve_source(workspace: Workspace, source: str, target: MlflowTarget | None, label: str) -> Path:
    if not source.startswith("runs:/"):
        path = workspace.resolve(source, must_exist=True)
        if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise ToolError("invalid_input", f"{label} {source}: only .csv and .parquet files are read.",
                            "Convert the data to CSV or Parquet.")
        return path
    if target is None:
        raise ToolError("invalid_input", f"{label} {source} is an MLflow artifact but no store was resolved.")
    mlflow = import_optional("mlflow", "tracking")
    from mlops_engineer.engines.mlflow.backend import check_reachable, translate_errors

    check_reachable(target)
    dst = workspace.state_dir / "drift-cache" / source.removeprefix("runs:/").replace("/", "_")
    dst.mkdir(parents=True, exist_ok=True)
    with translate_errors(target):
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst),
                                                    tracking_uri=target.tracking_uri)
    path = Path(local)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".csv", ".parquet", ".pq"))
        if len(files) != 1:
            raise ToolError("invalid_input", f"{source} is a folder with {len(files)} data files.",
                            "Point at one file: runs:/<run_id>/<folder>/<file>.csv")
        path = files[0]
    return path


# --------------------------------------------------------------------------- roles


def _is_numeric(series: pd.Series) -> bool:
    from pandas.api import types

    return bool(types.is_numeric_dtype(series) and not types.is_bool_dtype(series))


def infer_roles(ref: pd.DataFrame, cur: pd.DataFrame, numerical: list[str] | None, categorical: list[str] | None,
                target: str | None, prediction: str | None, exclude: list[str]) -> tuple[Roles, list[dict[str, str]]]:
    """Roles as given, else inferred from the reference. Returns the roles and the columns skipped (with why)."""
    skipped: list[dict[str, str]] = []
    given = [c for c in [*(numerical or []), *(categorical or []), *([target] if target else []),
                         *([prediction] if prediction else [])]]
    for name in given:
        missing = [side for side, frame in (("reference", ref), ("current", cur)) if name not in frame.columns]
        # The target may be absent from current data (unlabelled); everything else must be on both sides.
        if missing and not (name == target and missing == ["current"]):
            raise ToolError("invalid_input", f"column '{name}' is missing from the {' and '.join(missing)} data.",
                            f"Columns in reference: {list(ref.columns)[:30]}; in current: {list(cur.columns)[:30]}.")
    if target is None:
        target = next((c for c in ref.columns if str(c).lower() in TARGET_NAMES), None)
    if prediction is None:
        prediction = next((c for c in ref.columns if str(c).lower() in PREDICTION_NAMES and c in cur.columns), None)
    reserved = {target, prediction, *exclude}
    inferred = numerical is None and categorical is None
    if inferred:
        numerical, categorical = [], []
        for column in ref.columns:
            if column in reserved:
                continue
            if column not in cur.columns:
                skipped.append({"feature": str(column), "reason": "only in the reference data"})
                continue
            # A numeric dtype stays numerical however few its values (counts, ratings): as categories,
            # a rare new value (11 visits) would read as a new category with p = 0 on a stable column.
            if _is_numeric(ref[column]):
                numerical.append(str(column))
            else:
                categorical.append(str(column))
        for column in cur.columns:
            if column not in ref.columns and column not in reserved:
                skipped.append({"feature": str(column), "reason": "only in the current data"})
    numerical, categorical = list(numerical or []), list(categorical or [])
    both = set(numerical) & set(categorical)
    if both:
        raise ToolError("invalid_input", f"columns {sorted(both)} are both numerical and categorical.", "Give each column one role.")
    if not numerical and not categorical:
        raise ToolError("invalid_input", "no feature columns to compare.",
                        "The two datasets share no columns besides target/prediction; check the files or name the columns.")
    return Roles(numerical, categorical, target if target in ref.columns else None, prediction, inferred), skipped


def _integral(series: pd.Series) -> bool:
    from pandas.api import types

    if types.is_integer_dtype(series):
        return True
    if not types.is_float_dtype(series):
        return False
    values = series.dropna().to_numpy()
    return bool(values.size) and bool((values == values.round()).all())


def check_dtypes(ref: pd.DataFrame, cur: pd.DataFrame, roles: Roles) -> None:
    """A numerical feature must be numeric on both sides; say which column and which dtypes otherwise."""
    bad = []
    for column in roles.numerical:
        for side, frame in (("reference", ref), ("current", cur)):
            series = frame[column]
            if not _is_numeric(series) and series.notna().any():
                bad.append(f"{column} is {series.dtype} in the {side} data")
    if bad:
        raise ToolError("invalid_input", "numerical columns with non-numeric values: " + "; ".join(bad) + ".",
                        "Fix the data type, or list the column under columns.categorical to compare it as categories.")


# --------------------------------------------------------------------------- statistics


def severity_of(psi: float, t: Thresholds) -> Severity:
    if psi >= t.psi_severe:
        return "severe"
    if psi >= t.psi_moderate:
        return "moderate"
    return "none"


def _categorical_values(series: pd.Series) -> Any:
    """Category labels as strings; floats that are whole numbers print as integers, so 1 and 1.0 match."""
    if _integral(series) and not series.dtype == object:
        return series.astype("Int64")
    return series


def feature_drift(column: str, kind: str, ref: pd.Series, cur: pd.Series, t: Thresholds) -> FeatureResult:
    """One feature; all-missing sides and constant columns are handled here (see SKILL.md)."""
    if kind == "numerical":
        # A float64 column comes out as a view; nullable dtypes turn NA into NaN (a copy).
        a = ds.NumericSample.from_values(_floats(ref))
        b = ds.NumericSample.from_values(_floats(cur))
        if a.n == 0 or b.n == 0:
            return _all_missing(column, kind, reference_empty=a.n == 0)
        stats = ds.numeric_stats(column, a, b, n_bins=t.n_bins, epsilon=t.epsilon, ks_method=t.ks_method)
        note = "constant in the reference" if a.values[0] == a.values[-1] else ""
    else:
        if ref.isna().all() or cur.isna().all():
            return _all_missing(column, kind, reference_empty=bool(ref.isna().all()))
        stats = ds.categorical_stats(column, ds.CategoricalCounts.from_values(_categorical_values(ref)),
                                     ds.CategoricalCounts.from_values(_categorical_values(cur)), epsilon=t.epsilon)
        new = stats.extra.get("new_categories") or []
        note = f"new categories: {', '.join(map(str, new))}" if new else ""
    severity = severity_of(stats.psi, t)
    return FeatureResult(stats, column, kind, severity, severity != "none", note)


def _floats(series: pd.Series) -> Any:
    import numpy as np

    if series.dtype == np.float64:
        return series.to_numpy()
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _all_missing(column: str, kind: str, *, reference_empty: bool) -> FeatureResult:
    """A side with no value at all: nothing to compare against (reference), or the feature stopped arriving (current)."""
    if reference_empty:
        return FeatureResult(None, column, kind, "none", False, "skipped: every reference value is missing")
    return FeatureResult(None, column, kind, "severe", True, "every current value is missing")


def all_features(ref: pd.DataFrame, cur: pd.DataFrame, roles: Roles, t: Thresholds,
                 progress: Any = None) -> list[FeatureResult]:
    jobs = [(c, "numerical") for c in roles.numerical] + [(c, "categorical") for c in roles.categorical]
    results: list[FeatureResult | None] = [None] * len(jobs)
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(jobs))) as pool:
        futures = {pool.submit(feature_drift, c, k, ref[c], cur[c], t): i for i, (c, k) in enumerate(jobs)}
        try:
            for done, future in enumerate(futures, start=1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, len(jobs), f"feature {jobs[futures[future]][0]}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # cancelled or failed: start no more features
            raise
    return [r for r in results if r is not None]


# --------------------------------------------------------------------------- predictions and concept drift


@dataclass
class Predictions:
    reference: Any  # numpy arrays
    current: Any
    source: str
    kind: Literal["score", "label", "value"]


def model_predictions(target_mlflow: MlflowTarget, model_uri: str, ref: pd.DataFrame, cur: pd.DataFrame,
                      features: list[str]) -> Predictions:
    """Scores from an MLflow model (`models:/name@alias`, `models:/name/3`, `runs:/id/model`):
    predict_proba's positive column for a scikit-learn classifier, else pyfunc predict."""
    import numpy as np

    from mlops_engineer.engines.mlflow.backend import check_reachable, fluent, translate_errors

    check_reachable(target_mlflow)
    with translate_errors(target_mlflow), fluent(target_mlflow) as mlflow:
        pyfunc = mlflow.pyfunc.load_model(model_uri)
        schema = pyfunc.metadata.get_input_schema()
        inputs = schema.input_names() if schema is not None else features
        missing = [c for c in inputs if c not in ref.columns or c not in cur.columns]
        if missing:
            raise ToolError("invalid_input", f"the model {model_uri} needs columns missing from the data: {missing}.",
                            "Pass data with the model's input columns (see its signature).")
        native = None
        if "sklearn" in (pyfunc.metadata.flavors or {}):
            try:
                native = mlflow.sklearn.load_model(model_uri)
            except Exception:  # noqa: BLE001 - fall back to pyfunc predict
                native = None
    if native is not None and hasattr(native, "predict_proba"):
        classes = list(getattr(native, "classes_", []))
        if len(classes) == 2:
            return Predictions(native.predict_proba(ref[inputs])[:, 1], native.predict_proba(cur[inputs])[:, 1], model_uri, "score")
    r, c = np.asarray(pyfunc.predict(ref[inputs])), np.asarray(pyfunc.predict(cur[inputs]))
    kind: Literal["label", "value"] = "label" if r.dtype.kind in "biuOUS" else "value"
    return Predictions(r.ravel(), c.ravel(), model_uri, kind)


def column_predictions(ref: pd.DataFrame, cur: pd.DataFrame, column: str) -> Predictions:
    import numpy as np

    r, c = ref[column].to_numpy(), cur[column].to_numpy()
    if r.dtype.kind == "f" and np.nanmin(r) >= 0 and np.nanmax(r) <= 1 and not _integral(ref[column]):
        kind: Literal["score", "label", "value"] = "score"
    elif r.dtype.kind in "biuOUS" or _integral(ref[column]):
        kind = "label"
    else:
        kind = "value"
    return Predictions(r, c, f"column {column}", kind)


Metric = Literal["auto", "roc_auc", "accuracy", "rmse"]


@dataclass
class ConceptResult:
    metric: str
    reference: float | None
    windows: list[dict[str, Any]] = field(default_factory=list)
    latest: float | None = None
    drop: float | None = None
    max_drop: float = 0.05
    drifted: bool = False
    note: str = ""


def _metric_value(metric: str, y: Any, p: Any) -> float | None:
    import numpy as np

    y = np.asarray(y)
    p = np.asarray(p)
    if y.shape[0] == 0:
        return None
    if metric == "rmse":
        return float(np.sqrt(np.mean((y.astype(float) - p.astype(float)) ** 2)))
    if metric == "accuracy":
        if p.dtype.kind == "f" and y.dtype.kind in "biu":
            p = (p >= 0.5).astype(y.dtype)
        return float(np.mean(y == p))
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None  # AUC is undefined with one class
    return float(roc_auc_score(y, p))


def concept_drift(ref_y: Any, cur_y: Any, preds: Predictions, metric: Metric, window: int | None,
                  max_drop: float) -> ConceptResult:
    """Model quality on the reference against consecutive windows of the labelled current data.
    The drop is relative: (reference - current) / reference for AUC and accuracy, (current -
    reference) / reference for RMSE; drift when the latest window's drop exceeds `max_drop`."""
    import numpy as np

    y_ref, y_cur = np.asarray(ref_y), np.asarray(cur_y)
    binary = len(np.unique(y_ref[~_nan_mask(y_ref)])) <= 2
    if metric == "auto":
        metric = "roc_auc" if binary and preds.kind == "score" else ("accuracy" if preds.kind in ("label", "score") else "rmse")
    ref_keep, cur_keep = ~_nan_mask(y_ref), ~_nan_mask(y_cur)
    reference = _metric_value(metric, y_ref[ref_keep], preds.reference[ref_keep])
    result = ConceptResult(metric=metric, reference=_r(reference), max_drop=max_drop)
    y_cur, p_cur = y_cur[cur_keep], preds.current[cur_keep]
    if y_cur.shape[0] == 0:
        result.note = "no labelled rows in the current data"
        return result
    size = window or y_cur.shape[0]
    for start in range(0, y_cur.shape[0], size):
        stop = min(start + size, y_cur.shape[0])
        value = _metric_value(metric, y_cur[start:stop], p_cur[start:stop])
        result.windows.append({"window": len(result.windows), "rows": f"{start}-{stop - 1}", "value": _r(value)})
    result.windows = result.windows[-50:]  # bounded output: the latest 50 windows
    result.latest = result.windows[-1]["value"]
    if reference is None or result.latest is None or reference == 0:
        result.note = f"{metric} is undefined on one side (a single class, or a zero reference)"
        return result
    drop = (reference - result.latest) / abs(reference) if metric != "rmse" else (result.latest - reference) / abs(reference)
    result.drop = _r(drop)
    result.drifted = drop > max_drop
    return result


def _nan_mask(values: Any) -> Any:
    import pandas as pd

    return pd.isna(values)
