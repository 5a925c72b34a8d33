"""A residual transformer block as pure functions, in the paper's convention (tokens are columns,
X in R^{d x L}): the layout of a T5 encoder layer, for the flow-of-ranks-through-depth
experiment (section 4).

One block (pre-norm, no biases, ReLU MLP, as T5 v1.0 / Chronos):

    H   = X + c W_O MH-Attention(RMSNorm(X; g_attn); W_Q, W_K, W_V, h)     (eq. (18))
    out = H + c W_out ReLU(W_in RMSNorm(H; g_mlp))

with RMSNorm(X; g) = g * X / sqrt(mean over features of X^2 + eps), taken per token (column).
The residual scale c is 1 in T5; c = 1/sqrt(D) is Theorem 4's Z = U + Y/sqrt(D) (the De & Smith
scaling the paper cites). Differences from T5, on purpose: the attention scores carry eq. (18)'s 1/sqrt(d_h) (T5 folds it
into the init of W_Q), d_h = d / h, and there is no relative position bias.

:func:`init_encoder_stack` draws T5's initialisation (HF ``T5PreTrainedModel._init_weights``
with factor 1, the 1/sqrt(d_h) moved out of W_Q): every weight N(0, 1/fan_in), norm gains 1.
:func:`encoder_stack` returns the residual stream entering each layer (and leaving the last).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lowrank_ts import attention, checks

__all__ = ["BlockParams", "rms_norm", "encoder_block", "encoder_stack", "init_encoder_stack"]


class BlockParams(NamedTuple):
  """One block's weights (a stack of blocks carries a leading depth axis on every field)."""
  attn_norm_D: jax.Array
  w_q_DxD: jax.Array
  w_k_DxD: jax.Array
  w_v_DxD: jax.Array
  w_o_DxD: jax.Array
  mlp_norm_D: jax.Array
  w_in_FxD: jax.Array
  w_out_DxF: jax.Array


def _rms_norm(x_DxL, scale_D, eps):
  variance_L = jnp.mean(jnp.square(x_DxL), axis=0, keepdims=True)
  return scale_D[:, None] * x_DxL * jax.lax.rsqrt(variance_L + eps)


def rms_norm(x_DxL: Any, scale_D: Any, eps: float = 1e-6) -> jax.Array:
  """T5's RMS norm per token (column): scale * x / sqrt(mean_d x^2 + eps); [d, L] -> [d, L].

  Statistics in the input's dtype (float64 stays float64; T5 computes them in float32).
  """
  x = checks.matrix(x_DxL, "x_DxL")
  scale = checks.as_float_array(scale_D, "scale_D")
  if scale.shape != (x.shape[0],):
    raise ValueError(f"scale_D must have shape ({x.shape[0]},), got {tuple(scale.shape)}")
  eps = checks.positive_float(eps, "eps")
  dtype = jnp.result_type(x.dtype, scale.dtype)
  return _rms_norm(x.astype(dtype), scale.astype(dtype), eps)


def _block(p: BlockParams, x_DxL, num_heads, eps, residual_scale):
  normed = _rms_norm(x_DxL, p.attn_norm_D, eps)
  heads = attention.multi_head_attention(normed, p.w_q_DxD, p.w_k_DxD, p.w_v_DxD, num_heads)
  h_DxL = x_DxL + residual_scale * (p.w_o_DxD @ heads)
  hidden_FxL = jax.nn.relu(p.w_in_FxD @ _rms_norm(h_DxL, p.mlp_norm_D, eps))
  return h_DxL + residual_scale * (p.w_out_DxF @ hidden_FxL)


def _check_params(params: Any, d: int, stacked: bool) -> BlockParams:
  if not isinstance(params, BlockParams):
    raise ValueError(f"params must be a BlockParams, got {type(params).__name__}")
  norm_shape = jnp.shape(params.attn_norm_D)
  if stacked and len(norm_shape) != 2:
    raise ValueError("params.attn_norm_D must be [depth, d] for a stack, got shape "
                     f"{norm_shape}")
  lead = norm_shape[:1] if stacked else ()
  w_in_shape = jnp.shape(params.w_in_FxD)
  d_ff = w_in_shape[-2] if len(w_in_shape) >= 2 else -1
  expected = {"attn_norm_D": (d,), "w_q_DxD": (d, d), "w_k_DxD": (d, d), "w_v_DxD": (d, d),
              "w_o_DxD": (d, d), "mlp_norm_D": (d,), "w_in_FxD": (d_ff, d),
              "w_out_DxF": (d, d_ff)}
  fields = {}
  for name, shape in expected.items():
    value = checks.as_float_array(getattr(params, name), f"params.{name}")
    if value.shape != lead + shape:
      raise ValueError(f"params.{name} must have shape {lead + shape} for d={d}, got "
                       f"{tuple(value.shape)}")
    fields[name] = value
  return BlockParams(**fields)


