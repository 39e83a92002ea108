"""Bounded output: previews, CSV spill files, stable digests."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from mlops_engineer.output import OUTPUT_DIR, PREVIEW_ROWS, preview_table, stable_digest
from mlops_engineer.workspace import Workspace


def _rows(n: int) -> list[dict[str, object]]:
    return [{"run_id": f"r{i}", "metrics.auc": i / 100, **({"params.depth": i} if i % 2 else {})} for i in range(n)]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.mark.parametrize("n", [0, 1, PREVIEW_ROWS])
def test_below_the_limit_everything_is_inline(ws: Workspace, n: int) -> None:
    rows = _rows(n)
    table = preview_table(ws, "runs", rows)
    assert table.rows == rows
    assert table.total_rows == n
    assert table.full_result_path is None
    assert not (ws.root / OUTPUT_DIR).exists()


def test_columns_are_the_union_in_first_seen_order(ws: Workspace) -> None:
    table = preview_table(ws, "t", [{"a": 1}, {"b": 2, "a": 3}, {"c": 4}])
    assert table.columns == ["a", "b", "c"]


@pytest.mark.parametrize(("n", "limit"), [(PREVIEW_ROWS + 1, PREVIEW_ROWS), (250, PREVIEW_ROWS), (5, 2)])
def test_above_the_limit_a_complete_csv_is_written(ws: Workspace, n: int, limit: int) -> None:
    rows = _rows(n)
    table = preview_table(ws, "compare_runs", rows, limit=limit)
    assert table.total_rows == n
    assert table.rows == rows[:limit]
    assert table.columns == ["run_id", "metrics.auc", "params.depth"]
    assert table.full_result_path is not None
    assert table.full_result_path.startswith(f"{OUTPUT_DIR}/compare_runs-")
    assert table.full_result_path.endswith(".csv")

    parsed = list(csv.DictReader(io.StringIO((ws.root / table.full_result_path).read_text())))
    assert len(parsed) == n
    expected = [{c: "" if r.get(c) is None else str(r[c]) for c in table.columns} for r in rows]
    assert parsed == expected


def test_same_rows_same_path_and_no_duplicate_files(ws: Workspace) -> None:
    rows = _rows(40)
    first = preview_table(ws, "runs", rows)
    second = preview_table(ws, "runs", list(rows))
    assert first == second
    assert len(list((ws.root / OUTPUT_DIR).iterdir())) == 1
    other = preview_table(ws, "runs", _rows(41))
    assert other.full_result_path != first.full_result_path
    assert len(list((ws.root / OUTPUT_DIR).iterdir())) == 2


def test_preview_is_json_serialisable(ws: Workspace) -> None:
    table = preview_table(ws, "runs", _rows(30))
    dumped = table.model_dump(mode="json")
    assert dumped["total_rows"] == 30 and len(dumped["rows"]) == PREVIEW_ROWS


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"x": 1, "y": 2}, {"y": 2, "x": 1}),
        ({"outer": {"b": [1, 2], "a": None}}, {"outer": {"a": None, "b": [1, 2]}}),
    ],
)
def test_stable_digest_ignores_key_order(a: object, b: object) -> None:
    assert stable_digest(a) == stable_digest(b)
    assert len(stable_digest(a)) == 64


@pytest.mark.parametrize(("a", "b"), [({"x": 1}, {"x": 2}), ([1, 2], [2, 1]), ({"x": "1"}, {"x": 1})])
def test_stable_digest_sees_real_differences(a: object, b: object) -> None:
    assert stable_digest(a) != stable_digest(b)


def test_stable_digest_accepts_non_json_values() -> None:
    assert stable_digest({"p": Path("/a")}) == stable_digest({"p": "/a"})
