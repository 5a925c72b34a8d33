"""Argument validation for every public function of lowrank_ts (the one validation module).

Every public function checks its inputs *before* tracing, so malformed input raises a
``ValueError`` naming the argument instead of a silent wrong answer or an XLA traceback.

- Scalars (:func:`positive_int`, :func:`positive_float`, :func:`probability`, ...): plain
  Python, no JAX.
- Host arrays (:func:`float_array`, :func:`float_vector`, :func:`generator`): numpy, for the
  data pipeline and evaluation; values are checked (no inf, NaN only if allowed).
- JAX arrays (:func:`as_float_array`, :func:`integer_array`, :func:`matrix`,
  :func:`prng_key`): only static properties (shapes, dtypes) are checked, as values inside traced arrays are unknown. JAX is
  imported by these functions only, so the module imports without it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _check_numeric_dtype(dtype, name: str, issubdtype=np.issubdtype) -> bool:
  """Raises unless ``dtype`` is real and numeric; returns True when it is floating.
  (``jnp.issubdtype`` for JAX arrays: it knows bfloat16.)"""
  if issubdtype(dtype, np.complexfloating):
    raise ValueError(f"{name} must be real, got dtype {dtype}")
  if issubdtype(dtype, np.floating):
    return True
  if not (issubdtype(dtype, np.integer) or dtype == np.bool_):
    raise ValueError(f"{name} must be numeric, got dtype {dtype}")
  return False


def _reject_non_arrays(x: Any, name: str) -> None:
  if isinstance(x, (str, bytes)) or x is None:
    raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}")


def as_float_array(x: Any, name: str):
  """Converts ``x`` to a floating JAX array (keeps float64 when x64 is enabled; traced
  arrays pass through)."""
  import jax.numpy as jnp
  _reject_non_arrays(x, name)
  try:
    arr = jnp.asarray(x)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{name} must be an array of numbers: {err}") from None
  if not _check_numeric_dtype(arr.dtype, name, jnp.issubdtype):
    arr = arr.astype(jnp.result_type(float))
  return arr


def integer_array(x: Any, name: str):
  """``x`` as an integer JAX array (token ids); a ValueError naming ``name`` otherwise."""
  import jax.numpy as jnp
  if isinstance(x, (str, bytes)) or x is None:
    raise ValueError(f"{name} must be an integer array, got {type(x).__name__}")
  arr = jnp.asarray(x)
  if not jnp.issubdtype(arr.dtype, jnp.integer):
    raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
  return arr


def float_array(x: Any, name: str, *, ndim: int | None = None, allow_nan: bool = True,
                dtype=np.float32) -> np.ndarray:
  """A non-empty real numpy array cast to ``dtype``; ``ndim`` enforced; no +-inf; NaN only
  if ``allow_nan``. For host data (series, batches, forecasts), never traced."""
  _reject_non_arrays(x, name)
  try:
    arr = np.asarray(x)
  except (TypeError, ValueError) as err:
    raise ValueError(f"{name} must be an array of numbers: {err}") from None
  _check_numeric_dtype(arr.dtype, name)
  arr = arr.astype(dtype)
  if ndim is not None:
    check_ndim(arr, name, ndim=ndim)
  check_nonempty(arr, name)
  if np.isinf(arr).any():
    raise ValueError(f"{name} must not contain infinite values")
  if not allow_nan and np.isnan(arr).any():
    raise ValueError(f"{name} must not contain NaN")
  return arr


FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32


def float32_reason(value: float) -> str | None:
  """Why a data value cannot be read into float32, the models' precision (None if it can):
  infinite, beyond float32's range (finite in float64, e.g. 1e39), or nonzero below its
  normal range (it would flush to 0 or lose its digits). NaN is a missing value: None."""
  if math.isinf(value):
    return "infinite values cannot be forecast"
  if abs(value) > FLOAT32_MAX:
    return (f"finite, but beyond the range of float32, the models' precision (|x| <= "
            f"{FLOAT32_MAX:.8g}); rescale the series")
  if 0 < abs(value) < FLOAT32_TINY:
    return (f"nonzero, but below float32's normal range (|x| >= {FLOAT32_TINY:.8g}), where "
            "it would lose its digits; rescale the series")
  return None


def float_vector(x: Any, name: str, *, allow_nan: bool = True, dtype=np.float32) -> np.ndarray:
  """A non-empty 1-D real numpy array (see :func:`float_array`)."""
  return float_array(x, name, ndim=1, allow_nan=allow_nan, dtype=dtype)


def check_ndim(x, name: str, ndim: int | None = None, min_ndim: int | None = None):
  """Raises unless ``x`` has exactly ``ndim`` (or at least ``min_ndim``) dimensions."""
  if ndim is not None and x.ndim != ndim:
    raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
  if min_ndim is not None and x.ndim < min_ndim:
    raise ValueError(
        f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")


def check_nonempty(x, name: str):
  if any(s == 0 for s in x.shape):
    raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")


def matrix(x: Any, name: str, batched: bool = False):
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


def positive_int(value: Any, name: str, upper: int | None = None, allow_zero: bool = False,
                 why: str | None = None) -> int:
  """A Python int >= 1 (>= 0 with ``allow_zero``), <= ``upper`` when given (``why`` says why
  in the error)."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  value = int(value)
  low = 0 if allow_zero else 1
  if value < low:
    raise ValueError(f"{name} must be >= {low}, got {value}")
  if upper is not None and value > upper:
    reason = f" ({why})" if why else ""
    raise ValueError(f"{name} must be <= {upper}{reason}, got {value}")
  return value


