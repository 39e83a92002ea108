"""Profile Parquet files with ydata-profiling and print its seconds and alerts as JSON (one line).

Run in a throwaway environment, never in the project's (ydata-profiling is not a dependency):

    uv run --no-project --with ydata-profiling --with pyarrow --with 'setuptools<81' python benchmarks/_ydata_profile.py OUT_DIR a.parquet [b.parquet]

With two files it profiles both and renders ydata's comparison report, the closest it has to a
train/test review. The time covers reading, profiling and writing the HTML report.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def main() -> None:
    import pandas as pd
    from ydata_profiling import ProfileReport, __version__

    out_dir, paths = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    mode = "minimal" if "--full" not in sys.argv else "full"
    paths = [p for p in paths if p.suffix == ".parquet"]
    started = time.perf_counter()
    reports = []
    for path in paths:
        frame = pd.read_parquet(path)
        reports.append(ProfileReport(frame, title=path.stem, minimal=mode == "minimal", progress_bar=False))
    final = reports[0] if len(reports) == 1 else reports[0].compare(reports[1])
    final.to_file(out_dir / "ydata_report.html")
    seconds = time.perf_counter() - started
    alerts = [str(a) for a in reports[0].get_description().alerts]
    print(json.dumps({"version": __version__, "mode": mode, "seconds": seconds, "alerts": alerts}))


if __name__ == "__main__":
    main()
