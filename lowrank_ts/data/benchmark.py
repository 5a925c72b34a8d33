"""Evaluation tasks: one forecast per series, from its whole history to its last window.

``real``: the offline real series of :mod:`real_series` (one dataset per series, horizon and
seasonality from its frequency). ``synthetic``: held-out KernelSynth series (seed 10_000 +
``seed``, disjoint from training seeds by convention), length ``context + horizon`` with the
last 64 values as the target, one dataset, seasonality 1 (no calendar frequency).
``m3-tourism``: the zero-shot benchmark, M3 and Tourism yearly / quarterly / monthly with the
competitions' splits (:mod:`m3_tourism`, optional extra ``benchmarks``). ``validation``: the
model-selection sets of :mod:`validation` (never a scored benchmark).
"""

from __future__ import annotations

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import kernel_synth, m3_tourism, real_series, validation
from lowrank_ts.data.task import Task

SYNTHETIC_SEED_OFFSET = 10_000


def real_tasks(names: list[str] | None = None) -> list[Task]:
  """One task per real series (default: all of :data:`real_series.NAMES`)."""
  series = real_series.load(None if names is None else list(names))
  return [Task(s.name, s.name, s.train, s.test, s.freq, s.seasonality) for s in series]


def synthetic_tasks(num_series: int = 32, seed: int = 0, context_length: int = 512,
                    horizon: int = 64) -> list[Task]:
  """``num_series`` held-out KernelSynth series in one dataset ``kernel_synth``."""
  num_series = checks.positive_int(num_series, "num_series")
  seed = checks.positive_int(seed, "seed", allow_zero=True)
  context_length = checks.positive_int(context_length, "context_length")
  horizon = checks.positive_int(horizon, "horizon")
  values = kernel_synth.kernel_synth(num_series, SYNTHETIC_SEED_OFFSET + seed,
                                     length=context_length + horizon).astype(np.float64)
  return [Task("kernel_synth", f"kernel_synth/{i}", v[:context_length], v[context_length:], None, 1)
          for i, v in enumerate(values)]


def m3_tourism_tasks(datasets: tuple[str, ...] | list[str] = m3_tourism.DATASETS,
                     max_series: int | None = None) -> list[Task]:
  """The zero-shot benchmark (:mod:`m3_tourism`): every series of ``datasets`` (default all six),
  or the first ``max_series`` of each (smoke runs; not the benchmark)."""
  if isinstance(datasets, str) or not datasets:
    raise ValueError(f"datasets must be a non-empty list of {list(m3_tourism.DATASETS)}, got "
                     f"{datasets!r}")
  if max_series is not None:
    max_series = checks.positive_int(max_series, "max_series")
  out = []
  for name in datasets:
    ds = m3_tourism.spec(name)
    for series, context, target in m3_tourism.load(name)[:max_series]:
      out.append(Task(name, series, context, target, ds.freq, ds.seasonality))
  return out


BENCHMARKS = ("real", "synthetic", "m3-tourism", "validation")


def tasks(benchmark: str, **kwargs) -> list[Task]:
  """``benchmark`` in :data:`BENCHMARKS`; keyword arguments go to the builder."""
  builders = {"real": real_tasks, "synthetic": synthetic_tasks, "m3-tourism": m3_tourism_tasks,
              "validation": validation.tasks}
  if benchmark not in builders:
    raise ValueError(f"benchmark must be one of {sorted(builders)}, got {benchmark!r}")
  return builders[benchmark](**kwargs)
