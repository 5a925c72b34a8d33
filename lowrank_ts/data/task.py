"""One evaluation task: a series' history and the values to forecast after it."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Task:
  """One series to forecast: ``context`` float64 [T] -> ``target`` float64 [horizon]."""
  dataset: str
  series: str
  context: np.ndarray
  target: np.ndarray
  freq: str | None
  seasonality: int

  @property
  def horizon(self) -> int:
    return int(self.target.shape[0])
