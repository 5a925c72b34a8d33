"""The validation protocol: the series on which model selection is decided. None of them is, or
overlaps, a scored benchmark series.

Sets (each a dataset of :class:`~lowrank_ts.data.task.Task`):

- ``real``: the real corpus's held-out part (:func:`held_out`: a fixed hash of the series name
  puts :data:`HELD_OUT_PERCENT` % of the corpus here, split by series, not by time). Recipes
  with ``TrainConfig.corpus_holdout`` never train on these series. Context: all but the last
  ``horizon`` values; horizon and seasonality by frequency (:data:`REAL_HORIZON`; series
  shorter than three horizons are left out), datasets ``val-real-A``, ``-Q``, ``-M`` and
  ``-other`` (every other frequency, horizon 14).
- synthetic families held out by seed (streams ``default_rng([VALIDATION_SEED, family, i])``;
  training draws ``default_rng([seed, step, row])``): clean seasonal series of each period of
  :data:`~lowrank_ts.data.seasonal_synth.PERIODS` with noise of :data:`SEASONAL_NOISE` of
  their standard deviation (seasonality = the period), each family of
  :mod:`~lowrank_ts.data.seasonal_synth` (seasonality 1), and KernelSynth (held-out seeds);
  context :data:`CONTEXT`, horizon :data:`HORIZON`.
- short histories: trends with 8-40 values of history (horizon 6, as yearly series) and
  period-4 seasonal series with 12-40 (horizon 8, as quarterly ones).

Metric: the geometric mean over these datasets of the model's WQL divided by Seasonal Naive's
(the point forecast, as the zero-shot benchmark scores), with MASE likewise as a second column.
Selection rule: among candidate runs and their checkpoints, the lowest relative WQL wins;
a candidate whose margin over a cheaper one (fewer parameters or less training time) is below
the checkpoint-to-checkpoint noise of the last quarter of its own curve is not preferred to it.
M3 + Tourism is scored once, for the chosen checkpoint.
"""

from __future__ import annotations

import hashlib

import numpy as np

from lowrank_ts.data import corpus, kernel_synth, real_series, seasonal_synth
from lowrank_ts.data.task import Task

HELD_OUT_PERCENT = 20
VALIDATION_SEED = 20_251_003
CONTEXT = 256
HORIZON = 24
REAL_HORIZON = {"A": 6, "Q": 8, "M": 18}  # every other frequency: 14, one dataset
SEASONAL_NOISE = 0.05  # of the series' sd: Seasonal Naive is not exact, so it can be beaten
SERIES_PER_FAMILY = 40
KERNEL_SYNTH_SEED = 30_000  # training pools use the run's seed, the 'synthetic' task 10_000+


def held_out(name: str) -> bool:
  """Whether the corpus series ``name`` is in the validation part (fixed by the name alone)."""
  if not isinstance(name, str) or not name:
    raise ValueError(f"name must be a non-empty string, got {name!r}")
  digest = hashlib.sha256(f"validation:{name}".encode()).digest()
  return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def _rng(family: int, i: int) -> np.random.Generator:
  return np.random.default_rng([VALIDATION_SEED, family, i])


def _split(dataset: str, i: int, values: np.ndarray, horizon: int, season: int,
           history: int | None = None) -> Task:
  values = np.asarray(values, np.float64)
  context, target = values[:-horizon], values[-horizon:]
  if history is not None:
    context = context[-history:]
  return Task(dataset, f"{dataset}/{i}", context, target, None, season)


def real_tasks() -> list[Task]:
  """The held-out real corpus series of at least three horizons, one dataset per frequency."""
  out = []
  for s in corpus.series():
    horizon = REAL_HORIZON.get(s.freq, 14)
    if held_out(s.name) and s.values.shape[0] >= 3 * horizon:
      group = s.freq if s.freq in REAL_HORIZON else "other"
      out.append(Task(f"val-real-{group}", s.name, np.asarray(s.values[:-horizon], np.float64),
                      np.asarray(s.values[-horizon:], np.float64), s.freq,
                      real_series.seasonality(s.freq)))
  return out


def synthetic_tasks(per_family: int = SERIES_PER_FAMILY) -> list[Task]:
  """The held-out synthetic families and short histories (see the module docstring)."""
  length = CONTEXT + HORIZON
  out = []
  for code, period in enumerate(seasonal_synth.PERIODS):
    for i in range(per_family):
      rng = _rng(code, i)
      values = seasonal_synth.clean_seasonal(rng, length, period)
      values = values + SEASONAL_NOISE * values.std() * rng.normal(size=length)
      out.append(_split(f"val-seasonal-p{period}", i, values, HORIZON, period))
  for code, family in enumerate(seasonal_synth.FAMILIES, start=100):
    for i in range(per_family):
      values = seasonal_synth.sample(_rng(code, i), length, family)
      out.append(_split(f"val-{family}", i, values, HORIZON, 1))
  for i in range(per_family):
    rng = _rng(200, i)
    values = seasonal_synth.sample(rng, 46, "trend")
    out.append(_split("val-short-trend", i, values, 6, 1, int(rng.integers(8, 41))))
    rng = _rng(201, i)
    values = seasonal_synth.clean_seasonal(rng, 48, 4)
    noisy = values + SEASONAL_NOISE * values.std() * rng.normal(size=values.shape[0])
    out.append(_split("val-short-p4", i, noisy, 8, 4, int(rng.integers(12, 41))))
  pool = kernel_synth.kernel_synth(per_family, KERNEL_SYNTH_SEED, length=length)
  out += [_split("val-kernel-synth", i, v, HORIZON, 1) for i, v in enumerate(pool)]
  return out


def _scorable(task: Task) -> bool:
  """WQL divides by the target's absolute sum, MASE by the history's seasonal error (lag m, or
  1 when the history is not longer than m): both must be non-zero."""
  history = task.context
  m = task.seasonality if task.seasonality < history.shape[0] else 1
  return bool(np.any(task.target != 0) and np.nanmean(np.abs(history[m:] - history[:-m])) > 0)


def tasks() -> list[Task]:
  """Every validation task: :func:`real_tasks` then :func:`synthetic_tasks`, less those the
  metrics cannot score (an all-zero target, a history without a seasonal error)."""
  return [t for t in real_tasks() + synthetic_tasks() if _scorable(t)]
