"""Train/test overlap: identical rows, the same group (customer) in both splits, and test rows
older than the newest training row.

Counts are of test rows, with multiplicity: "test rows equal to some training row on every
shared column (missing equals missing)". The tests recompute each with DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_engineer.engines.review.data_quality import Roles, TableRef, row_hashes
from mlops_engineer.engines.review.findings import Finding, finding

if TYPE_CHECKING:
    import pandas as pd


def shared_columns(train: pd.DataFrame, test: pd.DataFrame, roles: Roles) -> list[str]:
    return [c for c in train.columns if c in test.columns and c not in roles.ignore]


def row_overlap_count(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> int:
    """Test rows identical to some training row on `columns`."""
    if not columns or len(train) == 0 or len(test) == 0:
        return 0
    left = row_hashes(train[columns].astype(_common_types(train[columns], test[columns])))
    right = row_hashes(test[columns].astype(_common_types(train[columns], test[columns])))
    return int(right.isin(left.to_numpy()).sum())


def _common_types(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, str]:
    """Hash both sides with one dtype per column, so 1 (int) and 1.0 (float) hash alike."""
    from pandas.api import types

    out = {}
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype == y.dtype:
            out[column] = str(x.dtype)
        elif types.is_numeric_dtype(x) and types.is_numeric_dtype(y) and not types.is_bool_dtype(x):
            out[column] = "float64"
        else:
            out[column] = "object"
    return out


def group_overlap(train: pd.DataFrame, test: pd.DataFrame, key: str) -> tuple[int, int]:
    """(distinct groups in both splits, test rows whose group is also in training)."""
    train_groups = train[key].dropna().unique()
    in_train = test[key].isin(train_groups) & test[key].notna()
    return int(test.loc[in_train, key].nunique()), int(in_train.sum())


def time_overlap(train: pd.DataFrame, test: pd.DataFrame, column: str) -> tuple[int, object, object]:
    """(test rows strictly older than the newest training row, that newest time, the oldest test time)."""
    a, b = _as_time(train[column]), _as_time(test[column])
    newest = a.max()
    if a.dropna().empty or b.dropna().empty:
        return 0, newest, b.min()
    return int((b < newest).sum()), newest, b.min()


def _as_time(series: pd.Series) -> pd.Series:
    import pandas as pd
    from pandas.api import types

    if types.is_numeric_dtype(series) or types.is_datetime64_any_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce", utc=True)


def overlaps(train: pd.DataFrame, test: pd.DataFrame, refs: tuple[TableRef, TableRef], roles: Roles) -> list[Finding]:
    tr, te = refs
    found = []
    n_test = len(test)
    if n_test == 0:
        return []
    columns = shared_columns(train, test, roles)
    rows = row_overlap_count(train, test, columns)
    if rows:
        share = rows / n_test
        found.append(finding(
            # A handful of coincident rows is expected when every column is coarse (small integers, clipped values).
            "overlap.rows", "high" if share >= 0.01 else "medium" if share >= 0.002 else "low",
            f"{rows} test rows ({share:.2%}) are identical to a training row",
            "Deduplicate before splitting, then split; the test score of a model that saw these rows is optimistic.",
            numbers={"test_rows_in_train": rows, "test_rows": n_test, "share": share, "columns_compared": len(columns)},
            file=te.file, detail=f"compared on {len(columns)} shared columns; training file {tr.file}",
            command=f"python -c \"import pandas as pd; a = pd.read_{tr.reader}({tr.file!r}); b = pd.read_{te.reader}({te.file!r}); "
                    f"c = [x for x in a.columns if x in b.columns]; print(b.merge(a[c].drop_duplicates(), on=c).shape[0])\"",
            key="rows",
        ))
    if roles.group and roles.group in train.columns and roles.group in test.columns:
        groups, group_rows = group_overlap(train, test, roles.group)
        if groups:
            found.append(finding(
                "overlap.group", "high",
                f"{groups} {roles.group} values are in both splits ({group_rows} test rows)",
                f"Split by {roles.group} (GroupShuffleSplit / GroupKFold) so each {roles.group} is in one split only.",
                numbers={"shared_groups": groups, "test_rows": group_rows, "share": group_rows / n_test},
                file=te.file, detail=f"group key {roles.group}",
                command=f"python -c \"import pandas as pd; a = pd.read_{tr.reader}({tr.file!r}); b = pd.read_{te.reader}({te.file!r}); "
                        f"print(len(set(a[{roles.group!r}]) & set(b[{roles.group!r}])))\"",
                key="group",
            ))
    if roles.time and roles.time in train.columns and roles.time in test.columns:
        older, newest, oldest = time_overlap(train, test, roles.time)
        if older:
            found.append(finding(
                "overlap.time", "high",
                f"{older} test rows ({older / n_test:.1%}) are older than the newest training row",
                f"Split by time: train on rows before a cut-off on {roles.time}, test on rows after it; "
                "a random split lets the model learn from the future.",
                numbers={"test_rows_older": older, "test_rows": n_test, "newest_train": str(newest), "oldest_test": str(oldest)},
                file=te.file, detail=f"time column {roles.time}", key="time",
            ))
    return found
