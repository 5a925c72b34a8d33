"""Tables to regularly spaced series: a time index parsed to integer steps, a long table (one
series per key and value column, in time order) and the per-series hygiene of a training corpus.

A time column becomes integer steps at one frequency (``A`` yearly, ``Q``, ``M``, ``W``, ``D``
daily, ``B`` business days, ``H`` hourly, ``other`` a regular step of no calendar name):

- integers (years such as 1950, or a period counter ``t``): the step is the greatest common
  divisor of the gaps; frequency ``A`` for a year column with step 1, else the caller's;
- R ``ts`` decimal times (1949.0, 1949.0833, ...): steps of the smallest gap, the frequency
  ``1 / gap`` rounded (12 monthly, 52.18 weekly, ...);
- ``"1939 Jan"``, ``"1998 Q1"``, ``"1991 W06"`` (tsibble's year-month / quarter / week) and ISO
  dates: dates all on one day of the month count months (``M``, or ``Q`` / ``A`` when every gap
  is 3 / 12 months); other dates count days (``D``; ``B`` when all fall on weekdays and
  weekends are never observed; ``W`` when every gap is a multiple of 7 days).

A series is its key's rows sorted by step and laid on the regular grid from its first to its
last step; grid points with no row are missing. :func:`clean` then names what is wrong with a
series (:data:`SKIP_REASONS`) or returns it with interior gaps linearly interpolated.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

import numpy as np
import pandas as pd

FREQUENCIES = ("A", "Q", "M", "W", "D", "B", "H", "other")
FREQ_OF_PERIODS = {1: "A", 4: "Q", 12: "M", 52: "W", 365: "D", 7: "D", 5: "B", 24: "H"}
MAX_GAP_FRACTION = 0.2  # grid points without a row, beyond which the index counts as irregular
MIN_DISTINCT = 5  # fewer distinct values: an indicator, a rating or a code, not a series

SKIP_REASONS = {
    "non-numeric": "the value column is not numeric",
    "all missing": "no observed value",
    "too short": "fewer observed values (first to last) than the corpus' minimum length",
    "mostly missing": "more than half of the values (or grid points) are missing",
    "constant": "a single distinct value",
    "few distinct values": f"fewer than {MIN_DISTINCT} distinct values (an indicator or code)",
    "deterministic trend": "exactly a polynomial of degree <= 2 in time (a time index or trend)",
    "irregular time index": (f"more than {MAX_GAP_FRACTION:.0%} of the regular grid missing, or "
                             "time stamps off the grid"),
    "duplicate time stamps": "two rows of one key share a time stamp (keys incomplete)",
    "unparsed time index": "the time column is in no format read here",
    "layout mismatch": "a listed table is absent or lacks a listed column (another version)",
}

_MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"])}
_YEAR_MONTH = re.compile(r"^(\d{4}) ([A-Z][a-z]{2})$")
_YEAR_QUARTER = re.compile(r"^(\d{4}) Q([1-4])$")
_YEAR_WEEK = re.compile(r"^(\d{4}) W(\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z?)?$")


class SkipSeries(ValueError):
  """A table or series that does not become a series; ``reason`` is a key of SKIP_REASONS."""

  def __init__(self, reason: str, detail: str = ""):
    if reason not in SKIP_REASONS:
      raise ValueError(f"reason must be one of {sorted(SKIP_REASONS)}, got {reason!r}")
    super().__init__(f"{reason}{': ' + detail if detail else ''}")
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class TimeIndex:
  """Integer ``steps`` (one per row; consecutive observations differ by ``step``) at ``freq``."""
  steps: np.ndarray
  step: int
  freq: str


def _gcd_step(steps: np.ndarray) -> int:
  gaps = np.diff(np.unique(steps))
  return int(np.gcd.reduce(gaps)) if gaps.size else 1


def _from_dates(dates: pd.DatetimeIndex) -> TimeIndex:
  if dates.hasnans:
    raise SkipSeries("unparsed time index", "missing dates")
  if (dates.hour != 0).any() or (dates.minute != 0).any():
    raise SkipSeries("unparsed time index", "sub-daily time stamps")
  if len(set(dates.day)) == 1 and dates.nunique() > 1:
    months = np.asarray(dates.year * 12 + dates.month - 1, np.int64)
    step = _gcd_step(months)
    freq = {1: "M", 3: "Q", 12: "A"}.get(step, "other")
    return TimeIndex(months // step if freq != "other" else months, 1 if freq != "other" else step,
                     freq)
  days = np.asarray((dates - pd.Timestamp("1970-01-01")).days, np.int64)
  step = _gcd_step(days)
  if step % 7 == 0:
    return TimeIndex(days // 7, step // 7, "W")
  if step == 1 and (dates.day_of_week < 5).all():
    # Weekdays only: count business days, so weekends are not gaps.
    plain = np.asarray(dates.values.astype("datetime64[D]"))
    return TimeIndex(np.busday_count(plain.min(), plain).astype(np.int64), 1, "B")
  return TimeIndex(days, step, "D" if step == 1 else "other")


def _from_strings(values: list[str]) -> TimeIndex:
  first = values[0]
  if (m := _YEAR_MONTH.match(first)) and m.group(2) in _MONTHS:
    steps = [int(v[:4]) * 12 + _MONTHS[v[5:]] for v in values if _YEAR_MONTH.match(v)]
    freq = "M"
  elif _YEAR_QUARTER.match(first):
    steps = [int(v[:4]) * 4 + int(v[-1]) - 1 for v in values if _YEAR_QUARTER.match(v)]
    freq = "Q"
  elif _YEAR_WEEK.match(first):
    steps = [datetime.date.fromisocalendar(int(v[:4]), int(v[-2:]), 1).toordinal() // 7
             for v in values if _YEAR_WEEK.match(v)]
    freq = "W"
  elif _ISO_DATE.match(first) and all(_ISO_DATE.match(v) for v in values):
    dates = pd.DatetimeIndex(pd.to_datetime(values, format="ISO8601", utc=True))
    return _from_dates(dates.tz_localize(None))
  else:
    raise SkipSeries("unparsed time index", f"values such as {first!r}")
  if len(steps) != len(values):
    raise SkipSeries("unparsed time index", "mixed formats")
  steps = np.asarray(steps, np.int64)
  step = _gcd_step(steps)
  return TimeIndex(steps, step, freq if step == 1 else "other")


def time_index(column: pd.Series, freq: str | None = None) -> TimeIndex:
  """The :class:`TimeIndex` of one time column; ``freq`` names the frequency of an integer
  counter (default: ``A`` for integer years, else ``other``). Raises :class:`SkipSeries`."""
  if freq is not None and freq not in FREQUENCIES:
    raise ValueError(f"freq must be one of {FREQUENCIES} or None, got {freq!r}")
  if len(column) == 0:
    raise SkipSeries("all missing", "an empty table")
  if pd.api.types.is_datetime64_any_dtype(column):
    return _from_dates(pd.DatetimeIndex(column))
  if pd.api.types.is_integer_dtype(column):
    steps = column.to_numpy(np.int64)
    step = _gcd_step(steps)
    return TimeIndex(steps, step, freq or ("A" if step == 1 else "other"))
  if pd.api.types.is_float_dtype(column):
    times = column.to_numpy(np.float64)
    if not np.isfinite(times).all():
      raise SkipSeries("unparsed time index", "missing time stamps")
    gaps = np.diff(np.unique(times))
    gap = gaps.min() if gaps.size and gaps.min() > 0 else 1.0
    # R's ts times are start + k / frequency (frequency 52.18 for weeks of 365.25 / 7 days).
    positions = (times - times.min()) / gap
    if np.abs(positions - np.round(positions)).max() > 1e-3:
      raise SkipSeries("irregular time index", f"decimal times off a grid of step {gap:.4g}")
    steps = np.round(positions).astype(np.int64)
    return TimeIndex(steps, _gcd_step(steps), freq or FREQ_OF_PERIODS.get(round(1 / gap), "other"))
  values = [str(v) for v in column]
  return _from_strings(values)


def combine_year_and_period(years: pd.Series, periods: pd.Series, per_year: int) -> pd.Series:
  """One integer counter ``year * per_year + period - 1`` from a year column and a
  1-based period column (quarter 1-4, month 1-12)."""
  return years.astype(np.int64) * per_year + periods.astype(np.int64) - 1


def on_grid(index: TimeIndex, values: np.ndarray) -> np.ndarray:
  """``values`` (one per row of ``index``) sorted in time and laid on the regular grid from the
  first to the last step (NaN where no row). Raises SkipSeries on duplicates or a sparse grid."""
  steps = index.steps
  if np.unique(steps).shape[0] != steps.shape[0]:
    raise SkipSeries("duplicate time stamps")
  order = np.argsort(steps, kind="stable")
  positions = (steps[order] - steps[order[0]]) // index.step
  if ((steps[order] - steps[order[0]]) % index.step).any():
    raise SkipSeries("irregular time index", "time stamps off the grid")
  grid = np.full(int(positions[-1]) + 1, np.nan)
  grid[positions] = np.asarray(values, np.float64)[order]
  if 1.0 - steps.shape[0] / grid.shape[0] > MAX_GAP_FRACTION:
    raise SkipSeries("irregular time index",
                     f"{grid.shape[0] - steps.shape[0]} of {grid.shape[0]} grid points absent")
  return grid


def long_table_series(frame: pd.DataFrame, time: str, keys: tuple[str, ...] = (),
                      values: tuple[str, ...] | None = None, freq: str | None = None):
  """``(freq, [(key_and_column, series float64 or None, skip reason or None)])``: one entry per
  key of ``keys`` (in order of first appearance) and value column, the series on its regular
  grid. ``values`` defaults to every numeric column other than ``time`` and ``keys``.

  The time column is parsed once for the whole table (:func:`time_index`); an unparsable one
  raises :class:`SkipSeries` for the table."""
  missing = [c for c in (time, *keys, *(values or ())) if c not in frame.columns]
  if missing:
    raise ValueError(f"columns {missing} are not in the table (columns: {list(frame.columns)})")
  index = time_index(frame[time], freq)
  if values is None:
    values = tuple(c for c in frame.columns if c not in (time, *keys, "rownames")
                   and pd.api.types.is_numeric_dtype(frame[c]))
  groups = ([((), np.arange(len(frame)))] if not keys else
            [(k if isinstance(k, tuple) else (k,), np.asarray(rows))
             for k, rows in frame.groupby(list(keys), sort=False, dropna=False).indices.items()])
  out = []
  for key, rows in groups:
    sub = TimeIndex(index.steps[rows], index.step, index.freq)
    for column in values:
      name = tuple(str(k).strip() for k in key) + (column,)
      data = frame[column].iloc[rows]
      if not pd.api.types.is_numeric_dtype(data) or pd.api.types.is_bool_dtype(data):
        out.append((name, None, "non-numeric"))
        continue
      try:
        out.append((name, on_grid(sub, data.to_numpy(np.float64, na_value=np.nan)), None))
      except SkipSeries as skip:
        out.append((name, None, skip.reason))
  return index.freq, out


def clean(values, min_length: int) -> tuple[np.ndarray | None, str | None]:
  """``(series, None)`` with leading / trailing missing values cut and interior ones linearly
  interpolated, or ``(None, reason)`` naming why it is no training series (a key of
  :data:`SKIP_REASONS`). Never raises on bad data."""
  try:
    values = np.asarray(values, np.float64)
  except (TypeError, ValueError):
    return None, "non-numeric"
  if values.ndim != 1:
    return None, "non-numeric"
  values = np.where(np.isfinite(values), values, np.nan)
  observed = np.flatnonzero(~np.isnan(values))
  if observed.size == 0:
    return None, "all missing"
  values = values[observed[0]:observed[-1] + 1]
  if values.shape[0] < min_length:
    return None, "too short"
  finite = ~np.isnan(values)
  if finite.mean() < 0.5:
    return None, "mostly missing"
  distinct = np.unique(values[finite]).shape[0]
  if distinct == 1:
    return None, "constant"
  if distinct < MIN_DISTINCT:
    return None, "few distinct values"
  steps = np.arange(values.shape[0], dtype=np.float64)
  values = np.interp(steps, steps[finite], values[finite])
  if _is_low_degree_polynomial(values):
    return None, "deterministic trend"
  return values, None


def _is_low_degree_polynomial(values: np.ndarray) -> bool:
  # A time counter, a trend or its square (regression helpers in econometrics tables): the
  # third differences vanish up to rounding of the stored values.
  third = np.diff(values, 3)
  scale = max(float(np.abs(values).max()), 1.0)
  return bool(np.abs(third).max() <= 1e-9 * scale) if third.size else True

