"""A drift check over files larger than memory: bounded chunks, mergeable summaries.

The in-memory check holds both datasets and sorts every numerical column: about twice
the frames' size at its peak. Here each file is read in chunks of at most `chunk_bytes`
(Parquet: one row group at a time, a few columns at a time; CSV: blocks of rows) and
every chunk becomes a summary that merges by adding:

- a numerical column: counts on a uniform grid of `cells` cells over both sides' min
  and max (`stats.GridSummary`; the range comes from Parquet's row-group statistics,
  or from a first pass over a CSV), plus the missing count, sum and sum of squares;
- a categorical column: value counts (`stats.CategoricalCounts`), exact.

What is exact and what is bounded (`ACCURACY`): categorical statistics, counts, missing
shares and means are exact; KS is a lower bound within its per-feature
`ks_error_bound` (the largest share either side puts in one cell); Wasserstein is within
one cell width; PSI and Jensen-Shannon are exact for bins whose edges are the grid cells
nearest the reference quantiles (the in-memory check cuts at the quantiles themselves).
Peak memory is one chunk plus numpy's temporaries, whatever the files' length.

Column roles are inferred (or checked) on the first rows of each file, with the same
rules as the in-memory check; a seeded sample of rows (`sample_rows` per side) is kept
for the HTML report, which draws distributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_engineer.engines.drift import check as engine
from mlops_engineer.engines.drift import stats as ds
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[float, float | None, str | None], None]
ROLE_ROWS = 100_000  # rows of each file the roles are inferred from
OBJECT_BYTES = 60  # a pandas object cell (a short str) in memory, beyond its text
IN_MEMORY_FACTOR = 2.3  # measured through the tool: 2.2x the two frames at 1M and 3M rows (Arrow table + frame while reading, sorted copies)
ACCURACY = {
    "exact": ["categorical features: PSI, Jensen-Shannon, chi-square (value counts)", "row and missing counts, missing shares",
              "numerical means (sums in float64)"],
    "bounded": ["ks_statistic: a lower bound; the exact value is at most ks_error_bound higher (per feature); p-values asymptotic",
                "wasserstein: within one grid cell width of the exact value (wasserstein_error_bound, per feature)",
                "psi, js_distance (numerical): exact for bins cut at the grid cells nearest the reference quantiles; "
                "each cut is at most one cell width from the quantile the in-memory check uses"],
}


# --------------------------------------------------------------------------- sizes


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def memory_estimate(path: Path) -> int:
    """Bytes the file takes as a pandas frame: Parquet from its metadata, CSV from its size."""
    if not is_parquet(path):
        return path.stat().st_size  # text of a number ~ its 8 bytes as float64; strings about the same
    pq = import_optional("pyarrow.parquet", "monitoring")
    handle = pq.ParquetFile(path)
    meta, schema = handle.metadata, handle.schema_arrow
    total = 0
    for i, column in enumerate(schema):
        if _numeric_or_bool(column.type):
            total += 8 * meta.num_rows
        else:
            raw = sum(meta.row_group(g).column(i).total_uncompressed_size for g in range(meta.num_row_groups))
            total += raw + OBJECT_BYTES * meta.num_rows
    return total


def in_memory_peak(reference: Path, current: Path) -> int:
    """What the in-memory check would need at its peak, estimated."""
    return int(IN_MEMORY_FACTOR * (memory_estimate(reference) + memory_estimate(current)))


def _numeric_or_bool(arrow_type: Any) -> bool:
    pa = import_optional("pyarrow", "monitoring")
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type)
                or pa.types.is_decimal(arrow_type))


# --------------------------------------------------------------------------- reading in chunks


@dataclass
class _File:
    path: Path
    label: str
    chunk_bytes: int
    rows: int = 0

    def head(self, rows: int) -> pd.DataFrame:
        pd = import_optional("pandas", "monitoring")
        try:
            if is_parquet(self.path):
                pq = import_optional("pyarrow.parquet", "monitoring")
                handle = pq.ParquetFile(self.path)
                self.rows = handle.metadata.num_rows
                # One row group only: iter_batches over the whole file would buffer every row group first.
                batch = next(handle.iter_batches(batch_size=rows, row_groups=[0]), None) if handle.num_row_groups else None
                frame = batch.to_pandas() if batch is not None else handle.schema_arrow.empty_table().to_pandas()
            else:
                frame = pd.read_csv(self.path, nrows=rows)
        except Exception as exc:  # pyarrow and pandas raise many types for a malformed file
            raise ToolError("invalid_input", f"{self.label} {self.path.name}: could not be read ({type(exc).__name__}: {exc})",
                            "Give a CSV with a header row or a Parquet file.") from exc
        if frame.shape[0] == 0:
            raise ToolError("invalid_input", f"{self.label} {self.path.name} has no rows.", "A drift check needs data on both sides.")
        return frame

    def chunks(self, columns: Sequence[str]) -> Iterator[tuple[pd.DataFrame, int, int]]:
        """(frame of some columns, first row, chunk number) covering every row of `columns`, one bounded chunk at a time."""
        if is_parquet(self.path):
            yield from self._parquet_chunks(columns)
        else:
            yield from self._csv_chunks(columns)

    def _parquet_chunks(self, columns: Sequence[str]) -> Iterator[tuple[pd.DataFrame, int, int]]:
        pq = import_optional("pyarrow.parquet", "monitoring")
        handle = pq.ParquetFile(self.path)
        meta = handle.metadata
        first = 0
        for g in range(meta.num_row_groups):
            rows = meta.row_group(g).num_rows
            # As many columns per read as fit the chunk (at least one): a row group of a wide file
            # can be larger than the budget, one of its columns rarely is.
            per_read = max(1, self.chunk_bytes // max(8 * rows, 1))
            for start in range(0, len(columns), per_read):
                table = handle.read_row_group(g, columns=list(columns[start:start + per_read]), use_threads=False)
                yield table.to_pandas(), first, g
                del table
            first += rows
        self.rows = first

    def _csv_chunks(self, columns: Sequence[str]) -> Iterator[tuple[pd.DataFrame, int, int]]:
        pd = import_optional("pandas", "monitoring")
        rows = max(1_000, self.chunk_bytes // (8 * max(len(columns), 1)))
        first = 0
        for number, frame in enumerate(pd.read_csv(self.path, usecols=list(columns), chunksize=rows)):
            yield frame, first, number
            first += frame.shape[0]
        self.rows = first


# --------------------------------------------------------------------------- the check


@dataclass
class StreamedCheck:
    results: list[engine.FeatureResult]
    roles: engine.Roles
    skipped: list[dict[str, str]]
    rows: dict[str, int]
    samples: tuple[Any, Any] | None  # (reference, current) frames for the HTML report
    prediction: engine.FeatureResult | None = None
    prediction_kind: str = ""
    chunks: int = 0
    bounds: dict[str, dict[str, float]] = field(default_factory=dict)  # feature -> ks/wasserstein error bounds


@dataclass
class _Side:
    numeric: dict[str, ds.GridSummary] = field(default_factory=dict)
    categorical: dict[str, ds.CategoricalCounts] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    sample: list[Any] = field(default_factory=list)


def check(reference: Path, current: Path, *, numerical: list[str] | None, categorical: list[str] | None, target: str | None,
          prediction: str | None, exclude: list[str], thresholds: engine.Thresholds, sample_rows: int | None,
          chunk_bytes: int, cells: int = 16_384, progress: Progress | None = None) -> StreamedCheck:
    """Roles from the first rows, then every feature summarised chunk by chunk, then the statistics."""
    files = (_File(reference, "reference", chunk_bytes), _File(current, "current", chunk_bytes))
    heads = [f.head(ROLE_ROWS) for f in files]
    roles, skipped = engine.infer_roles(heads[0], heads[1], numerical, categorical, target, prediction, exclude)
    engine.check_dtypes(heads[0], heads[1], roles)
    prediction_kind = ""
    numeric_cols, categorical_cols = list(roles.numerical), list(roles.categorical)
    if roles.prediction:
        prediction_kind = engine.column_predictions(heads[0], heads[1], roles.prediction).kind
        (categorical_cols if prediction_kind == "label" else numeric_cols).append(roles.prediction)
    del heads
    wanted = [*numeric_cols, *categorical_cols]
    sides = (_Side(), _Side())
    for side, handle in zip(sides, files, strict=True):
        _ranges(handle, numeric_cols, side, progress)
    grids = {}
    for c in numeric_cols:
        lows = [s.low[c] for s in sides if c in s.low]
        highs = [s.high[c] for s in sides if c in s.high]
        grids[c] = ds.Grid(min(lows), max(highs), cells) if lows else ds.Grid(0.0, 0.0, cells)
    chunks = 0
    for side, handle in zip(sides, files, strict=True):
        chunks += _summarise(handle, wanted, numeric_cols, categorical_cols, grids, side, sample_rows, progress)
    rows = {"reference": files[0].rows, "current": files[1].rows}
    out = StreamedCheck([], roles, skipped, rows, None, prediction_kind=prediction_kind, chunks=chunks)
    for column in [*numeric_cols, *categorical_cols]:
        kind = "numerical" if column in numeric_cols else "categorical"
        result = _result(column, kind, sides, thresholds, out)
        if column == roles.prediction:
            out.prediction = result
        else:
            out.results.append(result)
    order = {c: i for i, c in enumerate([*roles.numerical, *roles.categorical])}
    out.results.sort(key=lambda r: order[r.column])
    if sample_rows:
        pd = import_optional("pandas", "monitoring")
        out.samples = tuple(pd.concat(s.sample, ignore_index=True) if s.sample else None for s in sides)  # type: ignore[assignment]
    return out


def _ranges(handle: _File, columns: list[str], side: _Side, progress: Progress | None) -> None:
    """Min and max of each numerical column: Parquet row-group statistics, else a first pass."""
    if not columns:
        return
    if is_parquet(handle.path):
        pq = import_optional("pyarrow.parquet", "monitoring")
        meta = pq.ParquetFile(handle.path).metadata
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        unknown = set()
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in columns:
                stats = group.column(index[c]).statistics
                if stats is None or not stats.has_min_max:
                    if stats is None or stats.null_count != group.num_rows:
                        unknown.add(c)  # values without statistics: read them below
                    continue
                _widen(side, c, float(stats.min), float(stats.max))
        columns = sorted(unknown)
        if not columns:
            return
    for frame, _, number in handle.chunks(columns):
        for c in frame.columns:
            values = engine._floats(frame[c])
            finite = values[~_isnan(values)]
            if finite.shape[0]:
                _widen(side, c, float(finite.min()), float(finite.max()))
        if progress:
            progress(number + 1, None, f"{handle.label}: ranges, chunk {number + 1}")


def _widen(side: _Side, column: str, low: float, high: float) -> None:
    if math.isnan(low) or math.isnan(high):
        return
    side.low[column] = min(side.low.get(column, low), low)
    side.high[column] = max(side.high.get(column, high), high)


def _isnan(values: Any) -> Any:
    import numpy as np

    return np.isnan(values)


def _summarise(handle: _File, wanted: list[str], numeric: list[str], categorical: list[str], grids: dict[str, ds.Grid],
               side: _Side, sample_rows: int | None, progress: Progress | None) -> int:
    import numpy as np

    if sample_rows and not handle.rows:
        handle.rows = _count_rows(handle.path)  # a CSV whose length no earlier pass gave
    total = max(handle.rows, 1)
    count = 0
    picks: dict[int, Any] = {}  # chunk number -> row positions sampled in it (the same for each column group)
    pieces: dict[int, list[Any]] = {}
    for frame, first, number in handle.chunks(wanted):
        count += 1
        for c in frame.columns:
            if c in grids:
                part = ds.GridSummary.from_values(engine._floats(frame[c]), grids[c])
                side.numeric[c] = side.numeric[c].merge(part) if c in side.numeric else part
            elif c in categorical:
                part_counts = ds.CategoricalCounts.from_values(_labels(frame[c]))
                side.categorical[c] = side.categorical[c].merge(part_counts) if c in side.categorical else part_counts
        if sample_rows:
            if number not in picks:
                rows = frame.shape[0]
                want = min(rows, math.ceil(sample_rows * rows / total))
                rng = np.random.default_rng(number)
                picks[number] = np.sort(rng.choice(rows, size=want, replace=False))
            pieces.setdefault(number, []).append(frame.iloc[picks[number]].reset_index(drop=True))
        del frame
        if progress:
            progress(count, None, f"{handle.label}: chunk {count} (rows from {first:,})")
    if sample_rows:
        pd = import_optional("pandas", "monitoring")
        side.sample = [pd.concat(parts, axis=1) for _, parts in sorted(pieces.items())]
    return count


def _labels(series: Any) -> Any:
    """Category labels that do not depend on the chunk: a whole float prints as an integer
    (1.0 -> "1", as the in-memory check prints an all-whole column), any other float as itself.
    The in-memory check decides per column, which one chunk alone cannot."""
    from pandas.api import types

    if not types.is_float_dtype(series):
        return engine._categorical_values(series)
    present = series.notna()
    whole = present & (series == series.round())
    labels = series.astype(object)
    labels[whole] = series[whole].astype("int64").astype(str)
    labels[present & ~whole] = series[present & ~whole].astype(str)
    return labels.where(present)


def _count_rows(path: Path) -> int:
    """Data rows of a CSV (lines after the header), to size each chunk's share of the sample."""
    with open(path, "rb") as handle:
        return max(sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) - 1, 0)


