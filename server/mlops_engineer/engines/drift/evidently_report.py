"""Evidently as the report renderer: a `DataDriftPreset` HTML report over the same columns.

Our numbers come from `stats`; Evidently draws the distributions. Its verdicts
use PSI (`num_method`/`cat_method` = "psi") at our moderate threshold so the report
and our table point the same way, though Evidently bins numerical columns its own way
(Sturges bins over both datasets) and so its PSI values differ from ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd


def drift_snapshot(ref: pd.DataFrame, cur: pd.DataFrame, numerical: list[str], categorical: list[str], *,
                   method: str | None = "psi", threshold: float | None = 0.1, drift_share: float = 0.5) -> Any:
    """Run Evidently's DataDriftPreset and return the snapshot (`.save_html`, `.dict()`)."""
    evidently = import_optional("evidently", "monitoring")
    from evidently.presets import DataDriftPreset

    columns = [*numerical, *categorical]
    definition = evidently.DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(columns=columns, num_method=method, cat_method=method, threshold=threshold,
                             drift_share=drift_share)
    report = evidently.Report([preset])
    return report.run(evidently.Dataset.from_pandas(cur[columns], data_definition=definition),
                      evidently.Dataset.from_pandas(ref[columns], data_definition=definition))


def value_drift(snapshot: Any) -> dict[str, float]:
    """column -> the drift value Evidently computed (`ValueDrift` metrics of the snapshot)."""
    out = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            out[config["column"]] = float(metric["value"])
    return out


def sample_for_report(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """A deterministic sample: the HTML shows distributions, which a sample draws as well."""
    if frame.shape[0] <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=0)
