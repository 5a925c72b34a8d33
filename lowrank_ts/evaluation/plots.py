"""Fan charts of probabilistic forecasts: history, held-out target, median and quantile bands.

:func:`fan_charts` draws a grid of panels for a few series of a benchmark run, from the
:class:`~lowrank_ts.data.benchmark.Task` objects and the per-series rows of
:func:`lowrank_ts.evaluation.scoring.evaluate` (same order). matplotlib is imported inside the
function, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import benchmark
from lowrank_ts.models.config import QUANTILE_LEVELS

MIN_HISTORY = 24
HISTORY_HORIZONS = 3  # default history: this many horizons (at least MIN_HISTORY points)
MAX_COLUMNS = 3
# (lower, upper, opacity) of the shaded bands, outermost first.
BANDS = ((0.1, 0.9, 0.2), (0.2, 0.8, 0.3))


def choose_series(datasets: Sequence[str], num_series: int) -> list[int]:
  """Indices (ascending) of ``min(num_series, len(datasets))`` series spread over the datasets.

  ``datasets`` names each series' dataset. Series are dealt round-robin over the datasets in
  order of first appearance (or over ``num_series`` of them evenly spread, when there are more
  datasets than panels); within a dataset the chosen series are evenly spaced. Deterministic.
  """
  num_series = checks.positive_int(num_series, "num_series")
  members: dict[str, list[int]] = {}
  for i, name in enumerate(datasets):
    members.setdefault(name, []).append(i)
  if not members:
    raise ValueError("datasets must be non-empty")
  names = list(members)
  total = min(num_series, len(datasets))
  if total < len(names):
    names = [names[int(k)] for k in np.linspace(0, len(names) - 1, total).round()]
  counts = dict.fromkeys(names, 0)
  while sum(counts.values()) < total:
    for name in names:
      if counts[name] < len(members[name]) and sum(counts.values()) < total:
        counts[name] += 1
  chosen = []
  for name, count in counts.items():
    mine = members[name]
    chosen += [mine[int(k)] for k in np.linspace(0, len(mine) - 1, count).round()]
  return sorted(chosen)


def _check_rows(tasks: Sequence[benchmark.Task], rows: Sequence[dict]) -> None:
  """Each row must be its task's (same dataset and series) with quantiles [levels, horizon]."""
  if isinstance(tasks, (str, bytes)) or not tasks or not all(
      isinstance(t, benchmark.Task) for t in tasks):
    raise ValueError("tasks must be a non-empty sequence of benchmark.Task")
  if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
    raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
        f"rows must be a sequence of evaluation rows, got {type(rows).__name__}")
  if len(rows) != len(tasks):
    raise ValueError(f"rows must have one row per task ({len(tasks)}), got {len(rows)}")
  for i, (task, row) in enumerate(zip(tasks, rows)):
    if not isinstance(row, Mapping):
      raise ValueError(  # noqa: TRY004
          f"rows[{i}] must be a dict (an evaluation row), got {type(row).__name__}")
    missing = {"dataset", "series", "quantiles", "wql", "mase"} - set(row)
    if missing:
      raise ValueError(f"rows[{i}] lacks {sorted(missing)}")
    if (row["dataset"], row["series"]) != (task.dataset, task.series):
      raise ValueError(f"rows[{i}] is {row['dataset']}/{row['series']}, but tasks[{i}] is "
                       f"{task.dataset}/{task.series}: rows must follow the order of tasks")
    expected = (len(QUANTILE_LEVELS), task.horizon)
    if np.shape(row["quantiles"]) != expected:
      raise ValueError(f"rows[{i}]['quantiles'] must have shape {expected}, got "
                       f"{np.shape(row['quantiles'])}")


def fan_charts(tasks: Sequence[benchmark.Task], rows: Sequence[dict], path: str | os.PathLike,
               num_series: int = 6, history: int | None = None, title: str | None = None
               ) -> list[int]:
  """Writes a PNG grid of fan charts for ``num_series`` series (:func:`choose_series`).

  Each panel: the last ``history`` context points (default ``max(3 * horizon, 24)``), the
  held-out target, the median forecast and its 10-90 % and 20-80 % bands over the target
  window, titled with dataset / series / WQL / MASE. ``rows[i]`` is the evaluation row of
  ``tasks[i]`` (``quantiles`` [9, horizon] at :data:`QUANTILE_LEVELS`). Returns the plotted
  task indices.
  """
  _check_rows(tasks, rows)
  num_series = checks.positive_int(num_series, "num_series")
  if history is not None:
    history = checks.positive_int(history, "history")
  if not isinstance(path, (str, os.PathLike)) or pathlib.Path(path).suffix.lower() != ".png":
    raise ValueError(f"path must be a file name ending in .png, got {path!r}")
  if title is not None and not isinstance(title, str):
    raise ValueError(f"title must be a string or None, got {title!r}")
  chosen = choose_series([t.dataset for t in tasks], num_series)

  import matplotlib  # lazily: plotting is optional and slow to import
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  columns = min(MAX_COLUMNS, len(chosen))
  grid_rows = math.ceil(len(chosen) / columns)
  fig, axes = plt.subplots(grid_rows, columns, figsize=(4.5 * columns, 3.0 * grid_rows),
                           squeeze=False)
  for ax, i in zip(axes.flat, chosen):
    _panel(ax, tasks[i], rows[i], history)
  for ax in list(axes.flat)[len(chosen):]:
    ax.set_visible(False)
  axes.flat[0].legend(fontsize=7, loc="upper left")
  if title is not None:
    fig.suptitle(title)
  fig.tight_layout()
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return chosen


def _panel(ax, task: benchmark.Task, row: dict, history: int | None) -> None:
  """One fan chart; time is the series' index (context 0..T-1, target T..T+H-1)."""
  horizon, length = task.horizon, len(task.context)
  shown = min(length, history or max(HISTORY_HORIZONS * horizon, MIN_HISTORY))
  past = np.arange(length - shown, length)
  future = np.arange(length, length + horizon)
  quantiles = np.asarray(row["quantiles"], np.float64)
  ax.plot(past, task.context[-shown:], color="black", lw=1, label="context")
  ax.plot(future, task.target, color="black", lw=1, ls="--", label="target")
  for lower, upper, alpha in BANDS:
    ax.fill_between(future, quantiles[QUANTILE_LEVELS.index(lower)],
                    quantiles[QUANTILE_LEVELS.index(upper)], color="tab:blue", alpha=alpha,
                    lw=0, label=f"{round(100 * lower)}-{round(100 * upper)} %")
  ax.plot(future, quantiles[QUANTILE_LEVELS.index(0.5)], color="tab:blue", lw=1.2,
          label="median")
  ax.axvline(length - 0.5, color="grey", lw=0.5)
  ax.set_title(f"{task.dataset} / {task.series}\nWQL {row['wql']:.3f}  MASE {row['mase']:.3f}",
               fontsize=8)
  ax.tick_params(labelsize=7)
