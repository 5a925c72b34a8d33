"""What the trained-model experiments (Figs. 2, 5, 10, 13, rank_vs_data) read from a checkpoint:
embedded inputs, each encoder layer's W_Q and first MLP matrix, the inputs to each encoder layer
and what each attention's W_Q reads.

Columns are tokens (the paper's ``U in R^{d x L}``) in everything returned here; the models'
``[batch, length, features]`` is converted at these functions' boundary.
"""

from __future__ import annotations

import itertools
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


def normalised_patches(contexts: list[np.ndarray], patch_size: int) -> np.ndarray:
  """Every whole patch of the contexts, each context instance-normalised as Chronos-Bolt does
  (leading values that do not fill a patch are left out): ``[total patches, patch_size]``."""
  rows = []
  # whole patches only (no padding); consecutive contexts of one length are normalised together
  trimmed = [np.asarray(c, np.float32)[len(c) % patch_size:] for c in contexts]
  for _, run in itertools.groupby(trimmed, len):
    normed, _, _ = instance_norm(jnp.asarray(np.stack(list(run))))
    rows.append(np.asarray(patchify(normed, patch_size)).reshape(-1, patch_size))
  return np.concatenate(rows, 0)


def bolt_patch_embedding(model: ChronosBolt, contexts: list[np.ndarray]) -> np.ndarray:
  """Bolt's input patch embedding of every full patch of the contexts, instance-normalised as
  the model does: ``[d_model, total patches]`` (patches with missing values are dropped)."""
  patches_NP = normalised_patches(contexts, model.config.input_patch_size)
  features = np.concatenate([patches_NP, np.ones_like(patches_NP)], -1)  # values, mask
  return np.asarray(model.input_patch_embedding(jnp.asarray(features))).T.astype(np.float64)


def attention_query_inputs(model: ChronosBolt, contexts_BT: np.ndarray) -> dict[str, np.ndarray]:
  """What the query projection W_Q of each attention reads (its RMS-normed input), for float32
  contexts ``[B, T]``, columns = tokens: ``"encoder self l"`` ``[d_model, B * N]`` (N patches,
  then the REG token, per series) and, per decoder layer, ``"decoder self l"`` and
  ``"decoder cross l"`` ``[d_model, B]`` (the decoder's one token per series); l counts from 1
  within each stack."""
  embeds, mask = model.encoder_inputs(np.asarray(contexts_BT, np.float32))
  out = {}
  hidden = model.encoder.hidden_states(embeds, mask)
  for i, layer in enumerate(model.encoder.layers):
    out[f"encoder self {i + 1}"] = layer.self_norm(hidden[i])
  encoder_BSD = model.encoder(embeds, mask)
  start = model.shared[...][model.config.t5.decoder_start_token_id]  # as ChronosBolt.decode
  start_B1D = jnp.broadcast_to(start, (embeds.shape[0], 1, start.shape[0]))
  decoder = model.decoder
  hidden = decoder.hidden_states(start_B1D, None, encoder_BSD, mask)
  self_bias = decoder.position_bias(1, 1)[None]
  for i, layer in enumerate(decoder.layers):
    normed = layer.self_norm(hidden[i])
    out[f"decoder self {i + 1}"] = normed
    # t5.Block's first residual step: the cross-attention reads the norm of its output
    _, attended = layer.self_attention(normed, None, self_bias)
    out[f"decoder cross {i + 1}"] = layer.cross_norm(hidden[i] + attended)
  return {name: np.asarray(x).reshape(-1, x.shape[-1]).T.astype(np.float64)
          for name, x in out.items()}


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
