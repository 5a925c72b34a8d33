"""Sharded train state and the jitted train step of one :class:`TrainConfig`.

Parameters and AdamW state are created already sharded on a ``('data', 'fsdp')`` mesh
(:mod:`lowrank_ts.sharding`: ``jax.eval_shape`` -> shardings -> ``jax.jit(init,
out_shardings=...)``). The step is a pure function of pytrees (``nnx.split`` / ``nnx.merge`` at
the boundary) with donated state, and calls the model's own ``loss`` (the model interface of
:mod:`lowrank_ts.models.registry`), so it never asks which model it trains. Dropout is off (the
models' dropout layers are deterministic): a step is a deterministic function of (state, batch).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lowrank_ts import sharding, xla
from lowrank_ts.models import registry
from lowrank_ts.training import fixed_vocabulary
from lowrank_ts.training.config import TrainConfig

FROZEN_PARAMS = ("shared",)  # with fixed_vocabulary_rank: the fixed token table


def _is_frozen(path) -> bool:
  return tuple(getattr(k, "key", getattr(k, "name", k)) for k in path)[:1] == FROZEN_PARAMS


def frozen_labels(params):
  """``"frozen"`` for the fixed vocabulary's table, ``"trained"`` for every other leaf."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "frozen" if _is_frozen(path) else "trained", params)


def make_optimizer(config: TrainConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """AdamW with the learning rate decaying linearly to 0 over ``config.steps`` (clipped at
  ``max_grad_norm`` first unless it is 0), and that schedule. With ``fixed_vocabulary_rank``
  the token table gets zero updates (and takes no part in the clipping norm)."""
  schedule = optax.linear_schedule(config.learning_rate, 0.0, config.steps)
  tx = optax.adamw(schedule, eps=config.adam_eps, weight_decay=config.weight_decay)
  if config.max_grad_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), tx)
  if config.fixed_vocabulary_rank:
    tx = optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, frozen_labels)
  return tx, schedule


class Trainer:
  """Sharded state creation and the jitted step for one ``TrainConfig``.

  ``abstract_model`` is the model with shape-only parameters: its ``training_batch`` turns the
  input pipeline's float windows into the model's inputs on the host, and ``graphdef`` is its
  structure, merged with the parameters inside the step.
  """

  def __init__(self, config: TrainConfig, devices=None):
    self.config = config
    self.mesh = sharding.make_mesh(config.mesh_shape, devices)
    self.tx, self.schedule = make_optimizer(config)
    self.compute_dtype = jnp.dtype(config.compute_dtype)
    model_config = config.model_config
    self.abstract_model = registry.abstract(model_config)
    self.graphdef = nnx.graphdef(self.abstract_model)

    def init():
      model = registry.build(model_config, seed=config.seed)
      if config.fixed_vocabulary_rank:  # appendix I: the fixed rank-r Chebyshev vocabulary
        model.shared[...] = fixed_vocabulary.chebyshev_vocabulary(
            model_config.tokenizer, config.fixed_vocabulary_rank, model_config.t5.d_model,
            jax.random.fold_in(jax.random.key(config.seed), 0xC4EB))
      _, params, rest = nnx.split(model, nnx.Param, ...)
      state = {"params": params, "opt_state": self.tx.init(params),
               "step": jnp.zeros((), jnp.int32)}
      return state, rest

    abstract_state, abstract_rest = jax.eval_shape(init)
    self.state_sharding = sharding.state_shardings(self.mesh, abstract_state)
    self.rest_sharding = sharding.replicated(self.mesh, abstract_rest)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract_state,
        self.state_sharding)
    self._init = jax.jit(init, out_shardings=(self.state_sharding, self.rest_sharding))
    # On CPU without XLA's YNNPACK fusions: ~30 % faster steps here (lowrank_ts.xla).
    options = xla.compiler_options(self.mesh.devices.flat[0].platform)
    self.step_fn = jax.jit(self._step, donate_argnums=0,
                           out_shardings=(self.state_sharding, None), compiler_options=options)

  def init(self) -> tuple[Any, Any]:
    """``(state, rest)``: sharded params / AdamW state / step, and non-parameter model state."""
    return self._init()

  def loss(self, params, rest, batch) -> jax.Array:
    """The model's fp32 loss of ``batch`` with ``params`` cast to the compute dtype."""
    params_c = jax.tree.map(lambda p: p.astype(self.compute_dtype), params)
    return nnx.merge(self.graphdef, params_c, rest).loss(batch)

  def _step(self, state, rest, batch):
    loss, grads = jax.value_and_grad(self.loss)(state["params"], rest, batch)
    updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
    new_state = {"params": optax.apply_updates(state["params"], updates),
                 "opt_state": opt_state, "step": state["step"] + 1}
    return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  def local_rows(self) -> list[int]:
    """The rows of each global batch that live on this process's devices (all of them in a
    single-process run): the rows this process's input pipeline produces."""
    spans = sharding.batch_sharding(self.mesh, 1).addressable_devices_indices_map(
        (self.config.batch_size,)).values()
    return sorted({r for span in spans for r in range(self.config.batch_size)[span[0]]})

  def shard_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """Global arrays from this process's rows (:meth:`local_rows`) of a model batch."""
    out = {}
    for k, v in batch.items():
      shape = (self.config.batch_size, *v.shape[1:])
      out[k] = jax.make_array_from_process_local_data(
          sharding.batch_sharding(self.mesh, v.ndim), v, shape)
    return out
