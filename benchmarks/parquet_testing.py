"""Read every file of apache/parquet-testing through serialize_data_formats' readers; classify each.

    uv run --all-extras python benchmarks/parquet_testing.py [--root DIR] [--json] [--markdown]

Each file goes through `inspect` (footer, then every row decoded and counted against it) and a
full read. Outcomes: `correct` (values equal the companion expectation where the repository has
one: the `*_expect.csv` beside the delta files, the microseconds listed in int96_from_spark.md;
otherwise the decoded row count equals the footer's), `refused` (a ToolError with a message: the
clean refusal), `neither` (any other exception, a hang past the per-file timeout, or a crash).

Files are read in a child process that reports one JSON line per file: a file that crashes the
reader (a segfault in native code) or hangs kills only the child, is recorded as `neither`, and
the sweep resumes with the next file. The repository is read in place (default
../shared/data/parquet-testing, or PARQUET_TESTING_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PER_FILE_TIMEOUT_S = 60
# The team's shared folder sits beside the clone (../shared), or beside the folder of worktrees.
_REPO = Path(__file__).resolve().parents[1]
DEFAULTS = [_REPO.parent / "shared/data/parquet-testing", _REPO.parent.parent / "shared/data/parquet-testing"]


def root_dir(given: str | None) -> Path:
    found = next((d for d in DEFAULTS if d.is_dir()), DEFAULTS[0])
    root = Path(given or os.environ.get("PARQUET_TESTING_DIR") or found).resolve()
    if not (root / "data").is_dir() or not (root / "bad_data").is_dir():
        raise SystemExit(f"apache/parquet-testing not found at {root}: git clone https://github.com/apache/parquet-testing "
                         "there (or set PARQUET_TESTING_DIR).")
    return root


def all_files(root: Path) -> list[Path]:
    return sorted(p for d in ("data", "bad_data") for p in (root / d).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the child: one file at a time


def _expected(path: Path) -> tuple[str, Any] | None:
    """What the repository says the file holds, where it says it."""
    expect = path.with_name(path.stem + "_expect.csv")
    if expect.exists():
        return "csv", expect
    if path.name == "int96_from_spark.parquet":
        text = path.with_name("int96_from_spark.md").read_text()
        block = text.split("As microseconds since the epoch, they correspond to:", 1)[1].split("```")[1]
        return "micros", [None if v.strip() == "null" else int(v) for v in block.strip().split(",")]
    return None


def _as_text(values: list[Any]) -> list[str | None]:
    return [None if v is None else str(v) for v in values]


def _compare(table: Any, expected: tuple[str, Any]) -> str:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    kind, what = expected
    if kind == "micros":
        got = table.column(0).cast(pa.int64()).to_pylist()
        if got != what:
            raise AssertionError(f"int96 values {got} differ from the listed microseconds {what}")
        return "values equal the microseconds listed in int96_from_spark.md"
    names = pacsv.read_csv(what, read_options=pacsv.ReadOptions(block_size=1 << 24)).column_names
    options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    want = pacsv.read_csv(what, convert_options=options)
    if want.num_rows != table.num_rows or want.num_columns != table.num_columns:
        raise AssertionError(f"shape {table.shape} differs from {what.name} {want.shape}")
    for i in range(want.num_columns):
        if _as_text(table.column(i).to_pylist()) != want.column(i).to_pylist():
            raise AssertionError(f"column {table.column_names[i]} differs from {what.name}")
    return f"values equal {what.name} ({want.num_rows} rows x {want.num_columns} columns)"


def check_one(path: Path) -> dict[str, Any]:
    from mlops_engineer.engines.formats.inspect import inspect_file
    from mlops_engineer.engines.formats.readers import detect_format, open_reader
    from mlops_engineer.errors import ToolError

    budget = 512 << 20
    started = time.perf_counter()
    try:
        fmt = detect_format(path)
        info = inspect_file(path, fmt, verify=True, batch_rows=65_536, max_row_group_bytes=budget)
        table = open_reader(path, fmt, max_row_group_bytes=budget).read_all()
        expected = _expected(path)
        if expected is not None:
            detail = _compare(table, expected)
        else:
            detail = f"{info.rows} rows decoded" + (" (= footer)" if fmt == "parquet" else "")
        status = "correct"
    except ToolError as exc:
        status, detail = "refused", exc.message
    except Exception as exc:  # noqa: BLE001 - anything but a ToolError is what this sweep exists to find
        status, detail = "neither", f"{type(exc).__name__}: {exc}"
    return {"status": status, "detail": detail[:300], "seconds": round(time.perf_counter() - started, 3)}


def child(root: Path, names: list[str]) -> None:
    def timeout(*_: Any) -> None:
        raise TimeoutError(f"no answer within {PER_FILE_TIMEOUT_S} s")

    signal.signal(signal.SIGALRM, timeout)
    for name in names:
        print(json.dumps({"file": name, "started": True}), flush=True)
        signal.alarm(PER_FILE_TIMEOUT_S)
        result = check_one(root / name)
        signal.alarm(0)
        print(json.dumps({"file": name, **result}), flush=True)


# --------------------------------------------------------------------------- the parent


def sweep(root: Path) -> list[dict[str, Any]]:
    remaining = [p.relative_to(root).as_posix() for p in all_files(root)]
    results: list[dict[str, Any]] = []
    while remaining:
        proc = subprocess.Popen([sys.executable, __file__, "--child", "--root", str(root), *remaining],
                                stdout=subprocess.PIPE, text=True)
        current = None
        assert proc.stdout is not None
        for line in proc.stdout:
            record = json.loads(line)
            if record.get("started"):
                current = record["file"]
                continue
            results.append(record)
            remaining.remove(record["file"])
            current = None
        code = proc.wait()
        if current is not None:  # the child died inside this file: a crash
            results.append({"file": current, "status": "neither", "detail": f"the reader crashed (exit {code})", "seconds": None})
            remaining.remove(current)
        elif code != 0 and remaining:
            raise SystemExit(f"the sweep's child failed (exit {code}) outside any file")
    return sorted(results, key=lambda r: r["file"])


def markdown(results: list[dict[str, Any]]) -> str:
    def count(prefix: str, status: str) -> int:
        return sum(1 for r in results if r["file"].startswith(prefix) and r["status"] == status)

    lines = ["| folder | files | correct | refused cleanly | neither |", "|---|---:|---:|---:|---:|"]
    for prefix in ("data/", "bad_data/"):
        total = sum(1 for r in results if r["file"].startswith(prefix))
        lines.append(f"| `{prefix}` | {total} | {count(prefix, 'correct')} | {count(prefix, 'refused')} | {count(prefix, 'neither')} |")
    lines += ["", "| file | outcome | detail |", "|---|---|---|"]
    for r in results:
        detail = re.sub(r"\s+", " ", r["detail"]).replace("|", "\\|")
        lines.append(f"| `{r['file']}` | {r['status']} | {detail} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = root_dir(args.root)
    if args.child:
        child(root, args.files)
        return
    started = time.perf_counter()
    results = sweep(root)
    if args.json:
        print(json.dumps(results))
        return
    print(markdown(results))
    print(f"\n{len(results)} files in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
