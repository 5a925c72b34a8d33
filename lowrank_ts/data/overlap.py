"""The overlap guard: does a series share a stretch, up to a common scale factor, with a
reference series?

Each ``window``-long stretch of a series has a scale-free fingerprint: the stretch divided by
its first value, rounded to 4 significant digits (stretches starting at 0, or with fewer than
``window / 2`` distinct values, are skipped: flat runs match anything). A fingerprint is hashed
to 64 bits (splitmix64 over its 2 * ``window`` integers), so a reference of millions of
stretches (M4) is one sorted ``uint64`` array and a lookup is a binary search. A false match
needs a 64-bit collision: with 10^6 queried stretches against 3 * 10^7 reference ones its
chance is about 2 * 10^-6.
"""

from __future__ import annotations

import numpy as np

from lowrank_ts import checks

WINDOW = 12

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
  x = x ^ (x >> np.uint64(30))
  x = x * np.uint64(0xBF58476D1CE4E5B9)
  x = x ^ (x >> np.uint64(27))
  x = x * np.uint64(0x94D049BB133111EB)
  return x ^ (x >> np.uint64(31))


def _check_window(window: int) -> int:
  window = checks.positive_int(window, "window")
  if window < 2:
    raise ValueError(f"window must be >= 2 (a stretch, not one value), got {window}")
  return window


def fingerprint_keys(values: np.ndarray, window: int = WINDOW) -> np.ndarray:
  """``int64 [n, 2 * window]``: mantissas (4 significant digits) and decimal exponents of each
  kept stretch divided by its first value (the reference form the hashes stand for)."""
  values = np.asarray(values, np.float64)
  if values.ndim != 1 or values.shape[0] < window:
    return np.zeros((0, 2 * window), np.int64)
  stretches = np.lib.stride_tricks.sliding_window_view(values, window)
  distinct = (np.diff(np.sort(stretches, axis=1), axis=1) != 0).sum(axis=1) + 1
  stretches = stretches[(stretches[:, 0] != 0) & (distinct >= window // 2)
                        & np.isfinite(stretches).all(axis=1)]
  ratios = stretches / stretches[:, :1]
  exponent = np.floor(np.log10(np.where(ratios == 0, 1.0, np.abs(ratios))))
  mantissa = np.round(ratios / 10.0 ** (exponent - 3))
  return np.concatenate([mantissa, exponent], axis=1).astype(np.int64)


def window_hashes(values: np.ndarray, window: int = WINDOW) -> np.ndarray:
  """Sorted unique ``uint64`` hashes of the fingerprints of every stretch of ``values``."""
  keys = fingerprint_keys(values, _check_window(window)).view(np.uint64)
  hashes = np.zeros(keys.shape[0], np.uint64)
  with np.errstate(over="ignore"):
    for column in range(keys.shape[1]):
      hashes = _splitmix(hashes * _GOLDEN + keys[:, column])
  return np.unique(hashes)


def reference_hashes(series, window: int = WINDOW) -> np.ndarray:
  """Sorted unique hashes of every stretch of every series of ``series``."""
  window = _check_window(window)
  parts = [window_hashes(s, window) for s in series]
  return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)


def matches(hashes: np.ndarray, reference: np.ndarray) -> bool:
  """Whether any of ``hashes`` is in the sorted array ``reference``."""
  if hashes.size == 0 or reference.size == 0:
    return False
  at = np.minimum(np.searchsorted(reference, hashes), reference.size - 1)
  return bool((reference[at] == hashes).any())


def shared_windows(series, reference, window: int = WINDOW) -> list[int]:
  """Indices of ``series`` that share a ``window``-long stretch (up to scale, 4 significant
  digits) with any series of ``reference``."""
  window = _check_window(window)
  known = reference_hashes(reference, window)
  return [i for i, s in enumerate(series) if matches(window_hashes(s, window), known)]
