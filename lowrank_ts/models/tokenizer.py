"""The Chronos tokenizer (chronos-forecasting's ``MeanScaleUniformBins``): mean scaling, then
uniform bins (the quantization-based input of §2).

``tokenize`` maps series ``[B, T]`` (left-padded with NaN) to ``(token_ids [B, T(+1)], mask,
scale [B])`` and ``detokenize(token_ids, scale)`` maps ids back to bin centres times the scale.
With the published settings: PAD = 0, EOS = 1, values 2..4095 (finite values land in 3..4095).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import checks
from lowrank_ts.models import scaling


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

  def tokenize_window(self, window_BT: np.ndarray):
    """:meth:`tokenize` of a float32 ``[B, T]`` window that its caller has already checked (a
    forecast validates its contexts once, at its entry): the same ``(token_ids, mask, scale)``,
    its own scale, EOS as ``use_eos_token`` says."""
    return _tokenize(jnp.asarray(window_BT, jnp.float32), None,
                     jnp.asarray(self.bin_boundaries()), self, bool(self.use_eos_token))

  def detokenize(self, token_ids: Any, scale: Any) -> jax.Array:
    """Ids back to values: ``centers[clip(id - n_special_tokens - 1)] * scale``.

    ``token_ids`` int ``[B, ...]`` (e.g. samples ``[B, S, H]``) and ``scale`` ``[B]`` (the
    leading dims of ``token_ids``; a scalar for a single series) broadcast over the rest.
    Special ids decode to the lowest centre times the scale, as in Chronos.
    """
    ids = checks.integer_array(token_ids, "token_ids")
    checks.check_ndim(ids, "token_ids", min_ndim=1)
    scale = checks.as_float_array(scale, "scale").astype(jnp.float32)
    if scale.ndim >= ids.ndim or ids.shape[:scale.ndim] != scale.shape:
      raise ValueError(f"scale must have the leading dims of token_ids {tuple(ids.shape)}, got "
                       f"shape {tuple(scale.shape)}")
    return _detokenize(ids, scale, jnp.asarray(self.bin_centers()), self.n_special_tokens)


@functools.partial(jax.jit, static_argnames=("tokenizer", "append_eos"))
def _tokenize(x, scale, boundaries, tokenizer, append_eos):
  mask = ~jnp.isnan(x)
  if scale is None:
    scale = scaling.mean_abs_scale(x)  # all missing or all zero -> 1
  # torch.bucketize(right=True) = number of boundaries <= value = searchsorted(side="right").
  ids = jnp.searchsorted(boundaries, x / scale[..., None], side="right").astype(jnp.int32)
  ids = jnp.clip(ids + tokenizer.n_special_tokens, 0, tokenizer.n_tokens - 1)
  ids = jnp.where(mask, ids, tokenizer.pad_token_id)
  if append_eos:
    eos = jnp.full(ids.shape[:-1] + (1,), tokenizer.eos_token_id, ids.dtype)
    ids = jnp.concatenate([ids, eos], axis=-1)
    mask = jnp.concatenate([mask, jnp.ones(mask.shape[:-1] + (1,), bool)], axis=-1)
  return ids, mask, scale


@functools.partial(jax.jit, static_argnames="n_special_tokens")
def _detokenize(ids, scale, centers, n_special_tokens):
  index = jnp.clip(ids - n_special_tokens - 1, 0, centers.shape[0] - 1)
  return centers[index] * scale.reshape(scale.shape + (1,) * (ids.ndim - scale.ndim))
