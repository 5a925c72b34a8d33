"""Fan charts of probabilistic forecasts: history, held-out target, median and quantile bands.

:func:`fan_charts` draws a grid of panels for a few series of a benchmark run, from the
:class:`~lowrank_ts.data.benchmark.Task` objects and the per-series rows of
:func:`lowrank_ts.evaluation.scoring.evaluate` (same order). matplotlib is imported inside the
function, so importing this module stays cheap. :func:`forecast_fan_charts` draws the same
panels for forecasts without a held-out target (``lowrank-ts forecast --plot``).
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

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
  history, path, title = _check_figure_args(history, path, title)
  chosen = choose_series([t.dataset for t in tasks], num_series)
  panels = [(tasks[i].context, rows[i]["quantiles"], tasks[i].target,
             (f"{tasks[i].dataset} / {tasks[i].series}\n"
              f"WQL {rows[i]['wql']:.3f}  MASE {rows[i]['mase']:.3f}")) for i in chosen]
  _grid(panels, path, history, title)
  return chosen


def forecast_fan_charts(names: Sequence[str], contexts: Any, quantiles_BHQ: Any,
                        path: str | os.PathLike, num_series: int = 6,
                        history: int | None = None, title: str | None = None) -> list[int]:
  """Writes a PNG grid of fan charts of forecasts without a held-out target (the forecast
  CLI's ``--plot``): per panel the history tail, the median and the 10-90 % / 20-80 % bands.

  ``contexts``: one 1-D series per name (a list, or the rows of a ``[B, T]`` array, NaN =
  missing); ``quantiles_BHQ``: ``[B, horizon, 9]`` at :data:`QUANTILE_LEVELS` (what
  :func:`lowrank_ts.inference.forecasting.forecast` returns). ``num_series`` panels, evenly
  spread over the series; returns their indices.
  """
  if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not names:
    raise ValueError("names must be a non-empty sequence of series names")
  quantiles_BHQ = checks.float_array(quantiles_BHQ, "quantiles_BHQ", ndim=3)
  if quantiles_BHQ.shape[0] != len(names) or quantiles_BHQ.shape[2] != len(QUANTILE_LEVELS):
    raise ValueError(f"quantiles_BHQ must have shape [{len(names)}, horizon, "
                     f"{len(QUANTILE_LEVELS)}], got {quantiles_BHQ.shape}")
  if len(contexts) != len(names):
    raise ValueError(f"contexts must hold one series per name ({len(names)}), got "
                     f"{len(contexts)}")
  num_series = checks.positive_int(num_series, "num_series")
  history, path, title = _check_figure_args(history, path, title)
  chosen = choose_series(["all"] * len(names), num_series)
  panels = [(np.asarray(contexts[i], np.float64), quantiles_BHQ[i].T, None, str(names[i]))
            for i in chosen]
  _grid(panels, path, history, title)
  return chosen


def _check_figure_args(history, path, title):
  if history is not None:
    history = checks.positive_int(history, "history")
  if not isinstance(path, (str, os.PathLike)) or pathlib.Path(path).suffix.lower() != ".png":
    raise ValueError(f"path must be a file name ending in .png, got {path!r}")
  if title is not None and not isinstance(title, str):
    raise ValueError(f"title must be a string or None, got {title!r}")
  return history, path, title


def _grid(panels, path, history, title) -> None:
  """One figure of ``(context, quantiles [9, H], target or None, title)`` panels."""
  import matplotlib  # lazily: plotting is optional and slow to import
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  columns = min(MAX_COLUMNS, len(panels))
  grid_rows = math.ceil(len(panels) / columns)
  fig, axes = plt.subplots(grid_rows, columns, figsize=(4.5 * columns, 3.0 * grid_rows),
                           squeeze=False)
  for ax, panel in zip(axes.flat, panels):
    _panel(ax, *panel, history)
  for ax in list(axes.flat)[len(panels):]:
    ax.set_visible(False)
  axes.flat[0].legend(fontsize=7, loc="upper left")
  if title is not None:
    fig.suptitle(title)
  fig.tight_layout()
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _panel(ax, context: np.ndarray, quantiles_QH: np.ndarray, target: np.ndarray | None,
           title: str, history: int | None) -> None:
  """One fan chart; time is the series' index (context 0..T-1, forecast T..T+H-1)."""
  quantiles = np.asarray(quantiles_QH, np.float64)
  horizon, length = quantiles.shape[1], len(context)
  shown = min(length, history or max(HISTORY_HORIZONS * horizon, MIN_HISTORY))
  past = np.arange(length - shown, length)
  future = np.arange(length, length + horizon)
  ax.plot(past, context[length - shown:], color="black", lw=1, label="context")
  if target is not None:
    ax.plot(future, target, color="black", lw=1, ls="--", label="target")
  for lower, upper, alpha in BANDS:
    ax.fill_between(future, quantiles[QUANTILE_LEVELS.index(lower)],
                    quantiles[QUANTILE_LEVELS.index(upper)], color="tab:blue", alpha=alpha,
                    lw=0, label=f"{round(100 * lower)}-{round(100 * upper)} %")
  ax.plot(future, quantiles[QUANTILE_LEVELS.index(0.5)], color="tab:blue", lw=1.2,
          label="median")
  ax.axvline(length - 0.5, color="grey", lw=0.5)
  ax.set_title(title, fontsize=8)
  ax.tick_params(labelsize=7)
