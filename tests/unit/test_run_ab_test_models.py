"""run_ab_test_models actions that need no server: design, assign, SRM, analyze, simulate_aa, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.run_ab_test_models import TOOL, ABTestOutput, summarize
from tests.helpers import ToolRunner


@pytest.fixture
def tools(tmp_path: Path) -> ToolRunner:
    return ToolRunner(tmp_path)


def _code(tools: ToolRunner, operation: dict, **fields: object) -> ToolError:
    with pytest.raises(ToolError) as error:
        tools(TOOL, operation, **fields)
    return error.value


def _write_log(root: Path, *, p_champion: float, p_challenger: float, n: int = 4000, share: float = 0.5,
               slow_challenger: bool = False, errors: float = 0.0, seed: int = 3, name: str = "log.jsonl") -> str:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        variant = "challenger" if rng.random() < share else "champion"
        rate = p_challenger if variant == "challenger" else p_champion
        latency = float(rng.gamma(4, 5)) * (2 if slow_challenger and variant == "challenger" else 1)
        failed = int(variant == "challenger" and rng.random() < errors)
        lines.append(json.dumps({"ts": i, "unit_id": f"u{i}", "variant": variant, "outcome": int(rng.random() < rate),
                                 "latency_ms": latency, "error": failed}))
    (root / name).write_text("\n".join(lines) + "\n")
    return name


def _analyze(tools: ToolRunner, log: str, **fields: object):  # noqa: ANN202
    return tools(TOOL, {"action": "analyze", "experiment": "exp", "log_path": log, **fields})


def test_design_summary_and_idempotence(tools: ToolRunner) -> None:
    op = {"action": "design", "baseline": 0.1, "mde": 0.1, "mde_relative": True, "daily_units": 2000}
    first, second = tools(TOOL, op), tools(TOOL, op)
    assert first.design == second.design and first.design.expected_days >= 1
    assert str(first.design.n_total) in summarize(first)


def test_clear_winner_is_rolled_out(tools: ToolRunner, tmp_path: Path) -> None:
    out = _analyze(tools, _write_log(tmp_path, p_champion=0.10, p_challenger=0.15), planned_units=4000)
    assert out.decision == "roll_out" and out.fixed_test.significant and out.sequential_test.significant
    assert out.fixed_test.ci_low > 0 and out.fixed_test.lift > 0
    assert out.srm is not None and not out.srm.mismatch
    assert "better" in out.reasons[-1]


def test_lower_is_better_turns_a_rise_into_a_roll_back(tools: ToolRunner, tmp_path: Path) -> None:
    out = _analyze(tools, _write_log(tmp_path, p_champion=0.10, p_challenger=0.15), higher_is_better=False)
    assert out.decision == "roll_back"


def test_no_difference_extends_then_keeps(tools: ToolRunner, tmp_path: Path) -> None:
    log = _write_log(tmp_path, p_champion=0.10, p_challenger=0.10, n=2000)
    early = _analyze(tools, log, planned_units=8000)
    assert not early.sequential_test.significant and not early.fixed_test.significant
    assert early.decision == "extend" and "6000 of the planned 8000" in early.reasons[-1]
    done = _analyze(tools, log, planned_units=2000)
    assert done.decision == "keep" and "no significant difference" in done.reasons[-1]


def test_guardrails_roll_back_a_slow_or_failing_challenger(tools: ToolRunner, tmp_path: Path) -> None:
    slow = _analyze(tools, _write_log(tmp_path, p_champion=0.1, p_challenger=0.15, slow_challenger=True, name="slow.jsonl"))
    assert slow.decision == "roll_back" and "p95 latency" in slow.reasons[0]
    failing = _analyze(tools, _write_log(tmp_path, p_champion=0.1, p_challenger=0.15, errors=0.05, name="err.jsonl"))
    assert failing.decision == "roll_back" and "error rate" in failing.reasons[0]
    relaxed = _analyze(tools, "slow.jsonl", guardrails={"max_latency_increase": 2.0})
    assert relaxed.decision == "roll_out"


def test_sample_ratio_mismatch_keeps_the_champion(tools: ToolRunner, tmp_path: Path) -> None:
    out = _analyze(tools, _write_log(tmp_path, p_champion=0.1, p_challenger=0.15, share=0.4))
    assert out.srm.mismatch and out.decision == "keep" and "sample-ratio mismatch" in out.reasons[-1]


def test_canary_roll_out_names_the_next_step(tools: ToolRunner, tmp_path: Path) -> None:
    log = _write_log(tmp_path, p_champion=0.10, p_challenger=0.16, share=0.25, n=6000)
    out = _analyze(tools, log, mode="canary", canary_step=1)  # step 1 of 5, 25, 50, 100: a 75/25 split
    assert out.srm.expected == {"champion": 4500.0, "challenger": 1500.0} and not out.srm.mismatch
    assert out.decision == "roll_out" and out.next_canary_percent == 50
    last = _analyze(tools, log, mode="canary", canary_steps=[25, 100], canary_step=0)
    assert last.next_canary_percent == 100


def test_analyze_joins_outcomes_from_another_file(tools: ToolRunner, tmp_path: Path) -> None:
    rows = [{"unit_id": f"u{i}", "variant": "champion" if i % 2 else "challenger", "latency_ms": 5.0, "error": 0} for i in range(400)]
    (tmp_path / "router.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "outcomes.csv").write_text("unit_id,converted\n" + "".join(f"u{i},{int(i % 7 == 0)}\n" for i in range(400)))
    out = _analyze(tools, "router.jsonl", outcomes_path="outcomes.csv", metric_column="converted")
    assert out.counts == {"champion": 200, "challenger": 200} and out.fixed_test is not None


def test_analyze_reads_a_parquet_log_like_the_jsonl_one(tools: ToolRunner, tmp_path: Path) -> None:
    """A Parquet assignment log (with a timestamp `ts` and nulls) gives the same analysis as the
    JSONL it was made from; it used to fail with UnicodeDecodeError and a hint about backends."""
    import pandas as pd

    name = _write_log(tmp_path, p_champion=0.10, p_challenger=0.15)
    frame = pd.read_json(tmp_path / name, lines=True)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    frame["note"] = [None if i % 2 else "x" for i in range(len(frame))]
    frame.to_parquet(tmp_path / "log.parquet")
    jsonl, parquet = _analyze(tools, name), _analyze(tools, "log.parquet")
    assert parquet.counts == jsonl.counts and parquet.decision == jsonl.decision
    assert parquet.fixed_test == jsonl.fixed_test and parquet.sequential_test == jsonl.sequential_test


def test_a_log_that_is_not_text_says_so(tools: ToolRunner, tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b"PAR1\x15\x04\x15\xb0\xff\x00")
    error = _code(tools, {"action": "analyze", "experiment": "exp", "log_path": "log.jsonl"})
    assert error.code == "invalid_input" and "log.jsonl is not UTF-8 text" in error.message
    assert ".parquet" in error.hint and "backend" not in error.hint
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    error = _code(tools, {"action": "analyze", "experiment": "exp", "log_path": "broken.parquet"})
    assert error.code == "invalid_input" and "could not be read as Parquet" in error.message


def test_assign_from_csv_writes_assignments(tools: ToolRunner, tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text("customer\n" + "".join(f"c{i}\n" for i in range(300)))
    op = {"action": "assign", "experiment": "exp", "units_path": "units.csv", "unit_column": "customer",
          "split": {"champion": 90, "challenger": 10}}
    out = tools(TOOL, op)
    assert sum(out.counts.values()) == 300 and out.files[0].action == "create"
    assert tools(TOOL, op).files[0].action == "unchanged"
    written = (tmp_path / out.files[0].path).read_text().splitlines()
    assert written[0] == "unit_id,bucket,variant" and len(written) == 301


def test_simulate_aa_through_the_tool(tools: ToolRunner) -> None:
    out = tools(TOOL, {"action": "simulate_aa", "n_per_arm": 1000, "experiments": 2000})
    assert out.aa.fixed_ok and out.aa.sequential_ok and tools.progress


# --------------------------------------------------------------------------- bad input, each a clear error


def test_split_that_does_not_sum_to_100(tools: ToolRunner) -> None:
    error = _code(tools, {"action": "assign", "experiment": "exp", "unit_ids": ["a"], "split": {"champion": 70, "challenger": 20}})
    assert error.code == "invalid_input" and "sums to 90" in error.message
    error = _code(tools, {"action": "check_srm", "observed": {"champion": 1, "challenger": 1}, "split": {"champion": 50, "challenger": 51}})
    assert "not 100" in error.message


@pytest.mark.parametrize("observed", [{"champion": -5, "challenger": 105}, {"champion": 100, "challenger": -1}, {"champion": 1.5, "challenger": 2}])
def test_srm_counts_are_non_negative_integers(tools: ToolRunner, observed: dict[str, float]) -> None:
    error = _code(tools, {"action": "check_srm", "observed": observed})
    assert error.code == "invalid_input" and "observed" in error.message


def test_zero_variance_metric(tools: ToolRunner, tmp_path: Path) -> None:
    log = _write_log(tmp_path, p_champion=0.0, p_challenger=0.0, n=500)
    error = _code(tools, {"action": "analyze", "experiment": "exp", "log_path": log})
    assert error.code == "invalid_input" and "zero variance" in error.message
    error = _code(tools, {"action": "design", "metric_type": "continuous", "baseline": 3.0, "std": 0.0, "mde": 0.5})
    assert "standard deviation" in error.message


def test_mde_of_zero(tools: ToolRunner) -> None:
    error = _code(tools, {"action": "design", "baseline": 0.2, "mde": 0})
    assert error.code == "invalid_input" and "non-zero" in error.message


@pytest.mark.parametrize(("field", "value"), [("alpha", 0.0), ("alpha", 1.0), ("power", 1.5), ("power", -0.1)])
def test_alpha_and_power_outside_0_1(tools: ToolRunner, field: str, value: float) -> None:
    error = _code(tools, {"action": "design", "baseline": 0.2, "mde": 0.01, field: value})
    assert error.code == "invalid_input" and field in error.message


def test_assignment_log_missing_columns(tools: ToolRunner, tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("unit_id,latency_ms\nu1,3.0\n")
    error = _code(tools, {"action": "analyze", "experiment": "exp", "log_path": "log.csv"})
    assert error.code == "invalid_input" and "'variant'" in error.message and "'outcome'" in error.message


def test_paths_outside_the_workspace_are_refused(tools: ToolRunner) -> None:
    assert _code(tools, {"action": "analyze", "experiment": "exp", "log_path": "../log.jsonl"}).code == "outside_workspace"
    assert _code(tools, {"action": "assign", "experiment": "exp", "units_path": "/etc/passwd"}).code == "outside_workspace"


def test_guardrails_need_enough_calls_but_failures_count_early(tools: ToolRunner, tmp_path: Path) -> None:
    rows = [{"unit_id": f"u{i}", "variant": v, "outcome": i % 2, "latency_ms": 5.0 + i % 3, "error": 0}
            for i, v in enumerate(["champion", "challenger"] * 10)]
    (tmp_path / "few.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    few = _analyze(tools, "few.jsonl", mode="shadow")
    assert few.decision == "extend" and not any(g.enough_data for g in few.guardrails)
    assert ABTestOutput.model_validate_json(few.model_dump_json()) == few, "the answer survives JSON"
    for r in rows:
        del r["outcome"]
    (tmp_path / "no-outcome.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _analyze(tools, "no-outcome.jsonl", mode="shadow").decision == "extend", "shadow needs no outcome"
    assert _code(tools, {"action": "analyze", "experiment": "exp", "log_path": "no-outcome.jsonl"}).code == "invalid_input"
    for r in rows:
        r["error"] = int(r["variant"] == "challenger" and r["unit_id"] in {f"u{i}" for i in range(1, 20, 2)})
    (tmp_path / "failing.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    failing = _analyze(tools, "failing.jsonl", mode="shadow")
    assert failing.decision == "roll_back" and "error rate" in failing.reasons[0]