def _result(column: str, kind: str, sides: tuple[_Side, _Side], t: engine.Thresholds, out: StreamedCheck) -> engine.FeatureResult:
    """The same verdict and notes as `check.feature_drift`, from merged summaries."""
    ref, cur = sides
    if kind == "numerical":
        a, b = ref.numeric.get(column), cur.numeric.get(column)
        if a is None or b is None or a.n == 0 or b.n == 0:
            return engine._all_missing(column, kind, reference_empty=a is None or a.n == 0)
        stats = ds.grid_stats(column, a, b, n_bins=t.n_bins, epsilon=t.epsilon)
        out.bounds[column] = {"ks_error_bound": float(stats.ks_error_bound or 0.0),
                              "wasserstein_error_bound": float(stats.extra.get("wasserstein_error_bound", 0.0))}  # type: ignore[arg-type]
        note = "constant in the reference" if ref.low.get(column) == ref.high.get(column) else ""
    else:
        a_counts, b_counts = ref.categorical.get(column), cur.categorical.get(column)
        if a_counts is None or b_counts is None or a_counts.n == 0 or b_counts.n == 0:
            return engine._all_missing(column, kind, reference_empty=a_counts is None or a_counts.n == 0)
        stats = ds.categorical_stats(column, a_counts, b_counts, epsilon=t.epsilon)
        new = stats.extra.get("new_categories") or []
        note = f"new categories: {', '.join(map(str, new))} (chi-square infinite, p = 0)" if new else ""  # type: ignore[arg-type]
    severity = engine.severity_of(stats.psi, t)
    return engine.FeatureResult(stats, column, kind, severity, severity != "none", note)
