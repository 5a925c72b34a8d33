"""Pure-functional attention in the paper's convention: tokens are columns, U in R^{d x L}.

- :func:`attention`: single-head attention of §3,
  W_V U softmax(U^T W_Q^T W_K U / sqrt(d)), the softmax taken over the first (key) index so
  every column of the attention matrix sums to 1.
- :func:`multi_head_attention`: eq. (18), head i uses the row block W^(i) in R^{d_h x d} of
  each projection and the scale 1/sqrt(d_h) (footnote 2).
- :func:`residual_attention_layer`: Z = U + Y / sqrt(D) of Theorem 4.

Every projection argument is either a dense matrix [rows, d] or one of the low-rank
parameterizations below, applied to U *without forming the rows x d matrix*:

- :class:`SharedSketch` — eq. (19): W = W_1 W_2 with one sketch W_2 in R^{r x d} shared by
  all heads (cost r(d + rows) per token instead of rows * d).
- :class:`HeadSketch` — eq. (20): W^(i) = W_1^(i) W_2^(i), a sketch per head.
- :class:`SparseHeadSketch` — the sparse head-dependent sketch of Theorem 6: the rows of each
  W_2^(i) are stored as (column index, value) lists.

:func:`to_dense` multiplies any parameterization out, for tests and analysis.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Union

import jax
import jax.numpy as jnp

from lowrank_ts import checks


class SharedSketch(NamedTuple):
  """Eq. (19): W = w1 @ w2; w1 [rows, r] stacks the W_1^(i), w2 [r, d] is shared."""
  w1: jax.Array
  w2: jax.Array


class HeadSketch(NamedTuple):
  """Eq. (20): W^(i) = w1[i] @ w2[i]; w1 [h, d_h, r], w2 [h, r, d]."""
  w1: jax.Array
  w2: jax.Array


class SparseHeadSketch(NamedTuple):
  """Theorem 6: W^(i) = w1[i] @ S^(i) with sparse S^(i) in R^{r x d}.

  Row t of S^(i) is sum_n values[i, t, n] e_{cols[i, t, n]}^T; padding entries carry value 0.
  w1 [h, d_h, r], cols [h, r, nnz] (int), values [h, r, nnz].
  """
  w1: jax.Array
  cols: jax.Array
  values: jax.Array


Projection = Union[jax.Array, SharedSketch, HeadSketch, SparseHeadSketch]


# ----------------------------------------------------------------------------- projections
def _check_projection(w: Any, name: str, d: int) -> tuple[Projection, int, int | None]:
  """Validates a projection for inputs of dimension d; returns (w, rows, heads or None)."""
  if isinstance(w, SharedSketch):
    w1 = checks.matrix(w.w1, f"{name}.w1")
    w2 = checks.matrix(w.w2, f"{name}.w2")
    if w1.shape[1] != w2.shape[0]:
      raise ValueError(f"{name}.w1 has {w1.shape[1]} columns but {name}.w2 has "
                       f"{w2.shape[0]} rows (the rank r must agree)")
    if w2.shape[1] != d:
      raise ValueError(f"{name}.w2 must have d={d} columns, got shape {tuple(w2.shape)}")
    return SharedSketch(w1, w2), w1.shape[0], None
  if isinstance(w, HeadSketch):
    w1 = checks.as_float_array(w.w1, f"{name}.w1")
    w2 = checks.as_float_array(w.w2, f"{name}.w2")
    checks.check_ndim(w1, f"{name}.w1", 3)
    checks.check_ndim(w2, f"{name}.w2", 3)
    checks.check_nonempty(w1, f"{name}.w1")
    if w2.shape[0] != w1.shape[0] or w2.shape[1] != w1.shape[2] or w2.shape[2] != d:
      raise ValueError(f"{name}.w2 must have shape (h, r, d)={(w1.shape[0], w1.shape[2], d)} "
                       f"to match {name}.w1 {tuple(w1.shape)}, got {tuple(w2.shape)}")
    return HeadSketch(w1, w2), w1.shape[0] * w1.shape[1], w1.shape[0]
  if isinstance(w, SparseHeadSketch):
    w1 = checks.as_float_array(w.w1, f"{name}.w1")
    values = checks.as_float_array(w.values, f"{name}.values")
    cols = jnp.asarray(w.cols)
    checks.check_ndim(w1, f"{name}.w1", 3)
    checks.check_nonempty(w1, f"{name}.w1")
    checks.check_ndim(values, f"{name}.values", 3)
    if not jnp.issubdtype(cols.dtype, jnp.integer):
      raise ValueError(f"{name}.cols must be integer, got dtype {cols.dtype}")
    if cols.shape != values.shape:
      raise ValueError(f"{name}.cols and {name}.values must have the same shape, got "
                       f"{tuple(cols.shape)} and {tuple(values.shape)}")
    if values.shape[:2] != (w1.shape[0], w1.shape[2]):
      raise ValueError(f"{name}.values must have shape (h, r, nnz) with (h, r)="
                       f"{(w1.shape[0], w1.shape[2])}, got {tuple(values.shape)}")
    if cols.size and (int(cols.min()) < 0 or int(cols.max()) >= d):
      raise ValueError(f"{name}.cols must lie in [0, {d}), got range "
                       f"[{int(cols.min())}, {int(cols.max())}]")
    return SparseHeadSketch(w1, cols, values), w1.shape[0] * w1.shape[1], w1.shape[0]
  w = checks.matrix(w, name)
  if w.shape[1] != d:
    raise ValueError(f"{name} must have d={d} columns (the input dimension), got shape "
                     f"{tuple(w.shape)}")
  return w, w.shape[0], None


def project(w: Projection, u_DxL: jax.Array) -> jax.Array:
  """W U for any parameterization, without forming W for the factored ones; [rows, L]."""
  if isinstance(w, SharedSketch):
    return w.w1 @ (w.w2 @ u_DxL)
  if isinstance(w, HeadSketch):
    sketch_HxRxL = jnp.einsum("hrd,dl->hrl", w.w2, u_DxL)
    return jnp.einsum("hmr,hrl->hml", w.w1, sketch_HxRxL).reshape(-1, u_DxL.shape[1])
  if isinstance(w, SparseHeadSketch):
    # Gather the rows of U each sketch row touches: cost h * r * nnz * L, never d x d.
    sketch_HxRxL = jnp.einsum("hrn,hrnl->hrl", w.values, u_DxL[w.cols])
    return jnp.einsum("hmr,hrl->hml", w.w1, sketch_HxRxL).reshape(-1, u_DxL.shape[1])
  return w @ u_DxL


def to_dense(w: Projection, d: int | None = None) -> jax.Array:
  """The dense [rows, d] matrix of a parameterization (``d`` needed only for sparse ones)."""
  if isinstance(w, SharedSketch):
    return w.w1 @ w.w2
  if isinstance(w, HeadSketch):
    return jnp.einsum("hmr,hrd->hmd", w.w1, w.w2).reshape(-1, w.w2.shape[-1])
  if isinstance(w, SparseHeadSketch):
    if d is None:
      raise ValueError("d is required to densify a SparseHeadSketch")
    values = jnp.asarray(w.values)
    h, r, _ = values.shape
    s_HxRxD = jnp.zeros((h, r, d), values.dtype)
    s_HxRxD = s_HxRxD.at[jnp.arange(h)[:, None, None], jnp.arange(r)[None, :, None],
                         jnp.asarray(w.cols)].add(values)
    return jnp.einsum("hmr,hrd->hmd", w.w1, s_HxRxD).reshape(-1, d)
  return jnp.asarray(w)


# ----------------------------------------------------------------------------- attention
def _softmax_columns(scores_HxLxL):
  # Softmax over the first token index: column j holds the weights of output token j.
  return jax.nn.softmax(scores_HxLxL, axis=-2)


@functools.partial(jax.jit, static_argnames=("num_heads", "scale"))
def _attention_weights(u_DxL, w_q, w_k, num_heads, scale):
  q_HxMxL = project(w_q, u_DxL).reshape(num_heads, -1, u_DxL.shape[1])
  k_HxMxL = project(w_k, u_DxL).reshape(num_heads, -1, u_DxL.shape[1])
  scores_HxLxL = jnp.einsum("hma,hmb->hab", q_HxMxL, k_HxMxL) * scale
  return _softmax_columns(scores_HxLxL)


@functools.partial(jax.jit, static_argnames=("num_heads", "scale"))
def _multi_head(u_DxL, w_q, w_k, w_v, num_heads, scale):
  g_HxLxL = _attention_weights(u_DxL, w_q, w_k, num_heads, scale)
  v_HxMxL = project(w_v, u_DxL).reshape(num_heads, -1, u_DxL.shape[1])
  return jnp.einsum("hma,hab->hmb", v_HxMxL, g_HxLxL).reshape(-1, u_DxL.shape[1])


def _validate(u, w_q, w_k, w_v, num_heads):
  u = checks.matrix(u, "u")
  d = u.shape[0]
  w_q, rows_q, heads_q = _check_projection(w_q, "w_q", d)
  w_k, rows_k, heads_k = _check_projection(w_k, "w_k", d)
  projections = [w_q, w_k]
  if rows_q != rows_k:
    raise ValueError(f"w_q and w_k must have the same number of rows, got {rows_q} and "
                     f"{rows_k}")
  head_dim = checks.divides(num_heads, rows_q, "num_heads", "rows of w_q")
  if w_v is not None:
    w_v, rows_v, heads_v = _check_projection(w_v, "w_v", d)
    checks.divides(num_heads, rows_v, "num_heads", "rows of w_v")
    projections.append(w_v)
  else:
    heads_v = None
  for name, heads in (("w_q", heads_q), ("w_k", heads_k), ("w_v", heads_v)):
    if heads is not None and heads != num_heads:
      raise ValueError(f"{name} is a per-head sketch with {heads} heads but num_heads="
                       f"{num_heads}")
  dtype = jnp.result_type(u.dtype, *jax.tree_util.tree_leaves(projections))
  if jnp.issubdtype(dtype, jnp.integer):  # only SparseHeadSketch.cols is integer
    dtype = u.dtype
  cast = lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
  u, *projections = jax.tree_util.tree_map(cast, [u, *projections])
  return u, projections, head_dim


def attention_weights(u: Any, w_q: Projection, w_k: Projection, num_heads: int = 1,
                      scale: float | None = None) -> jax.Array:
  """The attention matrices softmax(U^T W_Q^(i)^T W_K^(i) U / sqrt(d_h)), [h, L, L].

  Entry (a, b) of head i uses q_a^T k_b; every column sums to 1. ``scale`` defaults to
  1/sqrt(d_h) (eq. 18); with one head and square W this is the 1/sqrt(d) of §3.
  """
  u, (w_q, w_k), head_dim = _validate(u, w_q, w_k, None, num_heads)
  scale = head_dim ** -0.5 if scale is None else checks.positive_float(scale, "scale")
  return _attention_weights(u, w_q, w_k, num_heads, scale)


def multi_head_attention(u: Any, w_q: Projection, w_k: Projection, w_v: Projection,
                         num_heads: int, scale: float | None = None) -> jax.Array:
  """MH-Attention(U; W_Q, W_K, W_V, h) of eq. (18); U [d, L] -> [rows of W_V, L].

  Head i stacks W_V^(i) U softmax(U^T W_Q^(i)^T W_K^(i) U / sqrt(d_h)) with d_h the rows of
  W_Q^(i). ``num_heads`` must divide the rows of every projection.
  """
  u, (w_q, w_k, w_v), head_dim = _validate(u, w_q, w_k, w_v, num_heads)
  scale = head_dim ** -0.5 if scale is None else checks.positive_float(scale, "scale")
  return _multi_head(u, w_q, w_k, w_v, num_heads, scale)


def attention(u: Any, w_q: Projection, w_k: Projection, w_v: Projection) -> jax.Array:
  """Single-head attention of §3: W_V U softmax(U^T W_Q^T W_K U / sqrt(d)), U [d, L].

  The scale is 1/sqrt(d) with d = rows of U, as the paper writes it (for square W_Q this is
  also 1/sqrt(d_h) with one head).
  """
  u = checks.matrix(u, "u")
  return multi_head_attention(u, w_q, w_k, w_v, num_heads=1, scale=u.shape[0] ** -0.5)


def residual_attention_layer(u: Any, w_q: Projection, w_k: Projection, w_v: Projection,
                             num_heads: int, depth: int) -> jax.Array:
  """Z = U + MH-Attention(U; W_Q, W_K, W_V, h) / sqrt(D) of Theorem 4; D = ``depth`` >= 1."""
  depth = checks.positive_int(depth, "depth")
  y = multi_head_attention(u, w_q, w_k, w_v, num_heads)
  u = jnp.asarray(u, y.dtype)
  if y.shape != u.shape:
    raise ValueError(f"w_v must map back to d={u.shape[0]} rows for the residual, got "
                     f"{y.shape[0]}")
  return u + y / jnp.sqrt(jnp.asarray(depth, y.dtype))
