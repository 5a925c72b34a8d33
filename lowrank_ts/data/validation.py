"""The validation protocol: the series on which model selection is decided. None of them is, or
overlaps, a scored benchmark series.

Sets (each a dataset of :class:`~lowrank_ts.data.task.Task`):

- ``real``: the real corpus's held-out part (:func:`held_out`: a fixed hash of the series name
  puts :data:`HELD_OUT_PERCENT` % of the corpus here, split by series, not by time). Recipes
  with ``TrainConfig.corpus_holdout`` never train on these series. Context: all but the last
  ``horizon`` values; horizon by frequency (:data:`REAL_HORIZON`, at most a third of the
  series), seasonality by frequency; one dataset per frequency group (``val-real-A``, ``-Q``,
  ``-M``, ``-other``).
- synthetic families held out by seed (streams ``default_rng([VALIDATION_SEED, family, i])``;
  training draws ``default_rng([seed, step, row])``): clean seasonal series of each period of
  :data:`~lowrank_ts.data.seasonal_synth.PERIODS` (seasonality = the period), each family of
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
REAL_HORIZON = {"A": 6, "Q": 8, "M": 18, "W": 13, "D": 14, "B": 20}  # other frequencies: 12
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
  """The held-out real corpus series, one dataset per frequency group."""
  out = []
  for s in corpus.series():
    if held_out(s.name):
      horizon = min(REAL_HORIZON.get(s.freq, 12), s.values.shape[0] // 3)
      group = s.freq if s.freq in ("A", "Q", "M") else "other"
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
      values = seasonal_synth.clean_seasonal(_rng(code, i), length, period)
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
    noisy = values * (1 + 0.05 * rng.normal(size=values.shape[0]))
    out.append(_split("val-short-p4", i, noisy, 8, 4, int(rng.integers(12, 41))))
  pool = kernel_synth.kernel_synth(per_family, KERNEL_SYNTH_SEED, length=length)
  out += [_split("val-kernel-synth", i, v, HORIZON, 1) for i, v in enumerate(pool)]
  return out


def tasks() -> list[Task]:
  """Every validation task: :func:`real_tasks` then :func:`synthetic_tasks`."""
  return real_tasks() + synthetic_tasks()
