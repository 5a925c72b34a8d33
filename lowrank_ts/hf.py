"""Import and export Chronos / Chronos-Bolt checkpoints in Hugging Face format.

A checkpoint folder holds ``config.json`` (a T5 config plus ``chronos_config``) and
``model.safetensors`` (or a sharded ``model.safetensors.index.json``, or ``pytorch_model.bin``,
which needs torch). :func:`load` builds the Flax model; :func:`save` writes a folder that
chronos-forecasting's ``BaseChronosPipeline.from_pretrained(folder)`` loads. Factorised
attention (eqs. 19-20) is exported multiplied out to dense matrices, as the authors' post-hoc
compression does; layouts with per-layer heads / head sizes have no Hugging Face T5
equivalent and are refused.

Every tensor is checked: a missing, unexpected or mis-shaped tensor raises ``ValueError``
naming it. Tied copies of the shared embedding (``encoder.embed_tokens.weight``,
``decoder.embed_tokens.weight``, and ``lm_head.weight`` when tied) are accepted only if
they equal ``shared.weight``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts.models.config import BoltConfig, ChronosConfig, T5Config

_T5_FIELDS = ("vocab_size", "d_model", "d_ff", "num_layers", "num_heads", "d_kv",
              "num_decoder_layers", "relative_attention_num_buckets",
              "relative_attention_max_distance", "dropout_rate", "layer_norm_epsilon",
              "initializer_factor", "feed_forward_proj", "decoder_start_token_id")

# (hf name, path in the Flax model, stored transposed): linear weights are [out, in] in torch.
Entry = tuple[str, tuple, bool]


def _folder(path: Any, name: str = "folder") -> pathlib.Path:
  if not isinstance(path, (str, pathlib.Path)):
    raise ValueError(f"{name} must be a path, got {type(path).__name__}")
  return pathlib.Path(path)


def _t5_config_from_json(raw: dict) -> T5Config:
  kwargs = {k: raw[k] for k in _T5_FIELDS if k in raw and raw[k] is not None}
  if "decoder_start_token_id" not in kwargs:
    kwargs["decoder_start_token_id"] = 0
  # transformers >= 5 always writes tie_word_embeddings=true and records the output scaling
  # (the observable effect of tying) in scale_decoder_outputs.
  tied = bool(raw.get("tie_word_embeddings", True)) and bool(raw.get("scale_decoder_outputs",
                                                                     True))
  try:
    return T5Config(tie_word_embeddings=tied, **kwargs)
  except TypeError as err:
    raise ValueError(f"config.json: {err}") from None


def config_from_json(raw: dict) -> ChronosConfig | BoltConfig:
  """The Chronos or Chronos-Bolt configuration described by a parsed ``config.json``."""
  if not isinstance(raw, dict):
    raise ValueError(f"raw must be a dict, got {type(raw).__name__}")
  chronos = raw.get("chronos_config")
  if not isinstance(chronos, dict):
    raise ValueError("config.json has no chronos_config: not a Chronos checkpoint")
  t5 = _t5_config_from_json(raw)
  if "input_patch_size" in chronos:
    return BoltConfig(
        t5=t5, context_length=chronos["context_length"],
        prediction_length=chronos["prediction_length"],
        input_patch_size=chronos["input_patch_size"],
        input_patch_stride=chronos["input_patch_stride"],
        quantiles=tuple(float(q) for q in chronos["quantiles"]),
        use_reg_token=bool(chronos.get("use_reg_token", False)))
  if chronos.get("model_type", "seq2seq") != "seq2seq":
    raise ValueError(f"chronos_config.model_type {chronos.get('model_type')!r} is not supported;"
                     " only seq2seq (T5) Chronos models are")
  if chronos.get("tokenizer_class", "MeanScaleUniformBins") != "MeanScaleUniformBins":
    raise ValueError(f"chronos_config.tokenizer_class {chronos['tokenizer_class']!r} is not "
                     "supported; only MeanScaleUniformBins is")
  tok = chronos.get("tokenizer_kwargs", {})
  keys = ("context_length", "prediction_length", "n_tokens", "n_special_tokens", "pad_token_id",
          "eos_token_id", "use_eos_token", "num_samples", "temperature", "top_k", "top_p")
  return ChronosConfig(t5=t5, low_limit=float(tok.get("low_limit", -15.0)),
                       high_limit=float(tok.get("high_limit", 15.0)),
                       **{k: chronos[k] for k in keys if k in chronos})


def config_to_json(config: ChronosConfig | BoltConfig) -> dict:
  """The ``config.json`` dictionary chronos-forecasting and transformers expect."""
  if not isinstance(config, (ChronosConfig, BoltConfig)):
    raise ValueError(f"config must be a ChronosConfig or BoltConfig, got {type(config).__name__}")
  t5 = config.t5
  raw = {k: getattr(t5, k) for k in _T5_FIELDS}
  raw["num_decoder_layers"] = t5.n_decoder_layers
  raw.update(model_type="t5", is_encoder_decoder=True, tie_word_embeddings=t5.tie_word_embeddings,
             pad_token_id=0, eos_token_id=1, dtype="float32", torch_dtype="float32")
  if isinstance(config, ChronosConfig):
    raw["architectures"] = ["T5ForConditionalGeneration"]
    raw["chronos_pipeline_class"] = "ChronosPipeline"
    raw["chronos_config"] = {
        "tokenizer_class": "MeanScaleUniformBins",
        "tokenizer_kwargs": {"low_limit": config.low_limit, "high_limit": config.high_limit},
        "context_length": config.context_length, "prediction_length": config.prediction_length,
        "n_tokens": config.n_tokens, "n_special_tokens": config.n_special_tokens,
        "pad_token_id": config.pad_token_id, "eos_token_id": config.eos_token_id,
        "use_eos_token": config.use_eos_token, "model_type": "seq2seq",
        "num_samples": config.num_samples, "temperature": config.temperature,
        "top_k": config.top_k, "top_p": config.top_p}
  else:
    raw["architectures"] = ["ChronosBoltModelForForecasting"]
    raw["chronos_pipeline_class"] = "ChronosBoltPipeline"
    raw["chronos_config"] = {
        "context_length": config.context_length, "prediction_length": config.prediction_length,
        "input_patch_size": config.input_patch_size,
        "input_patch_stride": config.input_patch_stride,
        "quantiles": list(config.quantiles), "use_reg_token": config.use_reg_token}
  return raw


def _attention_entries(prefix: str, path: tuple) -> Iterator[Entry]:
  for name in "qkvo":
    yield f"{prefix}.{name}.weight", path + (name, "kernel"), True


def _ff_entries(prefix: str, path: tuple, t5: T5Config) -> Iterator[Entry]:
  for name in (("wi_0", "wi_1") if t5.is_gated else ("wi",)) + ("wo",):
    yield f"{prefix}.DenseReluDense.{name}.weight", path + ("ff", name), True
  yield f"{prefix}.layer_norm.weight", path + ("ff_norm", "weight"), False


def t5_entries(t5: T5Config) -> list[Entry]:
  """Hugging Face tensor names of a dense T5 and where they live in :class:`~models.t5.T5`."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  entries: list[Entry] = [("shared.weight", ("shared",), False)]
  for stack, layers in (("encoder", t5.num_layers), ("decoder", t5.n_decoder_layers)):
    entries.append((f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    (stack, "relative_attention_bias"), False))
    entries.append((f"{stack}.final_layer_norm.weight", (stack, "final_norm", "weight"), False))
    for i in range(layers):
      block, path = f"{stack}.block.{i}.layer", (stack, "layers", i)
      entries += _attention_entries(f"{block}.0.SelfAttention", path + ("self_attention",))
      entries.append((f"{block}.0.layer_norm.weight", path + ("self_norm", "weight"), False))
      ff = 1
      if stack == "decoder":
        entries += _attention_entries(f"{block}.1.EncDecAttention", path + ("cross_attention",))
        entries.append((f"{block}.1.layer_norm.weight", path + ("cross_norm", "weight"), False))
        ff = 2
      entries += _ff_entries(f"{block}.{ff}", path, t5)
  return entries


