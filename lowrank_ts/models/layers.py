"""The layers of the T5 that Chronos and Chronos-Bolt run on: norm, q/k/v/o projections (dense
or low-rank, eqs. 19-20), attention with a key/value cache, feed-forward.

Modules hold parameters and call the functions of :mod:`lowrank_ts.models.t5_ops`. Layout
``[..., length, features]`` (any leading axes: ``[B, L, D]`` in training, ``[B, N, 1, D]`` for
``N`` sample paths per series while decoding); heads split as ``[..., L, H, K]``. Kernels are
stored ``[in, out]`` (the transpose of a ``torch.nn.Linear`` weight). Dropout layers are created
deterministic (inference); train with ``nnx.view(model, deterministic=False)``.

Initialisation follows transformers' ``T5PreTrainedModel._init_weights`` with factor ``f``:
norms ``f``, q ``N(0, f (d_model d_kv)^-1/2)``, k, v ``N(0, f d_model^-1/2)``,
o ``N(0, f (H d_kv)^-1/2)``, wi ``N(0, f d_model^-1/2)``, wo ``N(0, f d_ff^-1/2)``. A factorised
projection gets factors whose product has the same entry variance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from lowrank_ts.models import t5_ops
from lowrank_ts.models.config import AttentionSpec, ProjectionSpec, T5Config


def normal_init(std: float):
  """Initializer ``(key, shape, dtype) -> N(0, std^2)`` entries. Drawn as a power-of-two-long
  vector and cut to size, so eager initialisation compiles one threefry program per size
  bucket instead of one per shape (seconds per model on CPU)."""
  def init(key, shape, dtype=jnp.float32):
    size = math.prod(shape)
    bucket = 1 << max(size - 1, 0).bit_length()
    return std * jax.random.normal(key, (bucket,), dtype)[:size].reshape(shape)
  return init


def normal_param(rngs: nnx.Rngs, shape, std: float, dtype) -> nnx.Param:
  return nnx.Param(normal_init(std)(rngs.params(), shape, dtype))


class RMSNorm(nnx.Module):
  """T5 layer norm holding its weight."""

  def __init__(self, dim: int, eps: float, init_value: float, *, dtype=jnp.float32):
    self.weight = nnx.Param(jnp.full((dim,), init_value, dtype))
    self.eps = eps

  def __call__(self, x_BLD: jax.Array) -> jax.Array:
    return t5_ops.rms_norm(x_BLD, self.weight[...], self.eps)


# -- projections: one class per parameterisation, the same interface ---------------------------
class Projection(nnx.Module):
  """One of q, k, v (``output=False``: ``[..., d_model] -> [..., H, K]``) or o
  (``output=True``: ``[..., H, K] -> [..., d_model]``). Subclasses store the matrix
  ``W [in, out]`` in their own form and apply it without forming it; ``kind`` names the
  parameterisation (a :data:`~lowrank_ts.models.config.PROJECTION_KINDS` entry)."""
  kind: str

  def __init__(self, d_model: int, n_heads: int, d_kv: int, output: bool):
    self.n_heads, self.d_kv, self.output = n_heads, d_kv, output
    inner = n_heads * d_kv
    self.d_in, self.d_out = (inner, d_model) if output else (d_model, inner)

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.output:
      return self.apply_matrix(x.reshape(*x.shape[:-2], self.n_heads * self.d_kv))
    y = self.apply_matrix(x)
    return y.reshape(*y.shape[:-1], self.n_heads, self.d_kv)

  def apply_matrix(self, x: jax.Array) -> jax.Array:
    """``x @ W`` over the last axis."""
    raise NotImplementedError

  def dense_kernel(self) -> jax.Array:
    """The equivalent dense ``[in, out]`` kernel (for export and post-hoc compression)."""
    raise NotImplementedError

  def input_factor(self) -> jax.Array:
    """The first factor ``[d_model, M]`` of an input projection (q, k, v): ``W = F G`` with
    ``F`` applied as one matrix, so the factors of several projections reading the same
    input can be concatenated into one product (:mod:`lowrank_ts.models.decode_ops`)."""
    raise NotImplementedError

  def from_factor(self, y: jax.Array) -> jax.Array:
    """``[..., H, K]`` from ``y = x @ input_factor()`` ``[..., M]``: the rest of the product."""
    raise NotImplementedError

  @property
  def factor_width(self) -> int:
    """``M``, the width of :meth:`input_factor` (read from the parameters' shapes)."""
    raise NotImplementedError

  @staticmethod
  def parameters(d_model: int, n_heads: int, d_kv: int, rank: int | None) -> int:
    """Parameters of this parameterisation (the same in both directions)."""
    raise NotImplementedError


class DenseProjection(Projection):
  """A full ``[in, out]`` matrix."""
  kind = "dense"

  def __init__(self, d_model, n_heads, d_kv, rank, std, *, output, rngs, dtype=jnp.float32):
    del rank
    super().__init__(d_model, n_heads, d_kv, output)
    self.kernel = normal_param(rngs, (self.d_in, self.d_out), std, dtype)

  def apply_matrix(self, x):
    return x @ self.kernel[...]

  def dense_kernel(self):
    return self.kernel[...]

  def input_factor(self):
    return self.kernel[...]

  @property
  def factor_width(self):
    return self.kernel.shape[1]

  def from_factor(self, y):
    return y.reshape(*y.shape[:-1], self.n_heads, self.d_kv)

  @staticmethod
  def parameters(d_model, n_heads, d_kv, rank):
    return d_model * n_heads * d_kv


def _factor_stds(fan_in: int, rank: int, std: float) -> tuple[float, float]:
  """Stds of (sketch, lift) so that sketch @ lift has entries of std ``std``."""
  return fan_in ** -0.5, std * math.sqrt(fan_in / rank)


class SharedSketchProjection(Projection):
  """Eq. (19): ``W = sketch @ lift`` with one rank-``rank`` sketch for all heads."""
  kind = "shared_sketch"

  def __init__(self, d_model, n_heads, d_kv, rank, std, *, output, rngs, dtype=jnp.float32):
    super().__init__(d_model, n_heads, d_kv, output)
    s_std, l_std = _factor_stds(self.d_in, rank, std)
    self.sketch = normal_param(rngs, (self.d_in, rank), s_std, dtype)
    self.lift = normal_param(rngs, (rank, self.d_out), l_std, dtype)

  def apply_matrix(self, x):
    return (x @ self.sketch[...]) @ self.lift[...]

  def dense_kernel(self):
    return self.sketch[...] @ self.lift[...]

  def input_factor(self):
    return self.sketch[...]

  @property
  def factor_width(self):
    return self.sketch.shape[1]

  def from_factor(self, y):
    y = y @ self.lift[...]
    return y.reshape(*y.shape[:-1], self.n_heads, self.d_kv)

  @staticmethod
  def parameters(d_model, n_heads, d_kv, rank):
    return rank * (d_model + n_heads * d_kv)


class HeadSketchProjection(Projection):
  """Eq. (20): one rank-``rank`` factorisation ``W^(i) = sketch^(i) @ lift^(i)`` per head
  (in: ``[H, d_model, R] x [H, R, K]``; out: ``[H, K, R] x [H, R, d_model]``)."""
  kind = "head_sketch"

  def __init__(self, d_model, n_heads, d_kv, rank, std, *, output, rngs, dtype=jnp.float32):
    super().__init__(d_model, n_heads, d_kv, output)
    fan_in, fan_out = (d_kv, d_model) if output else (d_model, d_kv)
    s_std, l_std = _factor_stds(fan_in, rank, std)
    self.sketch = normal_param(rngs, (n_heads, fan_in, rank), s_std, dtype)
    self.lift = normal_param(rngs, (n_heads, rank, fan_out), l_std, dtype)

  def __call__(self, x):
    if self.output:
      sketched = jnp.einsum("...hk,hkr->...hr", x, self.sketch[...])
      return jnp.einsum("...hr,hrd->...d", sketched, self.lift[...])
    sketched = jnp.einsum("...d,hdr->...hr", x, self.sketch[...])
    return jnp.einsum("...hr,hrk->...hk", sketched, self.lift[...])

  def input_factor(self):  # [H, d_model, R] as [d_model, H * R]
    sketch = self.sketch[...]
    return jnp.transpose(sketch, (1, 0, 2)).reshape(sketch.shape[1], -1)

  def from_factor(self, y):
    sketched = y.reshape(*y.shape[:-1], self.n_heads, -1)
    return jnp.einsum("...hr,hrk->...hk", sketched, self.lift[...])

  @property
  def factor_width(self):
    return self.sketch.shape[0] * self.sketch.shape[2]

  def dense_kernel(self):
    per_head = jnp.einsum("hir,hro->hio", self.sketch[...], self.lift[...])
    if self.output:  # heads are row blocks of W_O [H*K, d_model]
      return per_head.reshape(-1, per_head.shape[-1])
    return jnp.transpose(per_head, (1, 0, 2)).reshape(per_head.shape[1], -1)

  @staticmethod
  def parameters(d_model, n_heads, d_kv, rank):
    return n_heads * rank * (d_model + d_kv)


PROJECTIONS: dict[str, type[Projection]] = {
    cls.kind: cls for cls in (DenseProjection, SharedSketchProjection, HeadSketchProjection)}


def projection(d_model: int, n_heads: int, d_kv: int, spec: ProjectionSpec, std: float, *,
               output: bool, rngs: nnx.Rngs, dtype=jnp.float32) -> Projection:
  """The projection module ``spec`` describes."""
  return PROJECTIONS[spec.kind](d_model, n_heads, d_kv, spec.rank, std, output=output,
                                rngs=rngs, dtype=dtype)


# -- attention with a key/value cache ------------------------------------------------------------
class SelfAttentionCache(NamedTuple):
  """Keys and values of the positions decoded so far, ``[..., H, T, K]`` each (``T`` the
  maximum length; unwritten positions are hidden by the causal bias). The ``[T, K]`` block per
  head is contiguous, so a decode step's products are batched matrix-vector products."""
  keys: jax.Array
  values: jax.Array


class CrossAttentionCache(NamedTuple):
  """Encoder keys ``[B, H, K, S]`` and values ``[B, H, S, K]``, computed once per series and
  shared by every query row (all sample paths) of that series."""
  keys: jax.Array
  values: jax.Array


class Attention(nnx.Module):
  """T5 multi-head attention (self or cross): unscaled scores, fp32 softmax, a bias that holds
  the relative positions and the masks.

  ``__call__(x, kv, bias, cache=None, index=None) -> (cache, out)``:

  - no cache: full attention of ``x [..., L, D]`` over ``kv [..., S, D]`` (``x`` if None);
  - a :class:`SelfAttentionCache`: the keys / values of ``x``'s ``L`` positions are written at
    ``index`` and ``x`` attends over the whole cache (``bias [..., H, L, T]``);
  - a :class:`CrossAttentionCache`: ``x [B, ..., L, D]`` attends over the cached encoder keys
    (``kv`` unused; ``bias`` broadcasts against ``[B, ..., H, L, S]``).
  """

  def __init__(self, d_model: int, spec: AttentionSpec, factor: float, dropout_rate: float,
               *, rngs: nnx.Rngs, dtype=jnp.float32):
    h, k = spec.n_heads, spec.d_kv
    self.n_heads, self.d_kv = h, k
    stds = {"q": factor * (d_model * k) ** -0.5, "k": factor * d_model ** -0.5,
            "v": factor * d_model ** -0.5, "o": factor * (h * k) ** -0.5}
    for name in "qkvo":
      setattr(self, name, projection(d_model, h, k, getattr(spec, name), stds[name],
                                     output=name == "o", rngs=rngs, dtype=dtype))
    self.dropout = nnx.Dropout(dropout_rate, deterministic=True, rngs=rngs)

  def init_cache(self, batch_shape: tuple[int, ...], length: int,
                 dtype=jnp.float32) -> SelfAttentionCache:
    """An empty self-attention cache for ``length`` positions."""
    shape = (*batch_shape, self.n_heads, length, self.d_kv)
    return SelfAttentionCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))

  def cross_cache(self, encoder_BSD: jax.Array) -> CrossAttentionCache:
    """The encoder's keys and values, laid out for :class:`CrossAttentionCache`."""
    return CrossAttentionCache(jnp.transpose(self.k(encoder_BSD), (0, 2, 3, 1)),
                               jnp.transpose(self.v(encoder_BSD), (0, 2, 1, 3)))

  def __call__(self, x, kv=None, bias=0.0, cache=None, index=None):
    q = self.q(x)
    if cache is None:
      kv = x if kv is None else kv
      weights = t5_ops.attention_weights(q, self.k(kv), bias)
      return None, self.o(t5_ops.attend(self.dropout(weights), self.v(kv)))
    if isinstance(cache, CrossAttentionCache):
      return cache, self.o(_cross_attend(q, cache, bias))
    if index is None:
      raise ValueError("index (the position of x's first row) is required with a cache")
    cache = SelfAttentionCache(*(
        jax.lax.dynamic_update_slice_in_dim(stored, jnp.swapaxes(proj(x), -3, -2), index,
                                            stored.ndim - 2)
        for stored, proj in ((cache.keys, self.k), (cache.values, self.v))))
    scores = jnp.einsum("...lhk,...htk->...hlt", q, cache.keys)
    weights = t5_ops.softmax_fp32(scores, bias).astype(cache.values.dtype)
    return cache, self.o(jnp.einsum("...hlt,...htk->...lhk", weights, cache.values))


