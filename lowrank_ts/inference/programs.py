"""The compiled programs a model's forecast runs: one cache, row blocks and shape buckets.

A model's forecast (its per-family rule for chunking the horizon, :mod:`lowrank_ts.models`)
runs its jittable cores through :class:`Programs`, the :class:`~lowrank_ts.models.registry.
Runner` of that model. Every core is compiled once per (model structure, shapes, static
arguments) by one ``jax.jit``; the model's parameters are read from its Variables at each call,
so an in-place update (``nnx.update``, an optimizer step) is used. Rows go to the parameters'
mesh when the model was placed on one (:mod:`.data_parallel`).

Shapes are bucketed so that growing contexts and mixed horizons reuse programs: a window is
left-padded with NaN (masked: the result is unchanged) to a multiple of :data:`LENGTH_BUCKET`,
a sampled chunk is drawn for a multiple of :data:`STEP_BUCKET` steps and cut (step ``t`` only
sees earlier steps), and row-independent cores run in blocks of :data:`ROW_BLOCK` rows (the
last filled with all-NaN rows), so their memory is that of one block for any batch.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts import sharding
from lowrank_ts.models import sampler

LENGTH_BUCKET = 64
STEP_BUCKET = 16
ROW_BLOCK = 256
# Per model: its graph's structure, the pytree structure of its state and the Variables that
# hold the state, taken once (nnx.split traverses the whole graph: milliseconds a call). A
# model whose structure changes after its first forecast (a submodule replaced) must be
# rebuilt or copied.
_SPLITS: weakref.WeakKeyDictionary[nnx.Module, tuple] = weakref.WeakKeyDictionary()


@functools.partial(jax.jit, static_argnums=0, static_argnames=("treedef", "core", "static"))
def _apply(graphdef, leaves, *args, treedef, core, static):
  return core(nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves)), *args, **dict(static))


class Programs:
  """The compiled cores of ``model`` (see the module docstring)."""

  def __init__(self, model: nnx.Module):
    if model not in _SPLITS:
      graphdef, state = nnx.split(model)
      variables = [v for _, v in nnx.iter_graph(model) if isinstance(v, nnx.Variable)]
      leaves, treedef = jax.tree.flatten(state)
      if len(variables) != len(leaves) or not all(
          v.get_value() is leaf for v, leaf in zip(variables, leaves)):
        raise AssertionError("nnx.iter_graph and nnx.split disagree on the Variables' order")
      _SPLITS[model] = (graphdef, treedef, variables)
    self.model = model
    self.graphdef, self.treedef, variables = _SPLITS[model]
    self.leaves = tuple(v.get_value() for v in variables)
    mesh = sharding.params_mesh(self.leaves)
    shards = 1 if mesh is None else sharding.batch_shards(mesh)
    self.block = shards * -(-ROW_BLOCK // shards)  # a multiple of the data-parallel devices

  def _arguments(self, rows, traced, static):
    rows = sharding.rows_like_params(self.leaves, *rows)
    return ((self.graphdef, self.leaves, *rows, *traced),
            dict(treedef=self.treedef, static=tuple(sorted(static.items()))))

  def __call__(self, core: Callable, *rows, traced: tuple = (), **static):
    """``core(model, *rows, *traced, **static)``, compiled: ``rows`` are ``[B, ...]`` arrays
    (split over the parameters' mesh), ``traced`` other array arguments, ``static`` hashable."""
    args, kwargs = self._arguments(rows, traced, static)
    return _apply(*args, core=core, **kwargs)

  def lower(self, core: Callable, *rows, traced: tuple = (), **static) -> jax.stages.Lowered:
    """The program :meth:`__call__` runs for these arguments, lowered and not run:
    ``.compile().memory_analysis()`` gives its working memory, ``.cost_analysis()`` its FLOPs."""
    args, kwargs = self._arguments(rows, traced, static)
    return _apply.lower(*args, core=core, **kwargs)

  def rows(self, core: Callable, context_RT: np.ndarray) -> np.ndarray:
    """``core(model, context)`` for a core whose rows are independent, as numpy, in blocks of
    :data:`ROW_BLOCK` rows (one call when there are fewer)."""
    count = context_RT.shape[0]
    if count <= self.block:
      return np.asarray(self(core, context_RT))
    out = []
    for start in range(0, count, self.block):
      part = context_RT[start:start + self.block]
      kept = part.shape[0]
      if kept < self.block:
        part = np.concatenate([part, np.full((self.block - kept, part.shape[1]), np.nan,
                                             part.dtype)])
      out.append(np.asarray(self(core, part))[:kept])
    return np.concatenate(out)

  def window(self, context_BT: np.ndarray) -> np.ndarray:
    """The last ``context_length`` values of ``context_BT``, left-padded with NaN to a
    multiple of :data:`LENGTH_BUCKET` (at most ``context_length``)."""
    context_length = self.model.config.context_length
    window = context_BT[:, -context_length:]
    length = min(context_length, LENGTH_BUCKET * math.ceil(window.shape[1] / LENGTH_BUCKET))
    return np.pad(window, ((0, 0), (max(length - window.shape[1], 0), 0)),
                  constant_values=np.nan)

  def sample(self, token_ids_BL, mask_BL, key, *, steps: int, num_samples: int,
             temperature: float, top_k: int | None, top_p: float,
             eos_token_id: int | None) -> np.ndarray:
    """:func:`lowrank_ts.models.sampler.sample_tokens` for ``steps`` tokens (at most the
    model's ``prediction_length``), drawn for a multiple of :data:`STEP_BUCKET` and cut:
    numpy ``[B, num_samples, steps]``."""
    limit = self.model.config.prediction_length
    compiled_steps = min(limit, STEP_BUCKET * math.ceil(steps / STEP_BUCKET))
    tokens = self(sampler.sample_tokens, token_ids_BL, mask_BL,
                  traced=(key, jnp.float32(temperature), jnp.float32(top_p)),
                  num_samples=num_samples, horizon=compiled_steps, top_k=top_k,
                  eos_token_id=eos_token_id)
    return np.asarray(tokens)[..., :steps]