def encoder_block(params: BlockParams, x_DxL: Any, num_heads: int, eps: float = 1e-6,
                  residual_scale: float = 1.0) -> jax.Array:
  """One pre-norm residual block (attention + ReLU MLP, T5 encoder layout); [d, L] -> [d, L].

  ``residual_scale`` multiplies both branches (1 in T5, 1/sqrt(D) in Theorem 4).
  """
  return _jit_block(*_validated(params, x_DxL, num_heads, eps, residual_scale, stacked=False))


# residual_scale stays traced: changing it does not recompile.
_jit_block = jax.jit(_block, static_argnums=(2, 3))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _stack(params, x_DxL, num_heads, eps, residual_scale):
  def step(x, p):
    return _block(p, x, num_heads, eps, residual_scale), x
  last, inputs = jax.lax.scan(step, x_DxL, params)
  return jnp.concatenate([inputs, last[None]], axis=0)


def encoder_stack(params: BlockParams, x_DxL: Any, num_heads: int, eps: float = 1e-6,
                  residual_scale: float = 1.0) -> jax.Array:
  """Runs D stacked blocks (``params`` fields carry a leading axis D); returns [D + 1, d, L]:
  entry l is the input to layer l + 1 (entry 0 is x itself), entry D the last output.
  ``residual_scale`` as in :func:`encoder_block`."""
  return _stack(*_validated(params, x_DxL, num_heads, eps, residual_scale, stacked=True))


def _validated(params, x_DxL, num_heads, eps, residual_scale, stacked):
  """Checks the arguments of encoder_block / encoder_stack; casts all to one dtype."""
  x = checks.matrix(x_DxL, "x_DxL")
  p = _check_params(params, x.shape[0], stacked=stacked)
  checks.divides(num_heads, x.shape[0], "num_heads", "d (rows of x_DxL)")
  eps = checks.positive_float(eps, "eps")
  residual_scale = checks.positive_float(residual_scale, "residual_scale")
  dtype = jnp.result_type(x.dtype, *p)
  return (jax.tree_util.tree_map(lambda a: a.astype(dtype), p), x.astype(dtype), num_heads,
          eps, jnp.asarray(residual_scale, dtype))


def init_encoder_stack(key: Any, depth: int, d: int, d_ff: int, dtype=jnp.float32) -> BlockParams:
  """T5-style random weights for ``depth`` blocks: N(0, 1/fan_in) matrices, unit norm gains.

  Fields carry a leading axis ``depth``; index it (``tree_map(lambda a: a[l], params)``) for
  one block.
  """
  key = checks.prng_key(key)
  depth = checks.positive_int(depth, "depth")
  d = checks.positive_int(d, "d")
  d_ff = checks.positive_int(d_ff, "d_ff")
  return _init(key, depth, d, d_ff, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _init(key, depth, d, d_ff, dtype):
  # One jitted draw: a random.normal per field compiles a kernel per shape (seconds each).
  shapes = {"w_q_DxD": (d, d, d), "w_k_DxD": (d, d, d), "w_v_DxD": (d, d, d),
            "w_o_DxD": (d, d, d), "w_in_FxD": (d_ff, d, d), "w_out_DxF": (d, d_ff, d_ff)}
  keys = jax.random.split(key, len(shapes))
  fields = {name: jax.random.normal(k, (depth, rows, cols), dtype) * jnp.asarray(fan_in ** -0.5,
                                                                                dtype)
            for k, (name, (rows, cols, fan_in)) in zip(keys, shapes.items())}
  ones = jnp.ones((depth, d), dtype)
  return BlockParams(attn_norm_D=ones, mlp_norm_D=ones, **fields)
