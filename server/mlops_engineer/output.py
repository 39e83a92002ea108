"""Keep responses small: long tables go to a CSV in the workspace, the response carries a preview."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

from pydantic import BaseModel, Field

from mlops_engineer.workspace import STATE_DIR, Workspace

PREVIEW_ROWS = 20
OUTPUT_DIR = f"{STATE_DIR}/outputs"


class TablePreview(BaseModel):
    """The first rows of a table; the whole table is in `full_result_path` when it did not fit."""

    columns: list[str] = Field(description="Column names, in order.")
    rows: list[dict[str, Any]] = Field(description=f"At most {PREVIEW_ROWS} rows.")
    total_rows: int = Field(description="Rows in the full table.")
    full_result_path: str | None = Field(
        default=None, description="Workspace path of a CSV holding every row, when the preview is shorter."
    )


def preview_table(
    workspace: Workspace, name: str, rows: list[dict[str, Any]], *, limit: int = PREVIEW_ROWS
) -> TablePreview:
    """Return all rows if they fit, else the first `limit` plus a CSV with every row.

    The CSV name carries a hash of its content, so the same result is written
    once, to the same path, however often it is asked for.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    if len(rows) <= limit:
        return TablePreview(columns=columns, rows=rows, total_rows=len(rows))

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue()
    digest = hashlib.sha256(data.encode()).hexdigest()[:12]
    target = workspace.write_text(f"{OUTPUT_DIR}/{name}-{digest}.csv", data)
    return TablePreview(
        columns=columns, rows=rows[:limit], total_rows=len(rows), full_result_path=workspace.relative(target)
    )


def stable_digest(value: Any) -> str:
    """A digest of JSON-able input, independent of key order: the identity of an idempotent call."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
