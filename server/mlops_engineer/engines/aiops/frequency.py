"""The time grid a metric series lives on: a fixed step (5 minutes, an hour, a day), or a
calendar frequency whose steps differ in length (month start or end, quarter, year,
business day), and daylight-saving jumps in timestamps written without a zone.

Calendar series cannot go on a fixed grid: months last 28 to 31 days, so a 31-day step
merges two months now and then and drifts off the first of the month (120 month starts
became 118 points, and the forecast started on the 6th). `infer` recognises them from the
timestamps themselves and keeps them on pandas' calendar offsets.

pandas is imported inside the functions (this module is imported before any SDK).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DAY = 86_400.0
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Zones whose daylight-saving rules cover most local clocks: US/Canada and Mexico (02:00), the
# UK/Ireland/Portugal (01:00), central and eastern Europe (02:00, 03:00), Australia, New Zealand,
# Chile, Paraguay, Israel, Iran (historical), Cuba. One of them skipping the hour is enough.
DST_ZONES = ("America/New_York", "Europe/London", "Europe/Paris", "Europe/Helsinki", "Australia/Sydney",
             "Pacific/Auckland", "America/Santiago", "America/Asuncion", "Asia/Jerusalem", "Asia/Tehran",
             "America/Havana", "America/Mexico_City", "America/Sao_Paulo")


@dataclass(frozen=True)
class Frequency:
    """How consecutive points are spaced: `alias` is a pandas offset alias for calendar
    frequencies ("MS", "QE-DEC", "YS-JAN", "B", or "monthly-15" for the 15th of each month),
    else "<seconds>s"; `step_seconds` is the median spacing."""

    alias: str
    step_seconds: float
    calendar: bool

    def offset(self) -> Any:
        """What pandas adds to go one step forward (a DateOffset or a Timedelta)."""
        import pandas as pd

        if not self.calendar:
            return pd.Timedelta(seconds=self.step_seconds)
        if self.alias.startswith("monthly-"):
            return pd.DateOffset(months=1)
        return pd.tseries.frequencies.to_offset(self.alias)

    def grid(self, start: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
        """`periods` grid points from `start` (which must be on the grid)."""
        import pandas as pd

        return pd.date_range(start, periods=periods, freq=self.offset())

    def after(self, last: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
        """The next `periods` grid points after `last`: where a forecast goes."""
        return self.grid(last, periods + 1)[1:]


def fixed(step_seconds: float) -> Frequency:
    return Frequency(f"{step_seconds:g}s", step_seconds, calendar=False)


def infer(index: pd.DatetimeIndex) -> Frequency:
    """The calendar frequency of sorted, distinct UTC timestamps, or their median spacing.

    A calendar frequency needs every timestamp on its anchor, at one time of day: all on the
    1st (month start) or all on the last day of their month (month end), with a spacing of a
    month, a quarter (months 3 apart) or a year (one month of the year); or weekdays only with
    a daily spacing and at least one Friday-to-Monday step (business days)."""
    import pandas as pd

    seconds = pd.Series(index.as_unit("s").asi8).diff().dropna()
    step = float(seconds.median())
    days = step / DAY
    one_time_of_day = len(set(zip(index.hour, index.minute, index.second, strict=True))) == 1
    if not one_time_of_day or len(index) < 3:
        return fixed(step)
    starts, ends = bool((index.day == 1).all()), bool(index.is_month_end.all())
    if 27 <= days <= 32:
        if starts:
            return Frequency("MS", step, calendar=True)
        if ends:
            return Frequency("ME", step, calendar=True)
        if len(set(index.day)) == 1 and index.day[0] <= 28:
            return Frequency(f"monthly-{index.day[0]}", step, calendar=True)
    months_apart = {int(m) % 3 for m in index.month}
    if 88 <= days <= 93 and len(months_apart) == 1 and (starts or ends):
        first = index.month[0]
        if starts:  # QS-JAN: quarters start in Jan, Apr, Jul, Oct
            return Frequency(f"QS-{_MONTHS[(first - 1) % 3]}", step, calendar=True)
        return Frequency(f"QE-{_MONTHS[(first - 1) % 3 + 9]}", step, calendar=True)  # QE-DEC: Mar, Jun, Sep, Dec
    if 364 <= days <= 367 and len(set(index.month)) == 1 and (starts or ends):
        month = _MONTHS[index.month[0] - 1]
        return Frequency(f"YS-{month}" if starts else f"YE-{month}", step, calendar=True)
    if abs(days - 1) < 1e-9 and (index.dayofweek < 5).all() and (seconds == 3 * DAY).any():
        return Frequency("B", step, calendar=True)
    return fixed(step)


def skipped_clock_hour(first_missing: pd.Timestamp, missing: int, step_seconds: float) -> bool:
    """True when `missing` grid points from `first_missing` are exactly one hour of wall-clock
    time that a daylight-saving zone skips (e.g. 02:00-02:59 on the US spring-forward Sunday).
    For timestamps written without a zone that hour never existed: it is not a gap in the data."""
    from zoneinfo import ZoneInfo

    if abs(missing * step_seconds - 3600) > 1e-6:
        return False
    start = first_missing.to_pydatetime().replace(tzinfo=None)
    last = start + timedelta(seconds=3600 - step_seconds)
    for name in DST_ZONES:
        zone = ZoneInfo(name)
        if _nonexistent(start, zone) and _nonexistent(last, zone):
            return True
    return False


def _nonexistent(wall: datetime, zone: Any) -> bool:
    """A local time the zone's clocks jump over: it does not survive a round trip through UTC."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall
