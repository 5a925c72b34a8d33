"""Fixed-shape batches of series for forecasting any number of them in bounded memory.

Every batch holds the same number of rows and the same window length, so the model's jitted
programs are compiled once and reused for every batch: the window is the last
``min(longest series, context_length)`` values (what the models read anyway: a longer context
is cut to its last ``context_length`` values, and each later horizon chunk appends to it and
cuts again), series are left-padded with NaN, and the last batch is filled up with all-NaN
rows, whose forecasts are dropped. Only one batch is ever padded into a new array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lowrank_ts import checks


def series_rows(context: Any) -> Sequence[np.ndarray]:
  """The series of ``context`` as 1-D float32 arrays: the rows of a ``[T]`` / ``[B, T]`` array
  (NaN = missing, left padding included) or the entries of a list of 1-D series (ragged)."""
  if isinstance(context, (list, tuple)):
    if not context:
      raise ValueError("context must hold at least one series")
    rows = []
    for i, s in enumerate(context):
      arr = np.asarray(checks.float_array(s, f"context series {i}"), np.float32)
      checks.check_ndim(arr, f"context series {i}", ndim=1)
      rows.append(arr)
    return rows
  arr = checks.float_array(context, "context")
  if arr.ndim == 1:
    arr = arr[None]
  checks.check_ndim(arr, "context", ndim=2)
  return arr  # its rows, without a copy


def unobserved(rows: Sequence[np.ndarray]) -> list[int]:
  """Indices of the series with no observed (non-NaN) value."""
  return [i for i, r in enumerate(rows) if not np.any(~np.isnan(r))]


def window_length(rows: Sequence[np.ndarray], context_length: int) -> int:
  """The common window of every batch: the longest series, at most ``context_length``."""
  return min(max(int(r.shape[-1]) for r in rows), context_length)


def batch_rows(num_series: int, batch_size: int | None, multiple: int = 1) -> int:
  """Rows per batch: ``batch_size`` (all series when None), never more than the series need,
  rounded up to a ``multiple`` (the number of data-parallel devices)."""
  num_series = checks.positive_int(num_series, "num_series")
  multiple = checks.positive_int(multiple, "multiple")
  wanted = num_series if batch_size is None else min(
      checks.positive_int(batch_size, "batch_size"), num_series)
  return multiple * math.ceil(wanted / multiple)


def padded_batch(rows: Sequence[np.ndarray], start: int, num_rows: int,
                 length: int) -> np.ndarray:
  """float32 ``[num_rows, length]``: series ``start ... start + num_rows - 1`` (their last
  ``length`` values, left-padded with NaN), then all-NaN rows past the last series."""
  out = np.full((num_rows, length), np.nan, np.float32)
  for i, series in enumerate(rows[start:start + num_rows]):
    tail = series[-length:]
    out[i, length - tail.shape[0]:] = tail
  return out

