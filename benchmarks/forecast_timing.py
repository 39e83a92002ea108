"""Wall time of one forecast_operational_metrics call, with every parameter at its default
(only the series and the horizon given), on the series shapes that used to take minutes:
long seasonal periods, 20,000 points, a weak daily cycle at a 5-minute step; and a monthly
series, for the calendar.

Synthetic series (seeded, written to a temporary workspace and read by the tool as a CSV):

- `30min_weekly_20k`: 20,000 points at 30 minutes (417 days), daily (48) and weekly (336)
  seasons, a slow trend and noise; horizon 336 (a week). One call took 35 minutes before.
- `5min_cpu_20k`: 20,000 points at 5 minutes (69 days), a weak daily cycle under AR(1)
  noise, rounded to 0.1 like a CPU percentage; horizon 288 (a day).
- `hourly_10k`: 10,000 hourly points, daily and weekly seasons; horizon 168.
- `monthly_120`: 120 month starts, 2000-01 to 2009-12, trend and a yearly season; horizon 12.

And, read in place from ../shared/data/nab-dev (the engine path the tool takes after
reading a file): `nab_tweets_AAPL` (15,902 points at 5 minutes), horizon 288.

The goal: every call on a series of up to 20,000 points answers in under 60 s on the
shared 2-core machine. Columns: seconds (wall, the whole call), the chosen model, the
seasonal periods found, and every model's backtest status (skipped models name why).

    uv run --all-extras python benchmarks/forecast_timing.py [--only NAME,...] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
NAB = Path(os.environ.get("NAB_DEV", HERE.parent.parent / "shared" / "data" / "nab-dev"))


def synthetic() -> dict[str, tuple[object, int]]:
    """name -> (pandas Series with a UTC index, horizon)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(15)
    out: dict[str, tuple[object, int]] = {}
    n = 20_000
    t = np.arange(n)
    y = 200 + 0.002 * t + 30 * np.sin(2 * np.pi * t / 48) + 12 * np.sin(2 * np.pi * t / 336) + rng.normal(0, 4, n)
    out["30min_weekly_20k"] = (pd.Series(y, index=pd.date_range("2025-01-01", periods=n, freq="30min", tz="UTC")), 336)
    noise = np.zeros(n)
    shocks = rng.normal(0, 1.0, n)
    for i in range(1, n):
        noise[i] = 0.9 * noise[i - 1] + shocks[i]
    cpu = np.round(np.clip(35 + 4 * np.sin(2 * np.pi * t / 288) + noise, 0, 100), 1)
    out["5min_cpu_20k"] = (pd.Series(cpu, index=pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC")), 288)
    m = 10_000
    h = np.arange(m)
    hourly = 500 + 80 * np.sin(2 * np.pi * h / 24) + 40 * (h % 168 >= 120) + rng.normal(0, 10, m)
    out["hourly_10k"] = (pd.Series(hourly, index=pd.date_range("2025-01-01", periods=m, freq="h", tz="UTC")), 168)
    k = np.arange(120)
    monthly = 100 + 0.5 * k + 8 * np.sin(2 * np.pi * k / 12) + rng.normal(0, 1.5, 120)
    out["monthly_120"] = (pd.Series(monthly, index=pd.date_range("2000-01-01", periods=120, freq="MS", tz="UTC")), 12)
    return out


def call(root: Path, name: str, series: object, horizon: int) -> dict:
    """One tool call through execute(), as the MCP server runs it."""
    import pandas as pd

    from mlops_engineer.runtime import ToolContext, execute
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools.forecast_operational_metrics import TOOL
    from mlops_engineer.workspace import Workspace

    frame = pd.DataFrame({"timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": series.to_numpy()})  # type: ignore[attr-defined]
    frame.to_csv(root / f"{name}.csv", index=False)
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
    arguments = {"operation": {"action": "forecast", "series": {"kind": "file", "path": f"{name}.csv"},
                               "horizon": horizon, "plot": False}}
    started = time.perf_counter()
    out = execute(TOOL, arguments, ctx)
    return _row(name, out, time.perf_counter() - started)


def call_nab(root: Path, name: str, file: str, horizon: int) -> dict:
    """A labelled NAB file read in place, then the tool's own path from the regular series on."""
    import pandas as pd

    from mlops_engineer.engines.aiops.metric_series import from_frame
    from mlops_engineer.engines.aiops.regular_grid import regularise
    from mlops_engineer.runtime import ToolContext
    from mlops_engineer.settings import Settings
    from mlops_engineer.tools import forecast_operational_metrics as tool
    from mlops_engineer.workspace import Workspace

    ctx = ToolContext(workspace=Workspace(root), settings=Settings(workspace=root))
    inp = tool.ForecastInput.model_validate({"operation": {"action": "forecast", "horizon": horizon, "plot": False,
                                                           "series": {"kind": "file", "path": "unused.csv"}}})
    started = time.perf_counter()
    frame = pd.read_csv(NAB / "data" / file, dtype=str, keep_default_na=False)
    raw, local_clock = from_frame(frame, "timestamp", "value", file)
    series = regularise(name, raw, inp.operation.cleaning, local_clock=local_clock)
    out = tool._forecast(series, inp.operation, ctx, tool.ForecastOutput(action="forecast"))
    return _row(name, out, time.perf_counter() - started)


def _row(name: str, out: object, seconds: float) -> dict:
    report = out.series  # type: ignore[attr-defined]
    return {"series": name, "points": report.points, "seconds": round(seconds, 1), "chosen": out.chosen_model,  # type: ignore[attr-defined]
            "periods": getattr(report, "seasonal_periods", None) or [report.seasonal_period],
            "frequency": getattr(report, "frequency", ""), "forecast_start": out.forecast.start,  # type: ignore[attr-defined]
            "mase": {s.model: s.mase for s in out.scores},  # type: ignore[attr-defined]
            "status": {s.model: s.status for s in out.scores if s.status != "ok"}}  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated series names")
    parser.add_argument("--json")
    args = parser.parse_args()
    from _common import finish, print_header

    print_header()
    wanted = set(args.only.split(",")) if args.only else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, (series, horizon) in synthetic().items():
            if wanted is None or name in wanted:
                rows.append(call(root, name, series, horizon))
                print(rows[-1], flush=True)
        if (wanted is None or "nab_tweets_AAPL" in wanted) and (NAB / "data").exists():
            rows.append(call_nab(root, "nab_tweets_AAPL", "realTweets/Twitter_volume_AAPL.csv", 288))
            print(rows[-1], flush=True)
    print(f"\n{'series':18} {'points':>6} {'seconds':>7} {'chosen':14} {'periods':12} first forecast point")
    for r in rows:
        print(f"{r['series']:18} {r['points']:>6} {r['seconds']:>7} {r['chosen']:14} {str(r['periods']):12} {r['forecast_start']}")
        if r["status"]:
            print(f"{'':18} not ok: {r['status']}")
    finish(rows, args.json)


if __name__ == "__main__":
    main()