def _bolt_entries(config: BoltConfig) -> list[Entry]:
  entries = t5_entries(config.t5)
  for block in ("input_patch_embedding", "output_patch_embedding"):
    for layer in ("hidden_layer", "output_layer", "residual_layer"):
      entries.append((f"{block}.{layer}.weight", (block, layer, "kernel"), True))
      entries.append((f"{block}.{layer}.bias", (block, layer, "bias"), False))
  return entries


def entries_for(config: ChronosConfig | BoltConfig) -> list[Entry]:
  """All tensor names a checkpoint of ``config`` must contain, with their Flax paths."""
  if isinstance(config, BoltConfig):
    return _bolt_entries(config)
  if isinstance(config, ChronosConfig):
    entries = t5_entries(config.t5)
    if not config.t5.tie_word_embeddings:
      entries.append(("lm_head.weight", ("lm_head",), True))
    return entries
  raise ValueError(f"config must be a ChronosConfig or BoltConfig, got {type(config).__name__}")


def _optional_names(config) -> set[str]:
  names = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
  if config.t5.tie_word_embeddings or isinstance(config, BoltConfig):
    names.add("lm_head.weight")
  return names


# transformers itself drops this tensor of old checkpoints (cross-attention has no bias).
_IGNORED = {"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}


def read_tensors(folder: Any) -> dict[str, np.ndarray]:
  """All tensors of a checkpoint folder as numpy arrays (safetensors, sharded, or .bin)."""
  folder = _folder(folder)
  single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
  if single.exists() or index.exists():
    from safetensors.numpy import load_file
    files = [single] if single.exists() else sorted(
        {folder / f for f in json.loads(index.read_text())["weight_map"].values()})
    tensors = {}
    for f in files:
      tensors.update(load_file(str(f)))
    return tensors
  binary = folder / "pytorch_model.bin"
  if binary.exists():
    try:
      import torch
    except ImportError:
      raise ValueError(f"{binary} needs torch to read; install the 'reference' extra or convert"
                       " it to safetensors") from None
    state = torch.load(str(binary), map_location="cpu", weights_only=True)
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in state.items()}
  raise ValueError(f"folder {folder} has no model.safetensors, model.safetensors.index.json or "
                   "pytorch_model.bin")


