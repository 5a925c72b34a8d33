"""Continued training of a given model, structure fixed: the healing step of
``lowrank-ts compress --finetune-steps N``.

The model (e.g. a post-hoc compressed one, its attention stored as rank-r factors) keeps its
graph — so its ranks — and trains every parameter (the factors, embeddings, MLPs, norms) for
``steps`` AdamW steps on the batches of ``config``'s input pipeline
(:func:`lowrank_ts.training.data.make_pipeline`, exactly what ``lowrank-ts train``
feeds the same recipe; seeded by ``config.seed``), the learning rate decaying linearly from
``learning_rate`` to 0 over the ``steps`` (:func:`trainer.make_optimizer`; gradients clipped at
``config.max_grad_norm``; compute dtype ``config.compute_dtype``). Single device, no
checkpoints: it is minutes of training.

The loss before / after is the model's mean loss over ``HELD_BATCHES`` fixed batches that the
fine-tuning never sees (pipeline steps ``steps, steps + 1, ...``; the stream is a pure function
of (seed, step)), so the two numbers are the same measurement on the same data.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
import optax
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.models import registry
from lowrank_ts.training import data
from lowrank_ts.training.config import TrainConfig
from lowrank_ts.training.trainer import make_optimizer

HELD_BATCHES = 4


def check_compatible(model: registry.ForecastModel, config: TrainConfig) -> None:
  """A ValueError naming ``config`` when its training windows do not fit ``model``."""
  registry.check_model(model)
  if not isinstance(config, TrainConfig):
    raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")  # noqa: TRY004
  if type(model.config) is not type(config.model_config):
    raise ValueError(f"config trains a {type(config.model_config).__name__} "
                     f"({config.model!r}), the model is a {type(model.config).__name__}")
  if config.context > model.config.context_length:
    raise ValueError(f"config's context {config.context} exceeds the model's context_length "
                     f"{model.config.context_length}")
  limit = model.config.max_training_horizon
  if limit is not None and config.horizon > limit:
    raise ValueError(f"config's horizon {config.horizon} exceeds the model's longest training "
                     f"horizon {limit}")


def finetune(model: registry.ForecastModel, config: TrainConfig, steps: int, *,
             learning_rate: float | None = None) -> tuple[registry.ForecastModel, dict]:
  """``(trained copy of model, record)``; ``record`` holds the steps, the learning rate, the
  held-out loss before and after, and the wall time. ``model`` itself is left unchanged."""
  check_compatible(model, config)
  steps = checks.steps(steps, "steps")
  learning_rate = config.learning_rate if learning_rate is None else checks.positive_float(
      learning_rate, "learning_rate")
  config = dataclasses.replace(config, steps=steps, learning_rate=learning_rate)
  tx, _ = make_optimizer(config)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  params = jax.jit(lambda t: jax.tree.map(lambda x: x.copy(), t))(params)  # caller's stay
  compute = np.dtype(config.compute_dtype)

  def loss_fn(p, batch):
    p = jax.tree.map(lambda x: x.astype(compute), p)
    return nnx.merge(graphdef, p, rest).loss(batch)

  @jax.jit
  def step_fn(p, opt_state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(p, batch)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss

  pipe = data.make_pipeline(config)
  prepare = model.training_batch
  held = [prepare(pipe.batch_at(steps + i, pipe.rows)) for i in range(HELD_BATCHES)]
  eval_loss = jax.jit(loss_fn)  # one compilation: the held-out batches share their shapes

  def held_loss(p):
    return float(np.mean([eval_loss(p, b) for b in held]))

  before = held_loss(params)
  opt_state = jax.jit(tx.init)(params)
  prefetch = data.Prefetcher(pipe, prepare)
  start = time.perf_counter()
  losses = []
  try:
    for step in range(1, steps + 1):
      params, opt_state, loss = step_fn(params, opt_state, prefetch.next())
      losses.append(float(loss))
      if not np.isfinite(losses[-1]):
        raise FloatingPointError(f"loss is {losses[-1]} at fine-tuning step {step}")
  finally:
    prefetch.close()
  seconds = time.perf_counter() - start
  after = held_loss(params)
  tail = max(1, steps // 10)
  record = {"steps": steps, "recipe_model": config.model, "learning_rate": learning_rate,
            "schedule": "linear to 0 over the steps, AdamW", "seed": config.seed,
            "held_out_batches": HELD_BATCHES, "batch_size": config.batch_size,
            "held_out_loss_before": before, "held_out_loss_after": after,
            "train_loss_first": losses[0], f"train_loss_last_{tail}_mean": float(
                np.mean(losses[-tail:])), "seconds": seconds}
  return nnx.merge(graphdef, params, rest), record
