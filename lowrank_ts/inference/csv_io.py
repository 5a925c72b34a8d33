"""The CSV formats of ``lowrank-ts forecast``.

Input, wide: a header of series names, one column per series, empty cells for missing values
(and for the start of shorter series); a column with no value at all is a series without
observations, forecast from an empty context with a warning (see
:mod:`lowrank_ts.inference.forecasting`). Output: one row per series and step, ``series, step,
mean, 0.1, ..., 0.9``. (The long format, ``item_id, timestamp, target`` rows, is pandas':
:mod:`lowrank_ts.inference.dataframe`.)
"""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from lowrank_ts.models.config import QUANTILE_LEVELS


def _existing(path: Any) -> pathlib.Path:
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"input {path} does not exist or is not a file")
  return path


def read_wide_csv(path: Any) -> tuple[list[str], np.ndarray]:
  """Series names and a ``[B, T]`` float32 array (NaN = missing) from a wide CSV."""
  path = _existing(path)
  with path.open(newline="") as f:
    rows = list(csv.reader(f))
  if not rows or not any(cell.strip() for cell in rows[0]):
    raise ValueError(f"input {path} has no header row of series names")
  names = [n.strip() for n in rows[0]]
  if len(rows) == 1:
    raise ValueError(f"input {path} has a header but no rows of values")
  values = np.full((len(names), len(rows) - 1), np.nan, np.float32)
  for t, row in enumerate(rows[1:]):
    if len(row) > len(names):
      raise ValueError(f"input row {t + 2} has {len(row)} cells but the header has "
                       f"{len(names)}")
    for b, cell in enumerate(row):
      cell = cell.strip()
      if not cell:
        continue
      try:
        values[b, t] = float(cell)
      except ValueError:
        raise ValueError(f"input column {names[b]!r} is not numeric: row {t + 2} holds "
                         f"{cell!r}") from None
  return names, values  # a column without numbers is an unobserved series (forecasting.py)


def write_forecast_csv(path: Any, names: Sequence[str], result: dict[str, np.ndarray]) -> None:
  """Writes ``series, step, mean, 0.1 ... 0.9`` rows for the output of :func:`forecast`."""
  if not isinstance(result, dict) or set(result) != {"mean", "quantiles"}:
    raise ValueError("result must be the dict returned by forecast()")
  mean, quantiles = np.asarray(result["mean"]), np.asarray(result["quantiles"])
  if mean.ndim != 2 or quantiles.shape != mean.shape + (len(QUANTILE_LEVELS),):
    raise ValueError(f"result shapes disagree: mean {mean.shape}, quantiles {quantiles.shape}")
  if len(names) != mean.shape[0]:
    raise ValueError(f"names has {len(names)} entries for {mean.shape[0]} series")
  with pathlib.Path(path).open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["series", "step", "mean", *[str(q) for q in QUANTILE_LEVELS]])
    for b, name in enumerate(names):
      for h in range(result["mean"].shape[1]):
        writer.writerow([name, h + 1, f"{result['mean'][b, h]:.7g}",
                         *[f"{v:.7g}" for v in result["quantiles"][b, h]]])
