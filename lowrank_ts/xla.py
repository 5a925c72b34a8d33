"""XLA compiler options for CPU, applied per compilation (never through global flags).

XLA:CPU in jax 0.10 hands matmuls to YNNPACK fusions, which run float64 attention 2.5-6x
slower (experiments/fig15, fig17) and our jitted train step ~30 % slower (benchmarks/train.py,
with the same results to rounding) than XLA's own dot emitter on 2 CPU cores;
:data:`CPU_COMPILER_OPTIONS` turns them off. The sampler is not compiled with them: there they
make no difference.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def _known_to_this_jaxlib() -> bool:
  try:
    jax.jit(lambda x: x + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(
        jax.ShapeDtypeStruct((), jnp.float32)).compile()
  except Exception as error:  # only an unknown option is tolerated (re-raised otherwise)
    if not any(name in str(error) for name in CPU_COMPILER_OPTIONS):
      raise
    return False
  return True


def compiler_options(platform: str | None = None) -> dict[str, str]:
  """:data:`CPU_COMPILER_OPTIONS` when compiling for ``platform`` (default: JAX's default
  backend) is CPU and this jaxlib knows the options; ``{}`` otherwise."""
  platform = jax.default_backend() if platform is None else platform
  if platform != "cpu" or jax.default_backend() != "cpu" or not _known_to_this_jaxlib():
    return {}
  return dict(CPU_COMPILER_OPTIONS)


def jit(fun=None, **jit_kwargs):
  """``jax.jit`` with :func:`compiler_options`, decided at the first call (not at import), so
  it can decorate module-level functions. Usable with or without keyword arguments; the result
  has ``.lower(*args)`` like a jitted function (to inspect what it compiles)."""
  if fun is None:
    return functools.partial(jit, **jit_kwargs)
  compiled = []

  def jitted():
    if not compiled:
      compiled.append(jax.jit(fun, compiler_options=compiler_options(), **jit_kwargs))
    return compiled[0]

  @functools.wraps(fun)
  def call(*args, **kwargs):
    return jitted()(*args, **kwargs)
  call.lower = lambda *args, **kwargs: jitted().lower(*args, **kwargs)
  return call
