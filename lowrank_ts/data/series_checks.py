"""Argument validation for the numpy side of the data pipeline (series are numpy, not JAX).

Each helper raises ``ValueError`` naming the argument, like :mod:`lowrank_ts.checks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def float_array(x: Any, name: str, *, ndim: int | None = None, allow_nan: bool = True,
                dtype=np.float32) -> np.ndarray:
  """A real numeric array cast to ``dtype``; ``ndim`` enforced; no +-inf; NaN if allowed."""
  if isinstance(x, (str, bytes)) or x is None:
    raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}")
  try:
    arr = np.asarray(x)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{name} must be an array of numbers: {err}") from None
  if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
          or arr.dtype == np.bool_):
    raise ValueError(f"{name} must be real and numeric, got dtype {arr.dtype}")
  arr = arr.astype(dtype)
  if ndim is not None and arr.ndim != ndim:
    raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
  if any(s == 0 for s in arr.shape):
    raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
  if np.isinf(arr).any():
    raise ValueError(f"{name} must not contain infinite values")
  if not allow_nan and np.isnan(arr).any():
    raise ValueError(f"{name} must not contain NaN")
  return arr


def float_vector(x: Any, name: str, *, allow_nan: bool = True, dtype=np.float32) -> np.ndarray:
  """A non-empty 1-D real array (see :func:`float_array`)."""
  return float_array(x, name, ndim=1, allow_nan=allow_nan, dtype=dtype)


def probability(value: Any, name: str) -> float:
  """A Python float in [0, 1]."""
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
  value = float(value)
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"{name} must be in [0, 1], got {value!r}")
  return value


def generator(rng: Any, name: str = "rng") -> np.random.Generator:
  if not isinstance(rng, np.random.Generator):
    raise ValueError(f"{name} must be a numpy.random.Generator, got {type(rng).__name__}")
  return rng
