"""Checks on one table: duplicates (exact and near), missingness, labels and class balance, and
constant, ID-like and high-cardinality columns.

Every check returns findings; none writes a file. Counts come from pandas' row hashes
(`hash_pandas_object`), which keeps a 1M-row table to a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_engineer.engines.review.findings import Finding, finding

if TYPE_CHECKING:
    import pandas as pd

# Floats are rounded to this many decimals for near-duplicates: rows that differ only in
# float noise (0.1 + 0.2 vs 0.3) or in case and spaces count as the same row.
NEAR_DECIMALS = 6
MAX_CLASSES = 20  # a target with at most this many values (non-float) is a classification target


@dataclass(frozen=True)
class TableRef:
    """A table under review and how a person reproduces a number on it."""

    label: str  # "train", "test" or "data"
    file: str  # workspace-relative path
    reader: str  # "csv" or "parquet"

    def python(self, expression: str) -> str:
        """A shell command that loads the table and prints `expression` (on `d`)."""
        read = f"pd.read_{self.reader}({self.file!r})"
        return f'python -c "import pandas as pd; d = {read}; print({expression})"'


@dataclass
class Roles:
    """Columns with a declared meaning: never reported as ID-like, never used as features."""

    target: str | None = None
    group: str | None = None
    time: str | None = None
    ignore: list[str] = field(default_factory=list)

    def reserved(self) -> set[str]:
        return {c for c in (self.target, self.group, self.time) if c} | set(self.ignore)


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per row over all columns (missing equals missing)."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame, index=False)


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings lowercased with spaces collapsed, floats rounded: what near-duplicates compare.

    Strings are normalised once per distinct value, then each row gets the id of its
    normalised value: a million rows with a few thousand distinct strings cost a few thousand
    string operations, not a million.
    """
    import pandas as pd
    from pandas.api import types

    out = {}
    for column in frame.columns:
        series = frame[column]
        if types.is_float_dtype(series):
            series = series.round(NEAR_DECIMALS)
        elif types.is_object_dtype(series) or types.is_string_dtype(series):
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            folded = pd.Series(uniques, dtype="object").astype(str).str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
            ids, _ = pd.factorize(folded)
            series = pd.Series(ids, dtype="int64").take(codes.clip(min=0)).where(codes >= 0, -1).to_numpy() if len(uniques) else codes
        out[column] = series
    return pd.DataFrame(out, index=frame.index)


def duplicates(frame: pd.DataFrame, ref: TableRef) -> list[Finding]:
    n = len(frame)
    if n == 0:
        return []
    exact = int(row_hashes(frame).duplicated().sum())
    near_total = int(row_hashes(normalized(frame)).duplicated().sum())
    near = near_total - exact
    found = []
    if exact:
        share = exact / n
        found.append(finding(
            "duplicates.exact", "medium" if share >= 0.01 else "low",
            f"{exact} exact duplicate rows in {ref.label} ({share:.2%})",
            "Drop them (`drop_duplicates()`) or explain why a row repeats; duplicates inflate some classes and leak across splits.",
            numbers={"duplicate_rows": exact, "rows": n, "share": share}, file=ref.file,
            command=ref.python("d.duplicated().sum()"), key=ref.label,
        ))
    if near > 0:
        found.append(finding(
            "duplicates.near", "low",
            f"{near} more rows in {ref.label} repeat another row once case, spaces and float noise are ignored",
            "Normalise strings (strip, lower) and round floats at ingestion, then drop the duplicates.",
            numbers={"near_duplicate_rows": near, "rows": n, "float_decimals": NEAR_DECIMALS}, file=ref.file,
            detail="near-duplicates exclude the exact ones", key=ref.label,
        ))
    return found


def is_classification(target: pd.Series) -> bool:
    from pandas.api import types

    values = target.dropna()
    if types.is_float_dtype(values):
        return bool(values.nunique() <= MAX_CLASSES and (values == values.round()).all())
    return bool(values.nunique() <= MAX_CLASSES) or not types.is_numeric_dtype(values)


