"""Forecast accuracy of forecast_operational_metrics's model choice on real series that ship
with statsmodels, against the seasonal-naive peer measured on the same holdout.

Datasets (statsmodels.datasets):
- co2:       Mauna Loa CO2, weekly 1958-2001 averaged to months (526 points), m = 12;
- sunspots:  yearly sunspot activity 1700-2008 (309 points), m inferred (ACF peak);
- macrodata: US real GDP, quarterly 1959-2009 (203 points), m = 4.

Protocol, per dataset: hold out the last `h` points (h = 2 seasons, or 11 years for
sunspots). On the rest, run exactly what the tool runs (the seasonal periods inferred by
the tool's rule, a rolling-origin backtest with `--folds` folds of h points over
the best seasonal naive + ETS, SARIMAX, Theta, STL+ARIMA within the tool's default
time budget, the lowest mean MASE wins), refit the winner on all training points and
forecast the holdout. MASE on the holdout is scaled
by the training part's in-sample seasonal-naive MAE (so seasonal naive itself need not
score 1). Ratio = chosen / seasonal naive on the same holdout: below 1 is better.

    uv run --all-extras python benchmarks/forecast_quality.py [--folds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))


def datasets() -> dict[str, tuple[object, int]]:
    """name -> (pandas Series with a DatetimeIndex, holdout length)."""
    import pandas as pd
    from statsmodels.datasets import co2, macrodata, sunspots

    monthly = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    spots = sunspots.load_pandas().data
    yearly = pd.Series(spots["SUNACTIVITY"].to_numpy(), index=pd.to_datetime(spots["YEAR"].astype(int).astype(str) + "-01-01"))
    macro = macrodata.load_pandas().data
    quarterly = pd.Series(macro["realgdp"].to_numpy(), index=pd.date_range("1959-01-01", periods=len(macro), freq="QS"))
    return {"co2": (monthly, 24), "sunspots": (yearly, 11), "macrodata_realgdp": (quarterly, 8)}


def evaluate(folds: int = 3) -> list[dict[str, object]]:
    import numpy as np

    from mlops_engineer.engines.aiops import backtest as bt
    from mlops_engineer.engines.aiops import forecasters as fc
    from mlops_engineer.engines.aiops.fit_worker import FitWorker
    from mlops_engineer.engines.aiops.metric_series import Cleaning
    from mlops_engineer.engines.aiops.regular_grid import regularise
    from mlops_engineer.engines.aiops.seasonality import candidate_periods, set_period
    from mlops_engineer.tools.forecast_operational_metrics import Forecast

    budget = 0.75 * Forecast.model_fields["time_budget_s"].default  # the tool's backtest share

    rows = []
    for name, (series, h) in datasets().items():
        train_series = series.iloc[:-h]
        loaded = regularise(name, train_series.tz_localize("UTC"), Cleaning())
        m = set_period(loaded, None)
        periods = loaded.report.seasonal_periods
        y = loaded.values.to_numpy()
        actual = series.to_numpy()[-h:]
        started = time.perf_counter()
        with FitWorker() as worker:
            scores = bt.backtest(y, h, periods, folds, list(fc.ALL_MODELS), 0.9, lambda *a: None,
                                 naive_periods=candidate_periods(loaded.frequency), budget_s=budget, worker=worker)
            best = bt.choose(scores)
            chosen = (fc.seasonal_naive(y, h, best.period or 1, 0.9) if best.model == fc.BASELINE
                      else worker.predict(best.model, y, h, periods, 0.9, timeout=600))
        seconds = time.perf_counter() - started
        naive = fc.seasonal_naive(y, h, m, 0.9)
        inside = float(np.mean((actual >= chosen.lower) & (actual <= chosen.upper)))
        holdout_chosen = bt.mase(actual, chosen.mean, y, m)
        holdout_naive = bt.mase(actual, naive.mean, y, m)
        baseline = next(s for s in scores if s.model == fc.BASELINE)
        rows.append({
            "dataset": name, "points": len(y), "period": m, "horizon": h, "chosen": best.model,
            "backtest_mase_chosen": best.mase, "backtest_mase_naive": baseline.mase,
            "holdout_mase_chosen": round(holdout_chosen, 3), "holdout_mase_naive": round(holdout_naive, 3),
            "ratio": round(holdout_chosen / holdout_naive, 3) if holdout_naive else None,
            "holdout_smape_chosen": round(bt.smape(actual, chosen.mean), 3),
            "holdout_smape_naive": round(bt.smape(actual, naive.mean), 3),
            "interval_coverage": round(inside, 3), "seconds": round(seconds, 1),
            "all_backtest": {s.model: s.mase if s.mase is not None else s.status for s in scores},
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    from _common import finish, print_header

    print_header()
    rows = evaluate(args.folds)
    print(f"\n{'dataset':18} {'n':>4} {'m':>3} {'h':>3} {'chosen':10} {'bt MASE':>8} {'bt naive':>8} "
          f"{'MASE':>6} {'naive':>6} {'ratio':>6} {'90% cov':>7} {'s':>5}")
    for r in rows:
        print(f"{r['dataset']:18} {r['points']:4} {r['period']:3} {r['horizon']:3} {r['chosen']:10} "
              f"{r['backtest_mase_chosen']:8} {r['backtest_mase_naive']:8} {r['holdout_mase_chosen']:6} "
              f"{r['holdout_mase_naive']:6} {r['ratio']:6} {r['interval_coverage']:7} {r['seconds']:5}")
        print(f"{'':18} backtest MASE per model: {r['all_backtest']}")
    finish(rows, args.json)


if __name__ == "__main__":
    main()
