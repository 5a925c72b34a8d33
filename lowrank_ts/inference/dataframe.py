"""Forecasts (and encoder embeddings) of a long pandas DataFrame, in the shape the time-series
ecosystem uses.

In: one row per observation, columns ``item_id`` (the series), ``timestamp`` and ``target``
(NaN = missing; other columns are ignored; rows in any order). Out: one row per series and
future step, columns ``item_id``, ``timestamp`` (the next ``horizon`` timestamps after each
series' last), ``mean`` and one column per level of
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS` named ``"0.1" ... "0.9"`` -- the layout of
AutoGluon's / gluonts' forecast frames. (chronos-forecasting's ``predict_df`` returns the same
timestamps and quantile columns but calls the point forecast ``predictions`` and adds a
``target_name`` column.) Series keep the order of their first appearance.

Timestamps are placed on a regular grid: a step of the frequency with no row is a missing
value (NaN), as a missing target is, so the model sees the series' real spacing. The frequency
is ``freq`` or, without it, inferred per series (``pandas.infer_freq``, which needs 3
regularly spaced timestamps); all series that have one must agree, and a series without one of
its own (too short, or with gaps) is placed on the others' frequency with a warning. A
timestamp that is not a step of the frequency from its series' first (``MS`` on daily data)
is refused, naming the series and the timestamp. Integer timestamps are steps, not dates:
their grid's step is the greatest common divisor of their spacings, ``freq`` does not apply,
and the future timestamps are integers. Without a timestamp column (``timestamp_column=None``)
rows are taken in order and the output has a ``step`` column (1 ... horizon) instead.

Target values must be numbers float32 holds (no inf, nothing beyond 3.4e38); an error names
the column and the row (its index label).

:func:`embed_df` reads the same frames and returns the arrays of
:func:`lowrank_ts.inference.forecasting.embed` with the series' ids. pandas is optional: it is
imported when these functions are called.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lowrank_ts import checks
from lowrank_ts.inference import forecasting
from lowrank_ts.models.config import QUANTILE_LEVELS


class IrregularSeriesWarning(UserWarning):
  """A series' own timestamps gave no frequency; it is placed on the others' (see module doc)."""


def require_pandas():
  """The pandas module, or an ImportError saying how to install it."""
  try:
    import pandas as pd
  except ImportError:
    raise ImportError("the DataFrame API needs pandas, which is not installed: "
                      "pip install pandas") from None
  return pd


def _column(df, column: Any, arg: str) -> str:
  if not isinstance(column, str) or column not in df.columns:
    raise ValueError(f"{arg}: df has no column {column!r} (columns: {list(df.columns)})")
  return column


MAX_GRID_STEPS = 1_000_000  # steps between a series' first and last timestamp


def _first_line(err: Exception) -> str:
  return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _target_values(pd, df, target: str) -> np.ndarray:
  """The target column as float32, every value checked (see the module doc)."""
  column = df[target]
  values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64, na_value=np.nan)
  bad = np.flatnonzero(np.isnan(values) & column.notna().to_numpy())
  if bad.size:
    raise ValueError(f"target: column {target!r} row {df.index[bad[0]]} holds "
                     f"{column.iloc[bad[0]]!r}, which is not a number")
  with np.errstate(invalid="ignore"):
    for i in np.flatnonzero(~np.isnan(values)):
      reason = checks.float32_reason(float(values[i]))
      if reason:
        raise ValueError(f"target: column {target!r} row {df.index[i]} holds {values[i]!r}: "
                         f"{reason}")
  return values.astype(np.float32)


def _timestamps(pd, df, column: str):
  """``(stamps, integer)``: a DatetimeIndex, or int64 steps (``integer``) for an integer
  column."""
  raw = df[column]
  if pd.api.types.is_bool_dtype(raw) or (pd.api.types.is_numeric_dtype(raw)
                                         and not pd.api.types.is_integer_dtype(raw)):
    raise ValueError(f"timestamp_column: column {column!r} holds numbers, not timestamps "
                     "(integers are read as steps, dates as dates)")
  if pd.api.types.is_integer_dtype(raw):
    return raw.to_numpy(np.int64), True
  try:
    stamps = pd.DatetimeIndex(pd.to_datetime(raw))
  except (TypeError, ValueError, OverflowError) as err:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      coerced = pd.to_datetime(raw, errors="coerce")
    bad = np.flatnonzero(pd.isna(coerced) & raw.notna().to_numpy())
    where = f" row {df.index[bad[0]]} holds {raw.iloc[bad[0]]!r}:" if bad.size else ""
    raise ValueError(f"timestamp_column: column {column!r} does not hold timestamps;{where} "
                     f"{_first_line(err)}") from None
  missing = np.flatnonzero(stamps.isna())
  if missing.size:
    raise ValueError(f"timestamp_column: column {column!r} row {df.index[missing[0]]} has no "
                     "timestamp")
  return stamps, False


def _positions(item, own, offset, freq: str, inferred: bool) -> np.ndarray:
  """Each timestamp's step from the series' first on the grid of ``offset``; a ValueError
  naming the series and the first timestamp that is not a step."""
  source = "the frequency inferred from the other series" if inferred else "freq"
  if len(own) == 1:
    return np.zeros(1, np.int64)
  pd = require_pandas()
  nanos = own.as_unit("ns").asi8
  if isinstance(offset, pd.offsets.Tick):
    delta = nanos - nanos[0]
    off = np.flatnonzero(delta % offset.nanos)
    positions = delta // offset.nanos
  else:
    if not offset.is_on_offset(own[0]):
      raise ValueError(f"freq: series {item!r} starts at {own[0]}, which is not a step of "
                       f"{source} {freq!r}: the frequency does not fit the data")
    shortest = min(np.diff(pd.date_range(own[0], periods=24, freq=offset).as_unit("ns").asi8))
    if (nanos[-1] - nanos[0]) // shortest >= MAX_GRID_STEPS:
      positions = np.array([MAX_GRID_STEPS])
      off = np.array([], np.int64)
    else:
      positions = pd.date_range(own[0], own[-1], freq=offset).get_indexer(own)
      off = np.flatnonzero(positions < 0)
  if off.size:
    raise ValueError(f"freq: series {item!r} has the timestamp {own[off[0]]}, which is not a "
                     f"step of {source} {freq!r} from its first, {own[0]}: the frequency does "
                     "not fit the data")
  if positions[-1] >= MAX_GRID_STEPS:
    raise ValueError(f"freq: series {item!r} spans more than {MAX_GRID_STEPS} steps of "
                     f"{freq!r} from {own[0]} to {own[-1]}; check the frequency and the "
                     "timestamps")
  return positions.astype(np.int64)


def infer_frequency(ids, stamps, bounds) -> str:
  """The frequency string all series with an inferable one share (see the module doc)."""
  pd = require_pandas()
  found: dict[str, list] = {}
  irregular = []
  for i, item in enumerate(ids):
    own = stamps[bounds[i]:bounds[i + 1]]
    with warnings.catch_warnings():  # pandas >= 3 announces an offset return type; use a str
      warnings.filterwarnings("ignore", message=".*infer_freq.*")
      freq = pd.infer_freq(own) if len(own) >= 3 else None
    freq = getattr(freq, "freqstr", freq)
    if freq is None:
      irregular.append(item)
    else:
      found.setdefault(freq, []).append(item)
  if len(found) > 1:
    detail = "; ".join(f"{f}: {items[:3]!r}" for f, items in found.items())
    raise ValueError(f"freq: series have different frequencies ({detail}); forecast them "
                     "separately or pass freq")
  if not found:
    raise ValueError("freq: no series has 3 regularly spaced timestamps to infer a frequency "
                     "from; pass freq (e.g. 'D', 'h', 'MS')")
  if irregular:
    warnings.warn(f"{len(irregular)} series without a frequency of their own (fewer than 3 or "
                  f"irregular timestamps: {irregular[:forecasting.MAX_NAMED]!r}): placed on "
                  "the others' frequency, gaps as missing values", IrregularSeriesWarning,
                  stacklevel=4)
  return next(iter(found))


def series_from_df(df, *, id_column: str = "item_id", timestamp_column: str | None = "timestamp",
                   target: str = "target", freq: str | None = None):
  """``(ids, series, future)`` from a long DataFrame (see the module doc): the item ids in
  order of first appearance, one float32 array per item on its regular grid (NaN = missing),
  and ``future(horizon)``, each item's next ``horizon`` timestamps ``[B * horizon]`` (None
  without a timestamp column)."""
  pd = require_pandas()
  if not isinstance(df, pd.DataFrame):
    raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
        f"df must be a pandas DataFrame, got {type(df).__name__}")
  if len(df) == 0:
    raise ValueError("df has no rows")
  _column(df, id_column, "id_column")
  _column(df, target, "target")
  if df[id_column].isna().any():
    raise ValueError(f"id_column: column {id_column!r} row "
                     f"{df.index[np.flatnonzero(df[id_column].isna().to_numpy())[0]]} has no id")
  codes, ids = pd.factorize(df[id_column], sort=False)
  ids = list(ids)
  values = _target_values(pd, df, target)
  bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(ids)))])
  if timestamp_column is None:
    order = np.argsort(codes, kind="stable")
    values = values[order]
    return ids, [values[bounds[i]:bounds[i + 1]] for i in range(len(ids))], None
  _column(df, timestamp_column, "timestamp_column")
  stamps, integer = _timestamps(pd, df, timestamp_column)
  keys = stamps if integer else stamps.as_unit("ns").asi8
  order = np.lexsort([keys, codes])
  codes, values, stamps = codes[order], values[order], stamps[order]
  keys = keys[order]
  duplicate = np.flatnonzero((np.diff(keys) == 0) & (np.diff(codes) == 0))
  if duplicate.size:
    raise ValueError(f"timestamp_column: series {ids[codes[duplicate[0]]]!r} has two rows at "
                     f"{stamps[duplicate[0]]}")
  if integer:
    if freq is not None:
      raise ValueError(f"freq: column {timestamp_column!r} holds integer steps, not dates; "
                       "leave the frequency out (the step is the timestamps' spacing)")
    gaps = np.diff(keys)[np.diff(codes) == 0]
    step = int(np.gcd.reduce(gaps)) if gaps.size else 1
    positions, offset = [], step
    for i, item in enumerate(ids):
      own = keys[bounds[i]:bounds[i + 1]]
      if (own[-1] - own[0]) // step >= MAX_GRID_STEPS:
        raise ValueError(f"timestamp_column: series {item!r} spans more than {MAX_GRID_STEPS} "
                         f"steps of {step} from {own[0]} to {own[-1]}")
      positions.append((own - own[0]) // step)
  else:
    inferred = freq is None
    if inferred:
      freq = infer_frequency(ids, stamps, bounds)
    try:
      offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError):
      raise ValueError(f"freq must be a pandas frequency string such as 'D' or 'h', got "
                       f"{freq!r}") from None
    positions = [_positions(item, stamps[bounds[i]:bounds[i + 1]], offset, freq, inferred)
                 for i, item in enumerate(ids)]
  series = []
  for i, where in enumerate(positions):
    row = np.full(int(where[-1]) + 1, np.nan, np.float32)
    row[where] = values[bounds[i]:bounds[i + 1]]
    series.append(row)
  last = stamps[bounds[1:] - 1]

  def future(horizon: int):
    if integer:
      return (last[:, None] + offset * np.arange(1, horizon + 1)).ravel()
    with warnings.catch_warnings():  # offsets without a vectorised form (e.g. business days)
      warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
      steps = np.stack([(last + step * offset).to_numpy() for step in range(1, horizon + 1)],
                       axis=1)
    return pd.DatetimeIndex(steps.ravel())
  return ids, series, future


def forecast_df(model, df, horizon: int, key: Any = None, *, id_column: str = "item_id",
                timestamp_column: str | None = "timestamp", target: str = "target",
                freq: str | None = None, **forecast_options):
  """The forecast DataFrame of a long DataFrame (see the module doc) for any model;
  ``forecast_options`` are :func:`lowrank_ts.inference.forecasting.forecast`'s (key,
  batch_size, mesh, progress, sampling options). A series with no observed target is
  forecast from an empty context, as chronos-forecasting does, with a warning."""
  pd = require_pandas()
  horizon = forecasting.check_horizon(model, horizon)
  ids, series, future = series_from_df(df, id_column=id_column,
                                       timestamp_column=timestamp_column, target=target,
                                       freq=freq)
  out = {id_column: np.repeat(np.asarray(ids, dtype=object), horizon)}
  if future is None:
    out["step"] = np.tile(np.arange(1, horizon + 1), len(ids))
  else:
    out[timestamp_column] = future(horizon)
  result = forecasting.forecast(model, series, horizon, key, names=[str(i) for i in ids],
                                **forecast_options)
  out["mean"] = result["mean"].ravel()
  for j, level in enumerate(QUANTILE_LEVELS):
    out[str(level)] = result["quantiles"][..., j].ravel()
  return pd.DataFrame(out)


def embed_df(model, df, *, id_column: str = "item_id", timestamp_column: str | None = "timestamp",
             target: str = "target", freq: str | None = None,
             **embed_options) -> dict[str, np.ndarray]:
  """The encoder embeddings of each series of a long DataFrame (see the module doc):
  :func:`lowrank_ts.inference.forecasting.embed`'s ``embeddings``, ``mask``, ``loc`` and
  ``scale``, one row per series in order of first appearance, plus ``item_id`` (those ids).
  ``embed_options``: embed's batch_size, mesh, progress."""
  ids, series, _ = series_from_df(df, id_column=id_column, timestamp_column=timestamp_column,
                                  target=target, freq=freq)
  out = forecasting.embed(model, series, names=[str(i) for i in ids], **embed_options)
  return {"item_id": np.asarray(ids, dtype=object), **out}
