"""Unanticipated exceptions get a specific code and a hint (issue 16: 104 generic `failed`s)."""

from __future__ import annotations

import errno
import json

import pytest

from mlops_engineer.failures import MAX_DETAIL_CHARS, classify, tool_error_for


def _real(make):  # the exception a real call raises, not one we construct
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - that is the point
        return exc
    raise AssertionError("expected an exception")


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"\xff\xfe\x00x".decode("utf-8"), "invalid_input"),
        (lambda: open("a\0b"), "invalid_input"),
        (lambda: json.loads("{not json"), "invalid_input"),
        (lambda: open("/no/such/file.csv"), "not_found"),
        (lambda: open("/"), "invalid_input"),
        (lambda: (_ for _ in ()).throw(ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "backend_unreachable"),
        (lambda: (_ for _ in ()).throw(TimeoutError("timed out")), "backend_unreachable"),
        (lambda: (_ for _ in ()).throw(RuntimeError("something odd")), "failed"),
    ],
)
def test_common_failures_get_a_specific_code_and_a_hint(make, code: str) -> None:
    got, hint = classify(_real(make))
    assert got == code and hint


def test_recursion_is_invalid_input() -> None:
    def deep(n: int) -> int:
        return deep(n + 1)

    assert classify(_real(lambda: deep(0)))[0] == "invalid_input"


def test_a_parquet_reader_on_a_text_file_says_the_file_is_wrong(tmp_path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    path.write_text("not parquet at all\n")
    error = tool_error_for("run_ab_test_models", _real(lambda: pq.read_table(path)))
    assert error.code == "invalid_input" and "parsed" in error.hint


def test_a_malformed_csv_says_the_file_is_wrong(tmp_path) -> None:
    import csv

    path = tmp_path / "series.csv"
    path.write_text('timestamp,value\n"2026-01-01,1\n' + "x" * 10 + "\0\n")
    with path.open(newline="") as handle:
        reader = csv.reader(handle, strict=True)
        error = tool_error_for("forecast_operational_metrics", _real(lambda: list(reader)))
    assert error.code == "invalid_input" and "parsed" in error.hint


def test_long_sdk_messages_are_bounded() -> None:
    error = tool_error_for("t", RuntimeError("x" * 100_000))
    assert len(error.message) < MAX_DETAIL_CHARS + 100 and "100000 characters" in error.message


def test_a_name_too_long_for_the_file_system_is_invalid_input() -> None:
    assert classify(_real(lambda: open("x" * 5000)))[0] == "invalid_input"
