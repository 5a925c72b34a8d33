"""One registry of models: every model is built from its config here, and every model has the
same small interface, so code outside :mod:`lowrank_ts.models` never asks which one it holds.

The interface (:class:`ForecastModel`), as Flax's gemma ``Transformer`` exposes its own:

- ``config``: the frozen config it was built from (:class:`ChronosConfig` / :class:`BoltConfig`,
  the backbone in ``config.t5``);
- ``sampled``: True if forecasts are sample paths over a token vocabulary (they take sampling
  options and a PRNG key; the model has token logits), False for direct quantiles;
- ``training_batch(batch)``: host-side (numpy) model inputs from the input pipeline's float
  windows ``{context [B, C], target [B, H]}``;
- ``loss(batch)``: the fp32 training loss of such a batch (jittable);
- ``encoder_inputs(context)``: ``(embeds [B, N, d_model], mask [B, N])``, what the encoder
  stack (``encoder``, with ``hidden_states``) reads for float32 contexts ``[B, T]``;
- ``encode(inputs, mask)``: the encoder's hidden states ``[B, N, d_model]`` for the model's own
  inputs (Chronos: token ids; Chronos-Bolt: raw values), jittable;
- ``predict(context, horizon, key, run, **options)``: the model's own forecast for float32
  contexts ``[B, T]`` (NaN = missing): sample paths ``[B, num_samples, H]`` when ``sampled``,
  else quantiles ``[B, Q, H]`` at the config's levels;
- ``forecast(context, horizon, key, run, **options)``: ``{"mean" [B, H], "quantiles"
  [B, H, 9]}`` at :data:`QUANTILE_LEVELS`;
- ``embed(context, run)``: ``{"embeddings" [B, N, d_model], "mask" [B, N], "loc" [B],
  "scale" [B]}``, the encoder's output and the scaling of the values it read.

``predict``, ``forecast`` and ``embed`` hold the per-family rule (the horizon in chunks, what is
fed back) and run the model's jittable cores through ``run`` (:class:`Runner`), which
:mod:`lowrank_ts.inference` supplies with its compiled programs; the public entry points that
validate the contexts are :func:`lowrank_ts.inference.forecasting.forecast` and its siblings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts.models.chronos import Chronos
from lowrank_ts.models.chronos_bolt import ChronosBolt
from lowrank_ts.models.config import BoltConfig, ChronosConfig, T5Config
from lowrank_ts.models.t5 import T5

ModelConfig = ChronosConfig | BoltConfig
MODELS: dict[type, type[nnx.Module]] = {ChronosConfig: Chronos, BoltConfig: ChronosBolt}


class Runner(Protocol):
  """How a model's forecast runs its jittable cores (:class:`lowrank_ts.inference.programs.
  Programs` is the one implementation): compiled, cached, rows on the parameters' mesh."""

  def __call__(self, core: Callable, *rows, traced: tuple = (), **static) -> Any:
    """``core(model, *rows, *traced, **static)``, compiled."""

  def rows(self, core: Callable, context_RT: np.ndarray) -> np.ndarray:
    """``core(model, context_RT)`` as numpy, for a core whose rows are independent."""

  def window(self, context_BT: np.ndarray) -> np.ndarray:
    """The last ``context_length`` values, left-padded with NaN to a compiled shape."""

  def sample(self, token_ids_BL, mask_BL, key, *, steps: int, **options) -> np.ndarray:
    """``sampler.sample_tokens`` for ``steps`` tokens: numpy ``[B, num_samples, steps]``."""


class ForecastModel(Protocol):
  config: ModelConfig
  sampled: bool

  def training_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

  def loss(self, batch: Mapping[str, jax.Array]) -> jax.Array: ...

  def encoder_inputs(self, context: np.ndarray) -> tuple[jax.Array, jax.Array]: ...

  def encode(self, inputs: jax.Array, mask: jax.Array | None = None) -> jax.Array: ...

  def predict(self, context: np.ndarray, horizon: int, key: Any, run: Runner,
              **options) -> np.ndarray: ...

  def forecast(self, context: np.ndarray, horizon: int, key: Any, run: Runner,
               **options) -> dict[str, np.ndarray]: ...

  def embed(self, context: np.ndarray, run: Runner) -> dict[str, np.ndarray]: ...


def check_config(config: Any, name: str = "config") -> ModelConfig:
  if type(config) not in MODELS:
    raise ValueError(f"{name} must be a ChronosConfig or BoltConfig, got {type(config).__name__}")
  return config


def check_model(model: Any, name: str = "model") -> ForecastModel:
  """``model`` if it is one of the registered models, else a ValueError naming ``name``."""
  if type(model) not in MODELS.values():
    raise ValueError(f"{name} must be a Chronos or ChronosBolt model, got {type(model).__name__}")
  return model


def build(config: ModelConfig, *, seed: int = 0, dtype=jnp.float32) -> ForecastModel:
  """The randomly initialised model of ``config`` (parameters from ``seed``)."""
  return MODELS[type(check_config(config))](config, rngs=nnx.Rngs(seed), dtype=dtype)


def abstract(config: ModelConfig, dtype=jnp.float32) -> ForecastModel:
  """The model of ``config`` with shape-only parameters (nothing allocated)."""
  check_config(config)
  return nnx.eval_shape(lambda: build(config, dtype=dtype))


def with_config(model: ForecastModel, config: ModelConfig, params: Mapping) -> ForecastModel:
  """A model of ``config`` holding the flat parameter dict ``params`` (path -> array); the
  non-parameter state (dropout RNG streams) is taken from ``model``, whose structure it shares."""
  graphdef, new_params, new_rest = nnx.split(abstract(config), nnx.Param, ...)
  _, _, old_rest = nnx.split(model, nnx.Param, ...)
  flat = []
  for path, variable in nnx.to_flat_state(new_params):
    value = params[path]
    if tuple(value.shape) != tuple(variable.shape):
      raise AssertionError(f"{path}: {value.shape} vs {variable.shape}")  # a bug, not input
    flat.append((path, variable.replace(jnp.asarray(value, variable.dtype))))
  rest = jax.tree.map(lambda _, old_leaf: old_leaf, new_rest, old_rest)
  return nnx.merge(graphdef, nnx.from_flat_state(flat), rest)


def parameter_count(config: ModelConfig | T5Config) -> int:
  """Total parameters of the model ``config`` describes (counted without allocating); a bare
  T5Config counts the T5 backbone with its LM head."""
  if isinstance(config, T5Config):
    model = nnx.eval_shape(lambda: T5(config, rngs=nnx.Rngs(0)))
  else:
    model = abstract(config)
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
