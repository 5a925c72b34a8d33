"""TSMixup (Chronos, Ansari et al. 2024, Algorithm 1): convex combinations of mean-scaled windows.

``k ~ U{1, max_series}`` source series, a length ``l ~ U{min_length, max_length}``, a random
window of length ``l`` from each (a series shorter than ``l`` is used whole, and all windows are
then cut to the shortest, keeping their ends aligned), each divided by its mean absolute value,
mixed with weights ``~ Dirichlet(alpha, ..., alpha)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowrank_ts import checks


def mean_scale(x: np.ndarray) -> np.ndarray:
  """``x / mean(|x|)`` over the observed (non-NaN) values; a scale that is not > 0 becomes 1."""
  return _mean_scale(checks.float_vector(x, "x", allow_nan=True))


def _mean_scale(x: np.ndarray) -> np.ndarray:
  observed = ~np.isnan(x)
  scale = np.abs(x[observed]).mean() if observed.any() else 0.0
  return x / scale if scale > 0 else x.copy()


def check_sources(sources: Sequence[np.ndarray], name: str = "sources") -> list[np.ndarray]:
  """A non-empty sequence of non-empty 1-D float series (NaN allowed), as float32 arrays."""
  if isinstance(sources, np.ndarray) and sources.ndim == 2:
    sources = list(sources)
  if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence) or not sources:
    raise ValueError(f"{name} must be a non-empty sequence of 1-D series")
  return [checks.float_vector(s, f"{name}[{i}]", allow_nan=True)
          for i, s in enumerate(sources)]


def check_weights(weights, num_sources: int, name: str = "weights") -> np.ndarray | None:
  """None (uniform) or non-negative probabilities over the sources, normalised to sum 1."""
  if weights is None:
    return None
  weights = checks.float_vector(weights, name, allow_nan=False, dtype=np.float64)
  if weights.shape != (num_sources,) or (weights < 0).any() or weights.sum() <= 0:
    raise ValueError(f"{name} must be {num_sources} non-negative numbers with a positive sum")
  return weights / weights.sum()


def tsmixup(sources: Sequence[np.ndarray], rng: np.random.Generator, *, max_series: int = 3,
            alpha: float = 1.5, min_length: int = 128, max_length: int = 2048,
            weights: Sequence[float] | None = None) -> np.ndarray:
  """One TSMixup series (float32, length <= ``l``) from the 1-D float series ``sources``.

  ``rng`` is a ``numpy.random.Generator``; the draw order is k, l, (source, window start) per
  component, then the Dirichlet weights, so a seeded generator gives a reproducible series.
  ``weights`` picks sources non-uniformly: Algorithm 1 draws a dataset uniformly, then a series
  of it, i.e. weight ``1 / (num_datasets * len(dataset))`` for each series.
  """
  sources = check_sources(sources)
  weights = check_weights(weights, len(sources))
  rng = checks.generator(rng)
  max_series = checks.positive_int(max_series, "max_series")
  alpha = checks.positive_float(alpha, "alpha")
  min_length = checks.positive_int(min_length, "min_length")
  max_length = checks.positive_int(max_length, "max_length")
  if max_length < min_length:
    raise ValueError(f"max_length={max_length} must be >= min_length={min_length}")
  return mix(sources, rng, max_series, alpha, min_length, max_length, weights)


def mix(sources: list[np.ndarray], rng: np.random.Generator, max_series: int, alpha: float,
        min_length: int, max_length: int, weights: np.ndarray | None = None) -> np.ndarray:
  """:func:`tsmixup` without argument checks, for callers that validated ``sources`` once."""
  k = int(rng.integers(1, max_series + 1))
  length = int(rng.integers(min_length, max_length + 1))
  windows = []
  for _ in range(k):
    pick = rng.integers(len(sources)) if weights is None else rng.choice(len(sources), p=weights)
    source = sources[int(pick)]
    start = int(rng.integers(0, source.shape[0] - length + 1)) if source.shape[0] > length else 0
    windows.append(source[start:start + length])
  weights = rng.dirichlet(np.full(k, alpha))
  common = min(w.shape[0] for w in windows)
  mixed = sum(lam * _mean_scale(w[w.shape[0] - common:]) for lam, w in zip(weights, windows))
  return mixed.astype(np.float32)