def missingness(frame: pd.DataFrame, ref: TableRef, roles: Roles) -> list[Finding]:
    """Missing shares per column, and missingness that depends on the target (informative)."""
    n = len(frame)
    if n == 0:
        return []
    found = []
    shares = frame.isna().mean()
    target = frame[roles.target] if roles.target and roles.target in frame.columns else None
    classify = target is not None and is_classification(target)
    for column, share in shares.items():
        if share == 0 or column == roles.target:
            continue
        severity = "medium" if share >= 0.5 else "low" if share >= 0.05 else "info"
        found.append(finding(
            "missing.share", severity, f"{column}: {share:.1%} of {ref.label} values missing",
            "Impute inside the training pipeline (fit on training rows only), or drop the column if it is mostly empty.",
            numbers={"missing": int(frame[column].isna().sum()), "rows": n, "share": float(share)}, file=ref.file,
            detail=f"column {column}", command=ref.python(f"d[{column!r}].isna().sum()"), key=f"{ref.label}:{column}",
        ))
        if classify and target is not None:
            found += _informative_missing(frame, str(column), target, ref)
    return found


def _informative_missing(frame: pd.DataFrame, column: str, target: pd.Series, ref: TableRef) -> list[Finding]:
    """Is the target rate different where the value is missing? (chi-square on a 2 x k table)."""
    import pandas as pd
    from scipy.stats import chi2_contingency

    missing = frame[column].isna()
    if missing.sum() < 10 or (~missing).sum() < 10:
        return []
    table = pd.crosstab(missing, target.astype("string").fillna("<NA>"))
    if table.shape[1] < 2:
        return []
    _, pvalue, _, _ = chi2_contingency(table.to_numpy())
    rates = table.div(table.sum(axis=1), axis=0)
    gap = float((rates.loc[True] - rates.loc[False]).abs().max())
    if pvalue >= 1e-3 or gap < 0.1:
        return []
    return [finding(
        "missing.informative", "medium", f"{column} is missing more often for some classes of the target (gap {gap:.0%})",
        "Missingness carries label information: check how the value is collected (is it filled after the outcome?); "
        "if it is legitimately known at prediction time, add a missing indicator explicitly.",
        numbers={"pvalue": float(pvalue), "max_rate_gap": gap, "missing": int(missing.sum())}, file=ref.file,
        detail=f"column {column}", key=f"{ref.label}:{column}",
    )]


def labels(frame: pd.DataFrame, ref: TableRef, roles: Roles) -> list[Finding]:
    """Missing labels, labels that differ only in spelling, class imbalance, conflicting labels."""
    target_name = roles.target
    if not target_name or target_name not in frame.columns or len(frame) == 0:
        return []
    target = frame[target_name]
    n = len(frame)
    found = []
    missing = int(target.isna().sum())
    if missing:
        found.append(finding(
            "labels.missing", "medium", f"{missing} {ref.label} rows have no label ({missing / n:.1%})",
            "Drop unlabelled rows before training, or label them; never fill a target with a default.",
            numbers={"missing_labels": missing, "rows": n}, file=ref.file,
            command=ref.python(f"d[{target_name!r}].isna().sum()"), key=ref.label,
        ))
    if not is_classification(target):
        return found
    values = target.dropna()
    if values.dtype == object or str(values.dtype) == "string":
        spelled = values.astype("string")
        folded = spelled.str.strip().str.lower()
        if folded.nunique() < spelled.nunique():
            found.append(finding(
                "labels.inconsistent", "high",
                f"{spelled.nunique()} label spellings collapse to {folded.nunique()} classes once case and spaces are ignored",
                "Normalise the label column (strip, lower, map synonyms) before training.",
                numbers={"spellings": int(spelled.nunique()), "classes": int(folded.nunique())}, file=ref.file,
                detail=", ".join(sorted(map(repr, spelled.unique()))[:10]), key=ref.label,
            ))
            values = folded
    counts = values.value_counts()
    if len(counts) == 1:
        found.append(finding(
            "labels.single_class", "critical", f"the {ref.label} target has a single class ('{counts.index[0]}')",
            "A classifier cannot learn from one class: check the filter that built the table.",
            numbers={"rows": n}, file=ref.file, key=ref.label,
        ))
    elif len(counts) > 1:
        minority = float(counts.min() / counts.sum())
        severity = "high" if minority < 0.01 else "medium" if minority < 0.05 else "info"
        found.append(finding(
            "labels.imbalance", severity,
            f"smallest class '{counts.idxmin()}' is {minority:.2%} of {ref.label} labels ({len(counts)} classes)",
            "Use stratified splits, class weights or a threshold tuned on validation data, and report per-class metrics "
            "(precision/recall, PR AUC) rather than accuracy." if severity != "info" else "Nothing to do.",
            numbers={"classes": int(len(counts)), "minority_share": minority, "minority_count": int(counts.min())},
            file=ref.file, command=ref.python(f"d[{target_name!r}].value_counts(normalize=True)"), key=ref.label,
        ))
    found += _conflicting(frame, ref, roles)
    return found


