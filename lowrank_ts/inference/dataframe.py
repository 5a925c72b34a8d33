"""Forecasts (and encoder embeddings) of a long pandas DataFrame, in the shape the time-series
ecosystem uses.

In: one row per observation, columns ``item_id`` (the series), ``timestamp`` and ``target``
(NaN = missing; other columns are ignored; rows in any order). Out: one row per series and
future step, columns ``item_id``, ``timestamp`` (the next ``horizon`` timestamps after each
series' last, at the frequency inferred from the data), ``mean`` and one column per level of
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS` named ``"0.1" ... "0.9"`` -- the layout of
AutoGluon's / gluonts' forecast frames. (chronos-forecasting's ``predict_df`` returns the same
timestamps and quantile columns but calls the point forecast ``predictions`` and adds a
``target_name`` column.) Series keep the order of their first appearance.

The frequency is inferred per series (``pandas.infer_freq``, which needs 3 timestamps); all
series that have one must agree. A series too short or too irregular to infer one is still
forecast, with a warning, and its future timestamps follow the others' frequency. Without a
timestamp column (``timestamp_column=None``) rows are taken in order and the output has a
``step`` column (1 ... horizon) instead.

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
  """A series' own timestamps gave no frequency; its future timestamps use the others'."""


def _pandas():
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


def series_from_df(df, *, id_column: str = "item_id", timestamp_column: str | None = "timestamp",
                   target: str = "target"):
  """``(ids, series, last_timestamps)`` from a long DataFrame: the item ids in order of first
  appearance, one float32 array per item (sorted by timestamp) and each item's last timestamp
  (a ``DatetimeIndex``; None without a timestamp column)."""
  pd = _pandas()
  if not isinstance(df, pd.DataFrame):
    raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
        f"df must be a pandas DataFrame, got {type(df).__name__}")
  if len(df) == 0:
    raise ValueError("df has no rows")
  _column(df, id_column, "id_column")
  _column(df, target, "target")
  if df[id_column].isna().any():
    raise ValueError(f"id_column: column {id_column!r} has missing ids (row "
                     f"{int(np.flatnonzero(df[id_column].isna().to_numpy())[0])})")
  codes, ids = pd.factorize(df[id_column], sort=False)
  try:
    values = pd.to_numeric(df[target], errors="raise").to_numpy(np.float32)
  except (TypeError, ValueError) as err:
    raise ValueError(f"target: column {target!r} is not numeric ({err})") from None
  if timestamp_column is None:
    order, stamps = np.argsort(codes, kind="stable"), None
  else:
    _column(df, timestamp_column, "timestamp_column")
    try:
      stamps = pd.DatetimeIndex(pd.to_datetime(df[timestamp_column]))
    except (TypeError, ValueError) as err:
      raise ValueError(f"timestamp_column: column {timestamp_column!r} does not hold "
                       f"timestamps ({err})") from None
    if stamps.isna().any():
      raise ValueError(f"timestamp_column: column {timestamp_column!r} has missing timestamps")
    order = np.lexsort([stamps.asi8, codes])
  bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(ids)))])
  codes, values = codes[order], values[order]
  series = [values[bounds[i]:bounds[i + 1]] for i in range(len(ids))]
  if stamps is None:
    return list(ids), series, None
  stamps = stamps[order]
  duplicate = np.flatnonzero((np.diff(stamps.asi8) == 0) & (np.diff(codes) == 0))
  if duplicate.size:
    raise ValueError(f"timestamp_column: series {ids[codes[duplicate[0]]]!r} has two rows at "
                     f"{stamps[duplicate[0]]}")
  return list(ids), series, (stamps, bounds)


def infer_frequency(ids, stamps, bounds) -> str:
  """The frequency string all series with an inferable one share (see the module doc)."""
  pd = _pandas()
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
                  f"irregular timestamps: {irregular[:forecasting.MAX_NAMED]!r}): future "
                  "timestamps follow the others'", IrregularSeriesWarning, stacklevel=3)
  return next(iter(found))


def forecast_df(model, df, horizon: int, key: Any = None, *, id_column: str = "item_id",
                timestamp_column: str | None = "timestamp", target: str = "target",
                freq: str | None = None, **forecast_options):
  """The forecast DataFrame of a long DataFrame (see the module doc) for any model;
  ``forecast_options`` are :func:`lowrank_ts.inference.forecasting.forecast`'s (key,
  batch_size, mesh, progress, sampling options). A series with no observed target is
  forecast from an empty context, as chronos-forecasting does, with a warning."""
  pd = _pandas()
  horizon = checks.positive_int(horizon, "horizon")
  ids, series, stamps = series_from_df(df, id_column=id_column,
                                       timestamp_column=timestamp_column, target=target)
  out = {id_column: np.repeat(np.asarray(ids, dtype=object), horizon)}
  if stamps is None:
    out["step"] = np.tile(np.arange(1, horizon + 1), len(ids))
  else:
    stamps, bounds = stamps
    if freq is None:
      freq = infer_frequency(ids, stamps, bounds)
    try:
      offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError):
      raise ValueError(f"freq must be a pandas frequency string such as 'D' or 'h', got "
                       f"{freq!r}") from None
    last = stamps[bounds[1:] - 1]
    with warnings.catch_warnings():  # offsets without a vectorised form (e.g. business days)
      warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
      future = np.stack([(last + step * offset).to_numpy()
                         for step in range(1, horizon + 1)], axis=1)
    out[timestamp_column] = pd.DatetimeIndex(future.ravel())
  result = forecasting.forecast(model, series, horizon, key, names=[str(i) for i in ids],
                                **forecast_options)
  out["mean"] = result["mean"].ravel()
  for j, level in enumerate(QUANTILE_LEVELS):
    out[str(level)] = result["quantiles"][..., j].ravel()
  return pd.DataFrame(out)


def embed_df(model, df, *, id_column: str = "item_id", timestamp_column: str | None = "timestamp",
             target: str = "target", **embed_options) -> dict[str, np.ndarray]:
  """The encoder embeddings of each series of a long DataFrame (see the module doc):
  :func:`lowrank_ts.inference.forecasting.embed`'s ``embeddings``, ``mask``, ``loc`` and
  ``scale``, one row per series in order of first appearance, plus ``item_id`` (those ids).
  ``embed_options``: embed's batch_size, mesh, progress."""
  ids, series, _ = series_from_df(df, id_column=id_column, timestamp_column=timestamp_column,
                                  target=target)
  out = forecasting.embed(model, series, names=[str(i) for i in ids], **embed_options)
  return {"item_id": np.asarray(ids, dtype=object), **out}