def _cross_attend(q, cache: CrossAttentionCache, bias) -> jax.Array:
  """``q [B, ..., L, H, K]`` over the cached encoder keys of its series: ``[B, ..., L, H, K]``.

  All query rows of a series (every sample path and position) are stacked per head, so each
  series-head is one ``[R, K] x [K, S]`` product and one ``[R, S] x [S, K]`` product with the
  scores kept ``[B, H, R, S]`` in between (the layout both products want; scores laid out
  ``[B, ..., H, L, S]`` cost a transpose of the whole score tensor before and after the
  softmax). A bias that varies along the query axes takes the general einsum path.
  """
  batch, heads, dim = q.shape[0], q.shape[-2], q.shape[-1]
  bias = jnp.asarray(bias)
  if bias.ndim == q.ndim and bias.shape[0] in (1, batch) and all(
      s == 1 for s in bias.shape[1:-1]):
    rows_BHRK = jnp.moveaxis(q.reshape(batch, -1, heads, dim), 2, 1)
    scores_BHRS = jnp.einsum("bhrk,bhks->bhrs", rows_BHRK, cache.keys)
    weights = t5_ops.softmax_fp32(scores_BHRS, bias.reshape(bias.shape[0], 1, 1, -1))
    out_BHRK = jnp.einsum("bhrs,bhsk->bhrk", weights.astype(cache.values.dtype), cache.values)
    return jnp.moveaxis(out_BHRK, 1, 2).reshape(q.shape)
  scores = jnp.einsum("b...lhk,bhks->b...hls", q, cache.keys)
  weights = t5_ops.softmax_fp32(scores, bias).astype(cache.values.dtype)
  return jnp.einsum("b...hls,bhsk->b...lhk", weights, cache.values)


