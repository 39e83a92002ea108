"""PNG plots for the AIOps tools. matplotlib is imported on first use with the Agg
backend (no display, thread-safe enough behind our lock), and figures are always closed."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mlops_engineer.optional import import_optional

if TYPE_CHECKING:
    import pandas as pd

EXTRA = "forecasting"
_LOCK = threading.Lock()  # pyplot keeps global state


def _pyplot() -> object:
    matplotlib = import_optional("matplotlib", EXTRA)
    matplotlib.use("Agg", force=True)
    return import_optional("matplotlib.pyplot", EXTRA)


def _png(fig: object) -> bytes:
    buffer = io.BytesIO()
    # No Software/date metadata: the same plot gives the same bytes (idempotent outputs).
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # type: ignore[attr-defined]
    return buffer.getvalue()


@contextlib.contextmanager
def _axes() -> Iterator[tuple[Any, Any]]:
    """A new figure and its axes, under the pyplot lock; the figure is always closed."""
    with _LOCK:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(11, 3.8))  # type: ignore[attr-defined]
        try:
            yield fig, ax
        finally:
            plt.close(fig)  # type: ignore[attr-defined]


def _finish(fig: Any, ax: Any, title: str) -> bytes:
    """Title, legend and layout shared by every plot, then the PNG bytes."""
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def anomalies(values: pd.Series, baseline_end: object, flagged: pd.Series,
              spans: Iterable[tuple[object, object, bool]], title: str) -> bytes:
    """The series, the baseline boundary, flagged points, and anomaly windows shaded (alerts red)."""
    with _axes() as (fig, ax):
        ax.plot(values.index, values.to_numpy(), lw=0.8, color="#1f5f8b", label="value")
        ax.axvline(baseline_end, color="grey", ls="--", lw=0.8, label="baseline end")
        for start, end, alert in spans:
            ax.axvspan(start, end, color="#d62728" if alert else "#ff9f1c", alpha=0.25, lw=0)
        if len(flagged):
            ax.scatter(flagged.index, flagged.to_numpy(), s=12, color="#d62728", zorder=3, label="anomalous point")
        return _finish(fig, ax, title)


def forecast(history: pd.Series, index: Sequence[object], mean: Sequence[float], lower: Sequence[float],
             upper: Sequence[float], title: str, threshold: float | None = None, level: float = 0.9) -> bytes:
    """History, the forecast with its prediction interval, and the capacity threshold."""
    with _axes() as (fig, ax):
        ax.plot(history.index, history.to_numpy(), lw=0.8, color="#1f5f8b", label="history")
        ax.plot(index, mean, lw=1.2, color="#e4572e", label="forecast")
        ax.fill_between(index, lower, upper, color="#e4572e", alpha=0.2, lw=0, label=f"{level:.0%} interval")
        if threshold is not None:
            ax.axhline(threshold, color="black", ls=":", lw=1, label="capacity threshold")
        return _finish(fig, ax, title)