def _conflicting(frame: pd.DataFrame, ref: TableRef, roles: Roles) -> list[Finding]:
    """The same feature row with different labels: label noise or a missing feature."""
    features = [c for c in frame.columns if c not in roles.reserved()]
    if not features:
        return []
    import pandas as pd

    keys = row_hashes(frame[features]).to_numpy()
    labels_codes = pd.factorize(frame[roles.target])[0]
    pairs = pd.DataFrame({"k": keys, "y": labels_codes})
    pairs = pairs[pairs["y"] >= 0].drop_duplicates()  # unlabelled rows are reported by labels.missing
    conflicting = pd.Index(pairs.loc[pairs["k"].duplicated(), "k"].unique())
    if conflicting.empty:
        return []
    rows = int(pd.Series(keys).isin(conflicting).sum())
    return [finding(
        "labels.conflicting", "medium" if rows / len(frame) >= 0.005 else "low",
        f"{len(conflicting)} feature rows appear with different labels ({rows} {ref.label} rows)",
        "Check those rows for labelling errors; if the features truly cannot tell them apart, a feature is missing.",
        numbers={"conflicting_groups": int(len(conflicting)), "rows": rows}, file=ref.file, key=ref.label,
    )]


def columns(frame: pd.DataFrame, ref: TableRef, roles: Roles) -> list[Finding]:
    """Constant columns, ID-like columns (a distinct value per row) and high-cardinality text."""
    from pandas.api import types

    n = len(frame)
    if n < 2:
        return []
    found = []
    reserved = roles.reserved()
    for column in frame.columns:
        if column in reserved:
            continue
        series = frame[column]
        distinct = int(series.nunique(dropna=True))
        where = {"file": ref.file, "detail": f"column {column}", "key": f"{ref.label}:{column}"}
        if distinct <= 1:
            found.append(finding(
                "columns.constant", "low", f"{column} is constant in {ref.label} ({distinct} distinct value)",
                "Drop it from the features: it carries no information.",
                numbers={"distinct": distinct, "rows": n}, command=ref.python(f"d[{column!r}].nunique()"), **where,
            ))
            continue
        text = types.is_object_dtype(series) or types.is_string_dtype(series)
        integral = types.is_integer_dtype(series)
        if (text or integral) and distinct == series.notna().sum() and distinct >= 0.99 * n and n >= 20:
            found.append(finding(
                "columns.id_like", "low", f"{column} has a distinct value on every {ref.label} row: an identifier",
                "Keep it out of the features (declare it as `group_key` or in `ignore` to silence this); a model that "
                "sees an ID memorises rows.",
                numbers={"distinct": distinct, "rows": n}, command=ref.python(f"d[{column!r}].is_unique"), **where,
            ))
        elif text and distinct > 100 and distinct >= 0.5 * n:
            found.append(finding(
                "columns.high_cardinality", "low", f"{column} has {distinct} distinct values in {n} {ref.label} rows",
                "One-hot encoding it explodes the width; hash it, group rare values, or encode it inside the CV folds.",
                numbers={"distinct": distinct, "rows": n}, **where,
            ))
    return found
