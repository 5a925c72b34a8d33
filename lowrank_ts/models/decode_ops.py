"""The maths of one KV-cached decoder step with fused projections, as plain ``jax.numpy``.

Layout: decoder rows ``[..., L, D]`` (``[B, N, L, D]`` while sampling ``N`` paths per series);
the self-attention keys and values are cached as ``[..., H, T, K]`` each, so every head's
``[T, K]`` block is contiguous and both attention products are batched matrix-vector
products over the cache as it lies. A decode step's new row ``[..., 1, H, K]`` has the same
memory order as ``[..., H, 1, K]`` (moving an axis of length one moves no data), so it is
written in place along ``T`` (``dynamic_update_slice``) without a transpose. Scores are
unscaled with an fp32 softmax, as in T5 (:mod:`lowrank_ts.models.t5_ops`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp


def fuse_factors(factors: Sequence[jax.Array]) -> tuple[jax.Array, tuple[int, ...]]:
  """``(F [D, M_1 + ... + M_n], (M_1, ..., M_n))``: the input factors ``F_i [D, M_i]`` of
  several projections of one input side by side, so ``x @ F`` is one product for all."""
  if not factors:
    raise ValueError("factors must hold at least one [D, M] matrix")
  factors = [jnp.asarray(f) for f in factors]
  if any(f.ndim != 2 or f.shape[0] != factors[0].shape[0] for f in factors):
    raise ValueError(f"factors must be [D, M] matrices with one D, got "
                     f"{[tuple(f.shape) for f in factors]}")
  return jnp.concatenate(factors, axis=1), tuple(f.shape[1] for f in factors)


def split_fused(y: jax.Array, sizes: Sequence[int]) -> list[jax.Array]:
  """The per-projection parts ``[..., M_i]`` of ``y = x @ F`` (``F`` from :func:`fuse_factors`)."""
  if sum(sizes) != y.shape[-1]:
    raise ValueError(f"sizes {tuple(sizes)} must add up to the last axis of y {tuple(y.shape)}")
  ends = list(itertools.accumulate(sizes))
  return [y[..., start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def write_cache(cache_HTK: jax.Array, new_LHK: jax.Array, index) -> jax.Array:
  """The cache ``[..., H, T, K]`` with the keys (or values) ``[..., L, H, K]`` of ``L`` new
  positions written at ``index ... index + L - 1`` (in place inside a jitted loop)."""
  if cache_HTK.ndim < 3 or new_LHK.ndim != cache_HTK.ndim or (
      new_LHK.shape[-2] != cache_HTK.shape[-3] or new_LHK.shape[-1] != cache_HTK.shape[-1]):
    raise ValueError(f"new_LHK {tuple(new_LHK.shape)} must be [..., L, H, K] for the cache "
                     f"{tuple(cache_HTK.shape)} [..., H, T, K]")
  return jax.lax.dynamic_update_slice_in_dim(
      cache_HTK, jnp.swapaxes(new_LHK, -3, -2).astype(cache_HTK.dtype), index, cache_HTK.ndim - 2)


def cached_attention(q_LHK: jax.Array, keys_HTK: jax.Array, values_HTK: jax.Array,
                     bias_HLT) -> jax.Array:
  """``softmax(q k^T + bias) v`` per head over the cache: ``[..., L, H, K]``.

  ``q [..., L, H, K]``, keys and values ``[..., H, T, K]``, ``bias`` broadcasting against the
  scores ``[..., H, L, T]`` (relative positions and the causal mask, which hides the positions
  not written yet).
  """
  if q_LHK.ndim != keys_HTK.ndim or q_LHK.shape[-2] != keys_HTK.shape[-3] or (
      q_LHK.shape[-1] != keys_HTK.shape[-1]):
    raise ValueError(f"q_LHK {tuple(q_LHK.shape)} and keys_HTK {tuple(keys_HTK.shape)} must "
                     "agree on heads and head size")
  scores_HLT = jnp.einsum("...lhk,...htk->...hlt", q_LHK, keys_HTK)
  weights_HLT = jax.nn.softmax(scores_HLT.astype(jnp.float32) + bias_HLT, axis=-1)
  return jnp.einsum("...hlt,...htk->...lhk", weights_HLT.astype(values_HTK.dtype), values_HTK)


def step_bias(bias_HTT: jax.Array, index, length: int) -> jax.Array:
  """Query rows ``index ... index + length - 1`` ``[H, L, T]`` of the bias of every query
  position ``[H, T, T]`` (computed once per forecast)."""
  return jax.lax.dynamic_slice_in_dim(bias_HTT, index, length, axis=-2)
