"""What the trained-model experiments (Figs. 2, 5, 10, 13) read from a checkpoint: embedded
inputs, each encoder layer's W_Q and first MLP matrix, and the inputs to each encoder layer.

Columns are tokens (the paper's ``U in R^{d x L}``) in everything returned here; the models'
``[batch, length, features]`` is converted at these functions' boundary.
"""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np

from experiments import common, precondition
from lowrank_ts import pretrained
from lowrank_ts.data import real_series
from lowrank_ts.interop import resolve
from lowrank_ts.models import registry
from lowrank_ts.models.chronos_bolt import ChronosBolt, instance_norm, patchify

SHIPPED = f"the shipped model (lowrank_ts/pretrained/{pretrained.DEFAULT})"


def load(model: str | None):
  """The model ``--model`` names (:func:`lowrank_ts.interop.resolve.load_model`; None: the
  shipped model)."""
  return resolve.load_model(model, "--model")


def random_init(model, seed: int):
  """A model of ``model``'s configuration at initialisation (seed ``seed``)."""
  return registry.build(model.config, seed=seed)


def real_contexts(length: int, names=None) -> list[np.ndarray]:
  """The last ``length`` training values of each real series (all of them if shorter)."""
  return [s.train[-length:].astype(np.float32) for s in real_series.load(names)]


def bolt_patch_embedding(model: ChronosBolt, contexts: list[np.ndarray]) -> np.ndarray:
  """Bolt's input patch embedding of every full patch of the contexts, instance-normalised as
  the model does: ``[d_model, total patches]`` (patches with missing values are dropped)."""
  k = model.config.input_patch_size
  columns = []
  for context in contexts:
    context = context[len(context) % k:]  # whole patches only: no padding in the matrix
    normed, _, _ = instance_norm(jnp.asarray(context)[None])
    patches_NP = patchify(normed, k)[0]
    features = jnp.concatenate([patches_NP, jnp.ones_like(patches_NP)], -1)
    columns.append(np.asarray(model.input_patch_embedding(features)))
  return np.concatenate(columns, 0).T.astype(np.float64)


def t5_token_embedding(model, context: np.ndarray) -> np.ndarray:
  """Chronos-T5's embedded input of one context: token rows of the shared table, ``[d, L]``."""
  ids, mask, _ = model.config.tokenizer.tokenize(np.asarray(context, np.float32)[None],
                                                 append_eos=False)
  ids = np.asarray(ids)[0][np.asarray(mask)[0]]
  return np.asarray(model.shared[...])[ids].T.astype(np.float64)


def t5_bin_embeddings(model) -> np.ndarray:
  """Chronos-T5's embedding vectors of its value bins, ``[d, n_bins]`` in the order of the bin
  centres: bin i is token n_special + 1 + i (bucketize against [-1e20, midpoints, 1e20] counts
  from 1), so token n_special, which no value produces, is left out."""
  tokenizer = model.config.tokenizer
  first = tokenizer.n_special_tokens + 1
  return np.asarray(model.shared[...])[first:first + tokenizer.n_bins].T.astype(np.float64)


def _layers(model):
  return model.encoder.layers


def query_matrices(model) -> list[np.ndarray]:
  """W_Q of each encoder layer as ``[inner, d_model]`` (the paper's orientation)."""
  return [np.asarray(layer.self_attention.q.dense_kernel()).T for layer in _layers(model)]


def mlp_matrices(model) -> list[np.ndarray]:
  """The first MLP matrix of each encoder layer, ``[d_ff, d_model]`` (wi, or wi_0 if gated)."""
  return [np.asarray((layer.ff.wi_0 if layer.ff.gated else layer.ff.wi)[...]).T
          for layer in _layers(model)]


def encoder_layer_inputs(model, context: np.ndarray) -> list[np.ndarray]:
  """The input to each encoder layer, then the last layer's output, for one context (Fig. 5c):
  ``num_layers + 1`` matrices ``[d_model, tokens]``."""
  embeds, mask = model.encoder_inputs(np.asarray(context, np.float32)[None])
  hidden = model.encoder.hidden_states(embeds, mask)
  return [np.asarray(h[0]).T.astype(np.float64) for h in hidden]


def model_flags(t5_help: str) -> dict:
  """``--model`` (a Chronos-Bolt folder) and ``--t5-model`` for common.parse_args's extra."""
  return {"--model": {"default": None, "help": "a Chronos-Bolt checkpoint folder, training "
                                                "workdir or shipped name (default: shipped)"},
          "--t5-model": {"default": None, "help": t5_help}}


def preconditions(size: str, seed: int, model: str | None, t5_model: str | None) -> dict:
  """:mod:`experiments.precondition` measured on the Chronos-Bolt ``--model`` names (None: the
  shipped one) and on the Chronos-T5 ``--t5-model`` names, if any (json form)."""
  models = {"Chronos-Bolt": load(model), "Chronos-T5": load(t5_model) if t5_model else None}
  return precondition.to_json(precondition.measure_models(models, size, seed))


def run(name: str, module, argv=None, t5_help: str = "a Chronos-T5 folder to analyse too") -> int:
  """The command line shared by the trained-model scripts (fig2, fig5, fig10): ``--model`` and
  ``--t5-model`` on top of experiments.common's flags, then ``module``'s compute / verdicts /
  plot / headline, written by ``common.finish``. The models read are first measured against
  :mod:`experiments.precondition` (UNINFORMATIVE when one cannot carry the claims)."""
  args = common.parse_args(module.__doc__, argv, extra=model_flags(t5_help))
  start = time.time()
  results, params = module.compute(args.size, args.seed, args.model, args.t5_model)
  results["precondition"] = preconditions(args.size, args.seed, args.model, args.t5_model)
  verdict = module.verdicts(results, params)
  precondition.record_all(verdict, results["precondition"])
  return common.finish(name, args, module.plot(results, params), results, params, verdict,
                       start, module.headline(results, params))
