"""Per-compilation XLA options: the tuned jit computes what plain jit computes."""

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import xla


def test_compiler_options_only_for_cpu():
  assert xla.compiler_options("gpu") == {}
  assert xla.compiler_options("tpu") == {}
  cpu = xla.compiler_options("cpu")
  assert cpu in ({}, xla.CPU_COMPILER_OPTIONS)  # {} only on a jaxlib without the option
  if jax.__version_info__ >= (0, 10):
    assert cpu == xla.CPU_COMPILER_OPTIONS  # the option exists in the pinned-range jaxlib


def test_tuned_jit_equals_plain_jit():
  def attention(q, k, v):
    return jax.nn.softmax(q @ k.T, axis=-1) @ v

  keys = jax.random.split(jax.random.key(0), 3)
  q, k, v = (jax.random.normal(key, (64, 32)) for key in keys)
  tuned = xla.jit(attention)(q, k, v)
  plain = jax.jit(attention)(q, k, v)
  # 1e-5: a different fp32 matmul kernel may sum in another order (~1e-7 relative here).
  np.testing.assert_allclose(tuned, plain, rtol=1e-5, atol=1e-6)
  decorated = xla.jit(static_argnames=("n",))(lambda x, n: x * n)
  assert float(decorated(jnp.float32(2.0), n=3)) == 6.0


def test_tuned_jit_really_compiles_without_ynnpack_fusions():
  """Fails if xla.jit dropped its options: plain jit on this CPU emits YNNPACK fusions for the
  matmuls, the tuned one XLA's own dots."""
  def attention(q, k):
    return jax.nn.softmax(q @ k.T, axis=-1) @ k

  spec = jax.ShapeDtypeStruct((64, 32), jnp.float32)
  if xla.compiler_options() != xla.CPU_COMPILER_OPTIONS:
    return  # not CPU, or a jaxlib without the option: nothing is tuned (checked above)
  plain = jax.jit(attention).lower(spec, spec).compile().as_text()
  tuned = xla.jit(attention).lower(spec, spec).compile().as_text()
  assert '"kind":"__ynn_fusion"' in plain  # the premise: this jaxlib fuses matmuls with YNNPACK
  assert '"kind":"__ynn_fusion"' not in tuned