class FeedForward(nnx.Module):
  """``wo(drop(act(wi x)))``, or gated ``wo(drop(act(wi_0 x) * wi_1 x))``; no biases."""

  def __init__(self, config: T5Config, *, rngs: nnx.Rngs, dtype=jnp.float32):
    f, d, d_ff = config.initializer_factor, config.d_model, config.d_ff
    self.gated = config.is_gated
    self.activation = config.activation
    if self.gated:
      self.wi_0 = normal_param(rngs, (d, d_ff), f * d ** -0.5, dtype)
      self.wi_1 = normal_param(rngs, (d, d_ff), f * d ** -0.5, dtype)
    else:
      self.wi = normal_param(rngs, (d, d_ff), f * d ** -0.5, dtype)
    self.wo = normal_param(rngs, (d_ff, d), f * d_ff ** -0.5, dtype)
    self.dropout = nnx.Dropout(config.dropout_rate, deterministic=True, rngs=rngs)

  def __call__(self, x_BLD: jax.Array) -> jax.Array:
    act = t5_ops.ACTIVATIONS[self.activation]
    if self.gated:
      hidden = act(x_BLD @ self.wi_0[...]) * (x_BLD @ self.wi_1[...])
    else:
      hidden = act(x_BLD @ self.wi[...])
    return self.dropout(hidden) @ self.wo[...]