MAX_SEED = 2 ** 63 - 1
MAX_STEPS = 2 ** 31 - 1


def seed(value: Any, name: str = "seed") -> int:
  """A PRNG seed: an int in 0 ... 2^63 - 1."""
  return positive_int(value, name, upper=MAX_SEED, allow_zero=True,
                      why="jax.random.key takes a signed 64-bit seed")


def steps(value: Any, name: str = "steps", allow_zero: bool = False) -> int:
  """A number of training steps: an int in 1 (0 with ``allow_zero``) ... 2^31 - 1."""
  return positive_int(value, name, upper=MAX_STEPS, allow_zero=allow_zero,
                      why="the compiled train step counts steps in int32")


def divides(num_heads: int, dim: int, heads_name: str, dim_name: str) -> int:
  """``num_heads`` must be a positive integer dividing ``dim``; returns dim // num_heads."""
  num_heads = positive_int(num_heads, heads_name)
  if dim % num_heads:
    raise ValueError(f"{heads_name}={num_heads} must divide {dim_name}={dim}")
  return dim // num_heads


def same_shape(a, b, a_name: str, b_name: str):
  if a.shape != b.shape:
    raise ValueError(
        f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and "
        f"{tuple(b.shape)}")


def finite_tensors(tensors: Any, name: str) -> None:
  """Raises naming the first tensor that holds NaN or inf: one such weight turns every output
  of a model into NaN. ``tensors``: a name -> array dict (checkpoint tensors) or any pytree
  (model parameters, named by their path, dot-separated)."""
  import jax
  import jax.numpy as jnp
  for path, value in jax.tree_util.tree_flatten_with_path(tensors)[0]:
    parts = (str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)
    key = ".".join(p for p in parts if p not in ("", "value"))  # nnx.Variable adds "value"
    if not jnp.issubdtype(jnp.result_type(value), jnp.inexact):
      continue
    values = np.asarray(value, np.float32)
    if not np.isfinite(values).all():
      raise ValueError(f"{name}: tensor {key!r} holds {int(np.isnan(values).sum())} NaN and "
                       f"{int(np.isinf(values).sum())} infinite values (of {values.size}); a "
                       "model with non-finite weights forecasts NaN")


def prng_key(key: Any, name: str = "key"):
  """A JAX PRNG key (typed or raw uint32[2])."""
  import jax
  import jax.numpy as jnp
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


def probability(value: Any, name: str) -> float:
  """A Python float in [0, 1]."""
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
  value = float(value)
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"{name} must be in [0, 1], got {value!r}")
  return value


def generator(rng: Any, name: str = "rng") -> np.random.Generator:
  """A ``numpy.random.Generator``."""
  if not isinstance(rng, np.random.Generator):
    raise ValueError(f"{name} must be a numpy.random.Generator, got {type(rng).__name__}")
  return rng


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
