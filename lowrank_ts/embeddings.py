"""Input embeddings of time-series transformers as functions (§2): quantization (a lookup
table), continuous embeddings (patching, the residual MLP of Theorem 2, the Time-MoE embedding
of Corollary 2) and the fixed rank-k Chebyshev embedding of appendix I.

Convention: the paper's -- tokens are columns, so an embedded series is ``[d, L]`` and a
patched series is ``[k, L]`` (leading batch dims allowed where stated). The Chronos tokenizer
that produces token ids is :mod:`lowrank_ts.models.tokenizer`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import checks, spectral

__all__ = [
  "chebyshev_embedding",
  "chebyshev_features",
  "init_residual_mlp",
  "patch_series",
  "quantized_embedding",
  "residual_mlp_embedding",
  "swish",
  "time_moe_embedding",
]


# ----------------------------------------------------------------------------------------------
# Quantization
# ----------------------------------------------------------------------------------------------

def quantized_embedding(token_ids: Any, table_VxD: Any) -> jax.Array:
  """Quantization-based embedding (§2): token i -> row u_i of ``table_VxD``.

  ``token_ids`` int ``[..., L]`` -> ``[..., D, L]`` (the paper's convention: one embedded token
  per column). Ids must lie in [0, V) (checked when the ids are concrete).
  """
  ids = checks.integer_array(token_ids, "token_ids")
  checks.check_ndim(ids, "token_ids", min_ndim=1)
  checks.check_nonempty(ids, "token_ids")
  table = checks.matrix(table_VxD, "table_VxD")
  if not isinstance(ids, jax.core.Tracer):
    low, high = int(jnp.min(ids)), int(jnp.max(ids))
    if low < 0 or high >= table.shape[0]:
      raise ValueError(f"token_ids must lie in [0, {table.shape[0]}) (rows of table_VxD), got "
                       f"range [{low}, {high}]")
  return jnp.swapaxes(table[ids], -1, -2)


# ----------------------------------------------------------------------------------------------
# Continuous embeddings
# ----------------------------------------------------------------------------------------------

def patch_series(series: Any, k: int) -> jax.Array:
  """Disjoint k-patches of ``series`` ``[..., T]`` as columns: ``[..., k, L]``, L = T / k (§2).

  Column l is (x_{lk+1}, ..., x_{(l+1)k}); T must be a multiple of k (the paper's assumption).
  """
  x = checks.as_float_array(series, "series")
  checks.check_ndim(x, "series", min_ndim=1)
  checks.check_nonempty(x, "series")
  k = checks.positive_int(k, "k")
  if x.shape[-1] % k:
    raise ValueError(f"k={k} must divide the series length T={x.shape[-1]}")
  patches_LxK = x.reshape(x.shape[:-1] + (x.shape[-1] // k, k))
  return jnp.swapaxes(patches_LxK, -1, -2)


def init_residual_mlp(key: Any, k: int, d_f: int, d: int, dtype=jnp.float32):
  """Random weights ``(w1 [d_f, k], w2 [d, d_f], w3 [d, k])`` of Theorem 2's residual MLP.

  Entries N(0, 1/fan_in) (LeCun normal), no biases (Theorem 2 has none).
  """
  key = checks.prng_key(key)
  k = checks.positive_int(k, "k")
  d_f = checks.positive_int(d_f, "d_f")
  d = checks.positive_int(d, "d")
  return _init_residual_mlp(key, k, d_f, d, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _init_residual_mlp(key, k, d_f, d, dtype):
  k1, k2, k3 = jax.random.split(key, 3)
  w1 = jax.random.normal(k1, (d_f, k), dtype) / np.sqrt(k)
  w2 = jax.random.normal(k2, (d, d_f), dtype) / np.sqrt(d_f)
  w3 = jax.random.normal(k3, (d, k), dtype) / np.sqrt(k)
  return w1, w2, w3


@functools.partial(jax.jit, static_argnames="activation")
def _residual_mlp(x, w1, w2, w3, activation):
  hidden = activation(jnp.einsum("fk,...kl->...fl", w1, x))
  return jnp.einsum("dk,...kl->...dl", w3, x) + jnp.einsum("df,...fl->...dl", w2, hidden)


def residual_mlp_embedding(x_KxL: Any, w1_FxK: Any, w2_DxF: Any, w3_DxK: Any,
                           activation: Callable = jax.nn.relu) -> jax.Array:
  """Theorem 2's residual MLP Phi(X) = W3 X + W2 omega(W1 X): ``[..., k, L]`` -> ``[..., d, L]``.

  Theorem 2's bound needs |omega(x)| <= |x| (relu, tanh, gelu, silu satisfy it).
  """
  x = checks.matrix(x_KxL, "x_KxL", batched=True)
  w1 = checks.matrix(w1_FxK, "w1_FxK")
  w2 = checks.matrix(w2_DxF, "w2_DxF")
  w3 = checks.matrix(w3_DxK, "w3_DxK")
  k = x.shape[-2]
  if w1.shape[1] != k:
    raise ValueError(f"w1_FxK must have {k} columns (rows of x_KxL), got {tuple(w1.shape)}")
  if w2.shape[1] != w1.shape[0]:
    raise ValueError(f"w2_DxF must have {w1.shape[0]} columns (rows of w1_FxK), got "
                     f"{tuple(w2.shape)}")
  if w3.shape != (w2.shape[0], k):
    raise ValueError(f"w3_DxK must have shape {(w2.shape[0], k)}, got {tuple(w3.shape)}")
  if not callable(activation):
    raise ValueError(f"activation must be callable, got {activation!r}")
  dtype = jnp.result_type(x.dtype, w1.dtype, w2.dtype, w3.dtype)
  return _residual_mlp(x.astype(dtype), w1.astype(dtype), w2.astype(dtype), w3.astype(dtype),
                       activation)


def swish(z: Any, beta: float = 1.0) -> jax.Array:
  """swish_beta(z) = z / (1 + exp(-beta z)); also valid for complex z (off its poles)."""
  beta = checks.positive_float(beta, "beta")
  z = jnp.asarray(z)
  return z / (1 + jnp.exp(-beta * z))


def time_moe_embedding(x_L: Any, w_D: Any, v_D: Any, beta: float = 1.0) -> jax.Array:
  """Time-MoE's embedding (Corollary 2): Psi[i, l] = swish_beta(w_i x_l) * (v_i x_l), ``[d, L]``.

  Note the exponent is -beta w_i x (the paper's closed form drops w_i; see
  ``theory.corollary2_bound``). Time-MoE itself uses beta = 1 (SiLU).
  """
  x = checks.as_float_array(x_L, "x_L")
  checks.check_ndim(x, "x_L", ndim=1)
  checks.check_nonempty(x, "x_L")
  w = checks.as_float_array(w_D, "w_D")
  v = checks.as_float_array(v_D, "v_D")
  checks.check_ndim(w, "w_D", ndim=1)
  checks.check_nonempty(w, "w_D")
  checks.same_shape(w, v, "w_D", "v_D")
  return swish(w[:, None] * x[None, :], beta) * (v[:, None] * x[None, :])


@functools.partial(jax.jit, static_argnames="k")
def _chebyshev_rows(t, k):
  rows = [t]  # T_1
  prev = jnp.ones_like(t)  # T_0
  for _ in range(k - 1):
    prev, rows = rows[-1], rows + [2 * t * rows[-1] - prev]
  return jnp.stack(rows)


def chebyshev_features(x_L: Any, k: int, x_max: float = 15.0) -> jax.Array:  # Chronos' bin range
  """Rows f_j(x) = T_j(x / x_max) for j = 1..k (appendix I): ``[k, L]``.

  The paper's f_j starts at j = 1 (T_1(x) = x, so the rank-1 case is Phi_1(x) = (x/x_max) u,
  its motivating example); the constant T_0 is not used. Three-term recurrence, stable on
  |x| <= x_max.
  """
  x = checks.as_float_array(x_L, "x_L")
  checks.check_ndim(x, "x_L", ndim=1)
  checks.check_nonempty(x, "x_L")
  k = checks.positive_int(k, "k")
  x_max = checks.positive_float(x_max, "x_max")
  return _chebyshev_rows(x / x_max, k)


def chebyshev_embedding(x_L: Any, k: int, d: int, key: Any,
                        x_max: float = 15.0) -> jax.Array:  # Chronos' bin range
  """Rank-k fixed embedding of appendix I: X = sum_j u_j f_j, ``[d, L]``, rank exactly k.

  u_1..u_k are orthonormal random columns (Haar), f_j = T_j(x / x_max) (``chebyshev_features``).
  """
  k = checks.positive_int(k, "k")
  d = checks.positive_int(d, "d")
  if k > d:
    raise ValueError(f"k={k} must be <= d={d}")
  x = checks.as_float_array(x_L, "x_L")
  checks.check_ndim(x, "x_L", ndim=1)
  checks.check_nonempty(x, "x_L")
  x_max = checks.positive_float(x_max, "x_max")
  return _chebyshev_embedding(x, x_max, checks.prng_key(key), k, d)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _chebyshev_embedding(x, x_max, key, k, d):
  # U diag(1) V^T with Haar U [d, k], V [k, k] has Haar-distributed orthonormal columns.
  u_DxK = spectral.matrix_with_spectrum(key, jnp.ones(k, x.dtype), d, k)
  return u_DxK @ _chebyshev_rows(x / x_max, k)
