"""Input embeddings of time-series transformers (§2): quantization (the Chronos tokenizer and a
lookup table), continuous embeddings (patching, the residual MLP of Theorem 2, the Time-MoE
embedding of Corollary 2) and the fixed rank-k Chebyshev embedding of appendix I.

Convention: the paper's -- tokens are columns, so an embedded series is ``[d, L]`` and a
patched series is ``[k, L]`` (leading batch dims allowed where stated). Model code that wants
``[batch, length, features]`` transposes at its own boundary.

Chronos tokenizer (:class:`MeanScaleUniformBins`, chronos-forecasting's): ``tokenize`` maps
series ``[B, T]`` (left-padded with NaN) to ``(token_ids [B, T(+1)], mask, scale [B])`` and
``detokenize(token_ids, scale)`` maps ids back to bin centres times the scale. With the
published settings: PAD = 0, EOS = 1, values 2..4095 (finite values land in 3..4095).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import checks, spectral

__all__ = [
  "MeanScaleUniformBins",
  "chebyshev_embedding",
  "chebyshev_features",
  "init_residual_mlp",
  "left_pad_and_stack",
  "patch_series",
  "quantized_embedding",
  "residual_mlp_embedding",
  "swish",
  "time_moe_embedding",
]


# ----------------------------------------------------------------------------------------------
# Quantization: the Chronos tokenizer
# ----------------------------------------------------------------------------------------------

@functools.cache
def _bins(low_limit: float, high_limit: float, n_centers: int) -> tuple[np.ndarray, np.ndarray]:
  low, high = np.float32(low_limit), np.float32(high_limit)
  step = (high - low) / np.float32(n_centers - 1)  # float32, as torch.linspace's step
  idx = np.arange(n_centers)
  # torch.linspace (float32, CPU) evaluates start + step*i (first half) and end - step*(n-1-i)
  # (second half) with a fused multiply-add: one rounding. In float64 the product and sum are
  # exact for Chronos' bins (24-bit step times a 12-bit index, magnitudes < 16), so one cast to
  # float32 reproduces torch's centres bit for bit.
  step64 = np.float64(step)
  centers = np.where(idx < n_centers // 2, np.float64(low) + step64 * idx,
                     np.float64(high) - step64 * (n_centers - 1 - idx)).astype(np.float32)
  mids = (centers[1:] + centers[:-1]) / np.float32(2)
  boundaries = np.concatenate([np.float32([-1e20]), mids, np.float32([1e20])])
  centers.setflags(write=False)
  boundaries.setflags(write=False)
  return centers, boundaries


@dataclasses.dataclass(frozen=True)
class MeanScaleUniformBins:
  """Chronos' tokenizer (chronos-forecasting's ``MeanScaleUniformBins``). The defaults are the
  published Chronos settings, and this is the only place they are written down.

  A series is divided by its mean absolute observed value, then binned into
  ``n_tokens - n_special_tokens - 1`` uniform bins whose centres span
  ``[low_limit, high_limit]``. Ids: ``pad_token_id`` for missing values, ``eos_token_id``
  appended when ``use_eos_token``; values land in ``n_special_tokens ... n_tokens - 1``
  (finite values from ``n_special_tokens + 1``; ``n_special_tokens`` only below the lowest
  edge, x/scale < -1e20).
  """
  low_limit: float = -15.0
  high_limit: float = 15.0
  n_tokens: int = 4096
  n_special_tokens: int = 2
  pad_token_id: int = 0
  eos_token_id: int = 1
  use_eos_token: bool = True

  def __post_init__(self):
    checks.positive_int(self.n_special_tokens, "n_special_tokens")
    checks.positive_int(self.n_tokens, "n_tokens")
    if self.n_tokens - self.n_special_tokens < 3:
      raise ValueError(f"n_tokens must be at least n_special_tokens + 3 (two bins), got "
                       f"n_tokens={self.n_tokens}, n_special_tokens={self.n_special_tokens}")
    for name in ("pad_token_id", "eos_token_id"):
      value = checks.positive_int(getattr(self, name), name, allow_zero=True)
      if value >= self.n_special_tokens:
        raise ValueError(f"{name} must be < n_special_tokens={self.n_special_tokens}, got "
                         f"{value}")
    for name in ("low_limit", "high_limit"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not self.low_limit < self.high_limit:
      raise ValueError(f"low_limit must be < high_limit, got {self.low_limit}, {self.high_limit}")
    if not isinstance(self.use_eos_token, (bool, np.bool_)):
      raise ValueError(f"use_eos_token must be a bool, got {self.use_eos_token!r}")

  @property
  def n_bins(self) -> int:
    return self.n_tokens - self.n_special_tokens - 1

  def bin_centers(self) -> np.ndarray:
    """The float32 bin centres ``linspace(low_limit, high_limit, n_bins)`` (read-only),
    bitwise torch's for Chronos' settings."""
    return _bins(float(self.low_limit), float(self.high_limit), self.n_bins)[0]

  def bin_boundaries(self) -> np.ndarray:
    """The float32 bin edges ``[-1e20, midpoints of the centres, 1e20]`` (read-only)."""
    return _bins(float(self.low_limit), float(self.high_limit), self.n_bins)[1]

  def tokenize(self, context: Any, *, scale: Any = None, append_eos: bool | None = None,
               context_length: int | None = None):
    """``(token_ids, mask, scale)`` of float series ``[..., T]`` (usually ``[B, T]``).

    Args:
      context: missing values NaN (left padding included); cast to float32, as Chronos does.
      scale: ``None`` to compute the context scale mean_{observed} |x| (not > 0 or NaN -> 1);
        or a given scale ``[...]`` -- the label path: Chronos tokenises the target with the
        context's scale (missing labels come out as PAD with mask False).
      append_eos: append EOS (mask True); ``None`` follows ``use_eos_token``.
      context_length: keep only the last ``context_length`` values; None keeps all.

    Returns:
      token_ids int32 ``[..., T']`` (T' = T, +1 with EOS): bucketize(x/scale, boundaries,
      right=True) + n_special_tokens clamped to the vocabulary, PAD where missing; mask bool
      ``[..., T']`` (False where missing); scale float32 ``[...]``.
    """
    x = checks.as_float_array(context, "context").astype(jnp.float32)
    checks.check_ndim(x, "context", min_ndim=1)
    checks.check_nonempty(x, "context")
    append_eos = self.use_eos_token if append_eos is None else append_eos
    if not isinstance(append_eos, (bool, np.bool_)):
      raise ValueError(f"append_eos must be a bool, got {append_eos!r}")
    if context_length is not None:
      context_length = checks.positive_int(context_length, "context_length")
      x = x[..., -context_length:]
    if scale is not None:
      scale = checks.as_float_array(scale, "scale").astype(jnp.float32)
      if scale.shape != x.shape[:-1]:
        raise ValueError(f"scale must have shape {tuple(x.shape[:-1])} (the context's leading "
                         f"dims), got {tuple(scale.shape)}")
    return _tokenize(x, scale, jnp.asarray(self.bin_boundaries()), self, bool(append_eos))

  def detokenize(self, token_ids: Any, scale: Any) -> jax.Array:
    """Ids back to values: ``centers[clip(id - n_special_tokens - 1)] * scale``.

    ``token_ids`` int ``[B, ...]`` (e.g. samples ``[B, S, H]``) and ``scale`` ``[B]`` (the
    leading dims of ``token_ids``; a scalar for a single series) broadcast over the rest.
    Special ids decode to the lowest centre times the scale, as in Chronos.
    """
    ids = _integer_array(token_ids, "token_ids")
    checks.check_ndim(ids, "token_ids", min_ndim=1)
    scale = checks.as_float_array(scale, "scale").astype(jnp.float32)
    if scale.ndim >= ids.ndim or ids.shape[:scale.ndim] != scale.shape:
      raise ValueError(f"scale must have the leading dims of token_ids {tuple(ids.shape)}, got "
                       f"shape {tuple(scale.shape)}")
    return _detokenize(ids, scale, jnp.asarray(self.bin_centers()), self.n_special_tokens)


def left_pad_and_stack(series: Sequence[Any]) -> np.ndarray:
  """Stacks 1-D series of different lengths into float32 ``[B, T_max]``, left-padded with NaN.

  The layout Chronos expects: the most recent value of every series is in the last column.
  """
  if isinstance(series, (str, bytes)) or not isinstance(series, Sequence) or not series:
    raise ValueError("series must be a non-empty sequence of 1-D arrays")
  rows = []
  for i, s in enumerate(series):
    arr = np.asarray(checks.as_float_array(s, f"series[{i}]"), dtype=np.float32)
    checks.check_ndim(arr, f"series[{i}]", ndim=1)
    checks.check_nonempty(arr, f"series[{i}]")
    rows.append(arr)
  length = max(r.shape[0] for r in rows)
  out = np.full((len(rows), length), np.nan, dtype=np.float32)
  for i, r in enumerate(rows):
    out[i, length - r.shape[0]:] = r
  return out


@functools.partial(jax.jit, static_argnames=("tokenizer", "append_eos"))
def _tokenize(x, scale, boundaries, tokenizer, append_eos):
  mask = ~jnp.isnan(x)
  if scale is None:
    # Mean |x| over observed values; NaN (all missing), zero (all zero) or negative -> 1.
    total = jnp.sum(jnp.where(mask, jnp.abs(x), 0.0), axis=-1)
    scale = total / jnp.sum(mask, axis=-1).astype(x.dtype)
    scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))
  # torch.bucketize(right=True) = number of boundaries <= value = searchsorted(side="right").
  ids = jnp.searchsorted(boundaries, x / scale[..., None], side="right").astype(jnp.int32)
  ids = jnp.clip(ids + tokenizer.n_special_tokens, 0, tokenizer.n_tokens - 1)
  ids = jnp.where(mask, ids, tokenizer.pad_token_id)
  if append_eos:
    eos = jnp.full(ids.shape[:-1] + (1,), tokenizer.eos_token_id, ids.dtype)
    ids = jnp.concatenate([ids, eos], axis=-1)
    mask = jnp.concatenate([mask, jnp.ones(mask.shape[:-1] + (1,), bool)], axis=-1)
  return ids, mask, scale


def _integer_array(x: Any, name: str) -> jax.Array:
  if isinstance(x, (str, bytes)) or x is None:
    raise ValueError(f"{name} must be an integer array, got {type(x).__name__}")
  arr = jnp.asarray(x)
  if not jnp.issubdtype(arr.dtype, jnp.integer):
    raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
  return arr


@functools.partial(jax.jit, static_argnames="n_special_tokens")
def _detokenize(ids, scale, centers, n_special_tokens):
  index = jnp.clip(ids - n_special_tokens - 1, 0, centers.shape[0] - 1)
  return centers[index] * scale.reshape(scale.shape + (1,) * (ids.ndim - scale.ndim))


def quantized_embedding(token_ids: Any, table_VxD: Any) -> jax.Array:
  """Quantization-based embedding (§2): token i -> row u_i of ``table_VxD``.

  ``token_ids`` int ``[..., L]`` -> ``[..., D, L]`` (the paper's convention: one embedded token
  per column). Ids must lie in [0, V) (checked when the ids are concrete).
  """
  ids = _integer_array(token_ids, "token_ids")
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


def chebyshev_vocabulary(tokenizer: MeanScaleUniformBins, k: int, d: int, key: Any,
                         x_max: float | None = None) -> jax.Array:
  """A fixed rank-k token table ``[n_tokens, d]`` for Chronos (appendix I, Fig. 4c): the row of
  a value token is the Chebyshev embedding (``chebyshev_embedding``, one shared draw of
  u_1..u_k) of its bin centre; the below-range token embeds ``low_limit``, EOS embeds
  ``x_max``, and the pad token is the zero row (masked). Every row lies in span(u_1..u_k).
  ``x_max`` defaults to the tokenizer's largest |limit| (15 for Chronos, the paper's value)."""
  if not isinstance(tokenizer, MeanScaleUniformBins):
    raise ValueError(f"tokenizer must be a MeanScaleUniformBins, got {type(tokenizer).__name__}")
  x_max = max(abs(tokenizer.low_limit), abs(tokenizer.high_limit)) if x_max is None else x_max
  values = np.zeros(tokenizer.n_tokens, np.float32)
  first = tokenizer.n_special_tokens + 1
  values[first:first + tokenizer.n_bins] = tokenizer.bin_centers()
  values[tokenizer.n_special_tokens] = tokenizer.low_limit
  values[tokenizer.eos_token_id] = x_max
  table = chebyshev_embedding(values, k, d, key, x_max=x_max).T
  return table.at[tokenizer.pad_token_id].set(0.0)
