"""Drift over data too large for memory: per-partition grid summaries, merged.

A partition is a Parquet row group here; the same `GridSummary.from_values` runs on a
Ray task's block just as well, and the summaries merge by adding counts. The grid's
range comes from the row-group min/max statistics, so each file is read once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from mlops_engineer.engines.drift import stats as ds
from mlops_engineer.optional import import_optional

Progress = Callable[[float, float | None, str | None], None]


def parquet_grids(paths: Sequence[Path], columns: Sequence[str], cells: int = 16_384) -> dict[str, ds.Grid]:
    """One grid per column over the min and max of every file (row-group statistics; a
    column without statistics is scanned for them)."""
    pq = import_optional("pyarrow.parquet", "monitoring")
    lo = {c: math.inf for c in columns}
    hi = {c: -math.inf for c in columns}
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in columns:
                stats = group.column(index[c]).statistics
                if stats is None or not stats.has_min_max:
                    values = pq.ParquetFile(path).read_row_group(g, columns=[c]).column(0).to_numpy()
                    low, high = float(values[~_isnan(values)].min()), float(values[~_isnan(values)].max())
                else:
                    low, high = float(stats.min), float(stats.max)
                lo[c], hi[c] = min(lo[c], low), max(hi[c], high)
    return {c: ds.Grid(lo[c], hi[c], cells) for c in columns}


def _isnan(values):  # noqa: ANN001, ANN202 - numpy arrays
    import numpy as np

    return np.isnan(values)


def parquet_summaries(path: Path, grids: dict[str, ds.Grid], progress: Progress | None = None) -> dict[str, ds.GridSummary]:
    """Merged summaries of one file, read one row group at a time (`iter_batches` would
    pre-buffer every row group it is going to read)."""
    pq = import_optional("pyarrow.parquet", "monitoring")
    handle = pq.ParquetFile(path)
    columns = list(grids)
    merged: dict[str, ds.GridSummary] = {}
    groups = handle.metadata.num_row_groups
    for g in range(groups):
        table = handle.read_row_group(g, columns=columns, use_threads=False)
        for i, c in enumerate(columns):
            part = ds.GridSummary.from_values(table.column(i).to_numpy(), grids[c])
            merged[c] = merged[c].merge(part) if c in merged else part
        del table
        if progress:
            progress(g + 1, groups, f"{path.name}: row group {g + 1} of {groups}")
    return merged


def parquet_drift(reference: Path, current: Path, columns: Sequence[str] | None = None, *, cells: int = 16_384,
                  n_bins: int = ds.DEFAULT_BINS, epsilon: float = ds.DEFAULT_EPSILON,
                  progress: Progress | None = None) -> list[ds.ColumnStats]:
    """Numerical drift statistics of two Parquet files in one streaming pass each."""
    pq = import_optional("pyarrow.parquet", "monitoring")
    names = list(columns) if columns is not None else [
        f.name for f in pq.ParquetFile(reference).schema_arrow if f.type in _numeric_types()]
    grids = parquet_grids([reference, current], names, cells)
    ref = parquet_summaries(reference, grids, progress)
    cur = parquet_summaries(current, grids, progress)
    return [ds.grid_stats(c, ref[c], cur[c], n_bins=n_bins, epsilon=epsilon) for c in names]


def _numeric_types():  # noqa: ANN202
    pa = import_optional("pyarrow", "monitoring")
    return {pa.float64(), pa.float32(), pa.int64(), pa.int32()}
