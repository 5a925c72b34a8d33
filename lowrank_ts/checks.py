"""Argument validation shared by the public functions of lowrank_ts.

Every public function checks its inputs *before* tracing, so malformed input raises a
``ValueError`` naming the argument instead of a silent wrong answer or an XLA traceback.
Only static properties (shapes, dtypes, Python scalars) are checked; values inside traced
arrays are not.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def as_float_array(x: Any, name: str) -> jax.Array:
  """Converts ``x`` to a floating JAX array (keeps float64 when x64 is enabled)."""
  if isinstance(x, (str, bytes)) or x is None:
    raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}")
  try:
    arr = jnp.asarray(x)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{name} must be an array of numbers: {err}") from None
  if jnp.issubdtype(arr.dtype, jnp.complexfloating):
    raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
  if not jnp.issubdtype(arr.dtype, jnp.floating):
    if not (jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == jnp.bool_):
      raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(jnp.result_type(float))
  return arr


def check_ndim(x: jax.Array, name: str, ndim: int | None = None, min_ndim: int | None = None):
  """Raises unless ``x`` has exactly ``ndim`` (or at least ``min_ndim``) dimensions."""
  if ndim is not None and x.ndim != ndim:
    raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
  if min_ndim is not None and x.ndim < min_ndim:
    raise ValueError(
        f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")


def check_nonempty(x: jax.Array, name: str):
  if any(s == 0 for s in x.shape):
    raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")


def matrix(x: Any, name: str, batched: bool = False) -> jax.Array:
  """A non-empty floating matrix (or a batch of matrices when ``batched``)."""
  arr = as_float_array(x, name)
  if batched:
    check_ndim(arr, name, min_ndim=2)
  else:
    check_ndim(arr, name, ndim=2)
  check_nonempty(arr, name)
  return arr


def positive_float(value: Any, name: str, upper: float | None = None) -> float:
  """A finite Python float > 0 (and <= ``upper`` when given)."""
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a positive number, got {value!r}")
  value = float(value)
  if not math.isfinite(value) or value <= 0:
    raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
  if upper is not None and value > upper:
    raise ValueError(f"{name} must be <= {upper}, got {value!r}")
  return value


def positive_int(value: Any, name: str, upper: int | None = None, allow_zero: bool = False) -> int:
  """A Python int >= 1 (>= 0 with ``allow_zero``), <= ``upper`` when given."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  value = int(value)
  low = 0 if allow_zero else 1
  if value < low:
    raise ValueError(f"{name} must be >= {low}, got {value}")
  if upper is not None and value > upper:
    raise ValueError(f"{name} must be <= {upper}, got {value}")
  return value


def divides(num_heads: int, dim: int, heads_name: str, dim_name: str) -> int:
  """``num_heads`` must be a positive integer dividing ``dim``; returns dim // num_heads."""
  num_heads = positive_int(num_heads, heads_name)
  if dim % num_heads:
    raise ValueError(f"{heads_name}={num_heads} must divide {dim_name}={dim}")
  return dim // num_heads


def same_shape(a: jax.Array, b: jax.Array, a_name: str, b_name: str):
  if a.shape != b.shape:
    raise ValueError(
        f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and "
        f"{tuple(b.shape)}")


def prng_key(key: Any, name: str = "key") -> jax.Array:
  """A JAX PRNG key (typed or raw uint32[2])."""
  try:
    arr = jnp.asarray(key)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be a JAX PRNG key, got {type(key).__name__}") from None
  if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
    return arr
  if arr.dtype == jnp.uint32 and arr.shape == (2,):
    return arr
  raise ValueError(
      f"{name} must be a JAX PRNG key (jax.random.key(seed)), got dtype {arr.dtype} "
      f"shape {tuple(arr.shape)}")


def spectrum(s: Any, name: str = "sigma") -> np.ndarray:
  """Singular values 1 >= s_1 >= ... >= s_d > 0, as the theorems assume; float64 numpy.

  Read from the input itself (not through ``jnp.asarray``, which rounds float64 to float32
  outside ``jax.enable_x64``).
  """
  arr = as_float_array(s, name)  # type / dtype checks
  check_ndim(arr, name, ndim=1)
  check_nonempty(arr, name)
  values = np.asarray(s, dtype=np.float64)
  if not np.all(np.isfinite(values)) or values.min() <= 0 or values.max() > 1:
    raise ValueError(f"{name} must lie in (0, 1], got range [{values.min()}, {values.max()}]")
  if np.any(np.diff(values) > 0):
    raise ValueError(f"{name} must be non-increasing (sigma_1 >= ... >= sigma_d)")
  return values