def _model_class(config):
  from lowrank_ts.models.chronos import Chronos
  if isinstance(config, BoltConfig):
    from lowrank_ts.models.chronos_bolt import ChronosBolt
    return ChronosBolt
  return Chronos


def _set_path(tree: dict, path: tuple, value) -> None:
  for key in path[:-1]:
    tree = tree[key]
  tree[path[-1]] = value


def _get_path(tree, path: tuple):
  for key in path:
    tree = tree[key]
  return tree


def from_tensors(config: ChronosConfig | BoltConfig, tensors: dict[str, np.ndarray],
                 seed: int = 0, dtype=jnp.float32):
  """Builds the Flax model of ``config`` holding ``tensors`` (Hugging Face names)."""
  entries = entries_for(config)
  if not config.t5.is_dense:
    raise ValueError("config must describe a dense T5 (Hugging Face checkpoints are dense)")
  if not isinstance(tensors, dict):
    raise ValueError(f"tensors must be a dict of arrays, got {type(tensors).__name__}")
  cls = _model_class(config)
  abstract = nnx.eval_shape(lambda: cls(config, rngs=nnx.Rngs(seed), dtype=dtype))
  graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
  pure = nnx.to_pure_dict(params)
  expected = {name for name, _, _ in entries}
  tensors = dict(tensors)
  if "lm_head.weight" in expected and "lm_head.weight" not in tensors:
    # transformers >= 5 ties lm_head to shared even for untied (T5 v1.1) configs and does not
    # save it; only the output rescaling is switched off.
    tensors["lm_head.weight"] = tensors.get("shared.weight")
  for name, path, transposed in entries:
    if tensors.get(name) is None:
      raise ValueError(f"checkpoint is missing tensor {name!r}")
    value = np.asarray(tensors[name])
    value = value.T if transposed else value
    want = _get_path(pure, path)
    if value.shape != tuple(want.shape):
      raise ValueError(f"tensor {name!r} has shape {np.asarray(tensors[name]).shape}, expected "
                       f"{tuple(want.shape)[::-1] if transposed else tuple(want.shape)}")
    _set_path(pure, path, jnp.asarray(value, dtype))
  shared = np.asarray(tensors["shared.weight"])
  for name in tensors:
    if name in expected or name in _IGNORED:
      continue
    if name in _optional_names(config):
      if np.shape(tensors[name]) != shared.shape or not np.array_equal(tensors[name], shared):
        raise ValueError(f"tensor {name!r} should be a tied copy of 'shared.weight' but differs")
      continue
    raise ValueError(f"checkpoint has unexpected tensor {name!r}")

  nnx.replace_by_pure_dict(params, pure)
  return nnx.merge(graphdef, params, _fresh_rng_state(rest, seed))


def _fresh_rng_state(rest, seed: int):
  """Concrete values for the non-parameter state (dropout RNG keys and counters)."""
  leaves, treedef = jax.tree.flatten(rest)
  base = jax.random.key(seed)
  values = [jax.random.fold_in(base, i) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
            else jnp.zeros(leaf.shape, leaf.dtype) for i, leaf in enumerate(leaves)]
  return jax.tree.unflatten(treedef, values)


def load(folder: Any, seed: int = 0, dtype=jnp.float32):
  """Loads a Chronos (:class:`Chronos`) or Chronos-Bolt (:class:`ChronosBolt`) checkpoint."""
  folder = _folder(folder)
  config_file = folder / "config.json"
  if not config_file.exists():
    raise ValueError(f"folder {folder} has no config.json")
  config = config_from_json(json.loads(config_file.read_text()))
  return from_tensors(config, read_tensors(folder), seed=seed, dtype=dtype)


def _model_value(model, path: tuple) -> np.ndarray:
  obj = model
  for key in path[:-1]:
    obj = obj[key] if isinstance(key, int) else getattr(obj, key)
  if path[-1] == "kernel" and hasattr(obj, "dense_kernel"):
    value = obj.dense_kernel()  # factorised projections are multiplied out
  else:
    value = getattr(obj, path[-1])[...]
  return np.asarray(jax.device_get(value), dtype=np.float32)


def to_tensors(model) -> dict[str, np.ndarray]:
  """The Hugging Face tensors (fp32, torch layout) of a Chronos or Chronos-Bolt model."""
  config = _model_config(model)
  t5 = config.t5
  for which in ("encoder", "decoder_self", "decoder_cross"):
    for spec in t5.attention_specs(which):
      if (spec.n_heads, spec.d_kv) != (t5.num_heads, t5.d_kv):
        raise ValueError(f"model has {which} attention with {spec.n_heads} heads of size "
                         f"{spec.d_kv}; a Hugging Face T5 needs {t5.num_heads} x {t5.d_kv} in "
                         "every layer")
  tensors = {}
  for name, path, transposed in entries_for(config):
    value = _model_value(model, path)
    tensors[name] = np.ascontiguousarray(value.T if transposed else value)
  return tensors


def _model_config(model) -> ChronosConfig | BoltConfig:
  config = getattr(model, "bolt", None) or getattr(model, "chronos", None)
  if not isinstance(config, (ChronosConfig, BoltConfig)):
    raise ValueError(f"model must be a Chronos or ChronosBolt model, got {type(model).__name__}")
  return config


def dense_config(config: ChronosConfig | BoltConfig) -> ChronosConfig | BoltConfig:
  """``config`` with per-layer attention specs dropped (what an export describes)."""
  if not isinstance(config, (ChronosConfig, BoltConfig)):
    raise ValueError(f"config must be a ChronosConfig or BoltConfig, got {type(config).__name__}")
  t5 = dataclasses.replace(config.t5, encoder_attention=None, decoder_self_attention=None,
                           decoder_cross_attention=None)
  return dataclasses.replace(config, t5=t5)


def save(model, folder: Any) -> pathlib.Path:
  """Writes ``config.json`` and ``model.safetensors`` so chronos-forecasting can load them."""
  from safetensors.numpy import save_file
  folder = _folder(folder)
  tensors = to_tensors(model)
  folder.mkdir(parents=True, exist_ok=True)
  raw = config_to_json(dense_config(_model_config(model)))
  (folder / "config.json").write_text(json.dumps(raw, indent=2) + "\n")
  # transformers refuses safetensors files without format metadata.
  save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
  return folder
