"""Import and export Chronos / Chronos-Bolt checkpoints in Hugging Face format.

A checkpoint folder holds ``config.json`` (a T5 config plus ``chronos_config``) and
``model.safetensors`` (or a sharded ``model.safetensors.index.json``, or ``pytorch_model.bin``,
which needs torch). :func:`load` builds the Flax model; :func:`save` writes a folder that
chronos-forecasting's ``BaseChronosPipeline.from_pretrained(folder)`` loads. Factorised
attention (eqs. 19-20) is exported multiplied out to dense matrices, as the authors' post-hoc
compression does; layouts with per-layer heads / head sizes have no Hugging Face T5
equivalent and are refused. ``save(model, folder, factorised=True)`` keeps the factors
instead: the folder's ``config.json`` then records each projection's form under
``lowrank_ts_attention`` and the tensors are named ``<projection>.sketch`` / ``.lift``; such a
folder (what ``lowrank-ts compress`` writes) is read by :func:`load` and by every
command of this project, not by transformers.

Every tensor is checked: a missing, unexpected or mis-shaped tensor raises ``ValueError``
naming it. Tied copies of the shared embedding (``encoder.embed_tokens.weight``,
``decoder.embed_tokens.weight``, and ``lm_head.weight`` when tied) are accepted only if
they equal ``shared.weight``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.models import registry
from lowrank_ts.models.config import (
  ATTENTION_KINDS,
  AttentionSpec,
  ProjectionSpec,
  T5Config,
  config_from_hf,
)
from lowrank_ts.models.registry import ModelConfig

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
    raise ValueError(f"T5 fields: {err}") from None


CONFIG_FILE = "config.json"  # what makes a folder a checkpoint folder
LOWRANK_KEY = "lowrank_ts_attention"


def _projection_forms(t5: T5Config) -> dict:
  """``{kind: [{q: [form, rank], ...} per layer]}``: the projections' forms (``save``'s
  ``factorised`` folders)."""
  return {kind: [{p: [getattr(s, p).kind, getattr(s, p).rank] for p in "qkvo"}
                 for s in t5.attention_specs(kind)] for kind in ATTENTION_KINDS}


def _with_projection_forms(t5: T5Config, forms) -> T5Config:
  """``t5`` with the projections' forms recorded under ``lowrank_ts_attention``."""
  if not isinstance(forms, dict) or set(forms) != set(ATTENTION_KINDS):
    raise ValueError(f"{LOWRANK_KEY} must map {list(ATTENTION_KINDS)} to per-layer forms")
  specs = {}
  for kind in ATTENTION_KINDS:
    layers = forms[kind]
    if not isinstance(layers, list) or len(layers) != len(t5.attention_specs(kind)):
      raise ValueError(f"{LOWRANK_KEY}.{kind} must list {len(t5.attention_specs(kind))} layers")
    try:
      specs[kind] = tuple(AttentionSpec(t5.num_heads, t5.d_kv, **{
          p: ProjectionSpec(*layer[p]) for p in "qkvo"}) for layer in layers)
    except (KeyError, TypeError, ValueError) as err:
      raise ValueError(f"{LOWRANK_KEY}.{kind}: {err}") from None
  return t5.with_attention(specs)


def config_from_json(raw: dict) -> ModelConfig:
  """The Chronos or Chronos-Bolt configuration described by a parsed ``config.json``."""
  if not isinstance(raw, dict):
    raise ValueError(f"raw must be a dict, got {type(raw).__name__}")
  if not isinstance(raw.get("chronos_config"), dict):
    raise ValueError("config.json has no chronos_config: not a Chronos checkpoint")
  config = config_from_hf(_t5_config_from_json(raw), raw["chronos_config"])
  if LOWRANK_KEY in raw:
    config = dataclasses.replace(config, t5=_with_projection_forms(config.t5, raw[LOWRANK_KEY]))
  return config


def config_to_json(config: ModelConfig) -> dict:
  """The ``config.json`` dictionary chronos-forecasting and transformers expect."""
  registry.check_config(config)
  t5 = config.t5
  raw = {k: getattr(t5, k) for k in _T5_FIELDS}
  raw.update(model_type="t5", is_encoder_decoder=True, tie_word_embeddings=t5.tie_word_embeddings,
             pad_token_id=0, eos_token_id=1, dtype="float32", torch_dtype="float32",
             architectures=[config.hf_architecture],
             chronos_pipeline_class=config.hf_pipeline_class, chronos_config=config.to_hf())
  return raw


def _attention_entries(prefix: str, path: tuple, spec: AttentionSpec) -> Iterator[Entry]:
  for name in "qkvo":
    if getattr(spec, name).kind == "dense":
      yield f"{prefix}.{name}.weight", path + (name, "kernel"), True
    else:  # factors as stored in the Flax model (no torch layout exists for them)
      for leaf in ("sketch", "lift"):
        yield f"{prefix}.{name}.{leaf}", path + (name, leaf), False


def _ff_entries(prefix: str, path: tuple, t5: T5Config) -> Iterator[Entry]:
  for name in (("wi_0", "wi_1") if t5.is_gated else ("wi",)) + ("wo",):
    yield f"{prefix}.DenseReluDense.{name}.weight", path + ("ff", name), True
  yield f"{prefix}.layer_norm.weight", path + ("ff_norm", "weight"), False


def t5_entries(t5: T5Config) -> list[Entry]:
  """Hugging Face tensor names of a T5 and where they live in :class:`~models.t5.T5`
  (factorised projections as ``.sketch`` / ``.lift``)."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  entries: list[Entry] = [("shared.weight", ("shared",), False)]
  for stack, layers in (("encoder", t5.num_layers), ("decoder", t5.num_decoder_layers)):
    entries.append((f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    (stack, "relative_attention_bias"), False))
    entries.append((f"{stack}.final_layer_norm.weight", (stack, "final_norm", "weight"), False))
    for i in range(layers):
      block, path = f"{stack}.block.{i}.layer", (stack, "layers", i)
      self_spec = t5.attention_specs("encoder" if stack == "encoder" else "decoder_self")[i]
      entries += _attention_entries(f"{block}.0.SelfAttention", path + ("self_attention",),
                                    self_spec)
      entries.append((f"{block}.0.layer_norm.weight", path + ("self_norm", "weight"), False))
      ff = 1
      if stack == "decoder":
        entries += _attention_entries(f"{block}.1.EncDecAttention", path + ("cross_attention",),
                                      t5.attention_specs("decoder_cross")[i])
        entries.append((f"{block}.1.layer_norm.weight", path + ("cross_norm", "weight"), False))
        ff = 2
      entries += _ff_entries(f"{block}.{ff}", path, t5)
  return entries


def entries_for(config: ModelConfig, factorised: bool = False) -> list[Entry]:
  """All tensor names a checkpoint of ``config`` (dense) must contain, with their Flax paths:
  the T5's, then the model's own parameters outside it (Bolt's patch MLPs; an untied
  ``lm_head``), named as transformers names them (``kernel`` -> ``weight``, transposed)."""
  registry.check_config(config)
  config = config if factorised else dense_config(config)
  return _entries(config, nnx.state(registry.abstract(config), nnx.Param))


def _entries(config: ModelConfig, params) -> list[Entry]:
  """:func:`entries_for` given the (abstract) parameter state of ``config``'s dense model."""
  entries = t5_entries(config.t5)
  covered = {path for _, path, _ in entries}
  for path, _ in nnx.to_flat_state(params):
    if path in covered:
      continue
    *module, leaf = (str(key) for key in path)
    if leaf == "bias":
      entries.append((".".join([*module, "bias"]), path, False))
    else:  # a kernel [in, out], or the bare lm_head matrix [d_model, vocab]
      entries.append((".".join([*module, leaf] if leaf != "kernel" else module) + ".weight",
                      path, True))
  return entries


def _optional_names(entries: list[Entry]) -> set[str]:
  """Tied copies of ``shared.weight`` a checkpoint may hold (``lm_head.weight`` when the model
  has no separate LM head)."""
  names = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
  return names - {name for name, _, _ in entries}


# transformers itself drops this tensor of old checkpoints (cross-attention has no bias).
_IGNORED = {"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}


def _load_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
  from safetensors import SafetensorError
  from safetensors.numpy import load_file
  try:
    return load_file(str(path))
  except (SafetensorError, OSError, ValueError) as err:  # truncated, corrupt or not a file
    raise ValueError(f"checkpoint file {path} cannot be read as safetensors ({err}); it is "
                     "truncated or corrupt") from None


def _read_json(path: pathlib.Path) -> dict:
  try:
    raw = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
    raise ValueError(f"{path} is not valid JSON ({err})") from None
  if not isinstance(raw, dict):
    raise ValueError(f"{path} must hold a JSON object, got {type(raw).__name__}")
  return raw


def read_tensors(folder: Any) -> dict[str, np.ndarray]:
  """All tensors of a checkpoint folder as numpy arrays (safetensors, sharded, or .bin); a
  truncated or corrupt file raises ValueError naming it."""
  folder = _folder(folder)
  single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
  if single.exists():
    return _load_safetensors(single)
  if index.exists():
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
      raise ValueError(f"{index} has no weight_map of tensor names to files")
    tensors = {}
    for name in sorted(set(weight_map.values())):
      tensors.update(_load_safetensors(folder / name))
    return tensors
  binary = folder / "pytorch_model.bin"
  if binary.exists():
    try:
      import torch
    except ImportError:
      raise ValueError(f"{binary} needs torch to read; install the 'reference' extra or convert"
                       " it to safetensors") from None
    try:
      state = torch.load(str(binary), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as err:
      raise ValueError(f"checkpoint file {binary} cannot be read ({err}); it is truncated or "
                       "corrupt") from None
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in state.items()}
  raise ValueError(f"folder {folder} has no model.safetensors, model.safetensors.index.json or "
                   "pytorch_model.bin")


def _set_path(tree: dict, path: tuple, value) -> None:
  for key in path[:-1]:
    tree = tree[key]
  tree[path[-1]] = value


def _get_path(tree, path: tuple):
  for key in path:
    tree = tree[key]
  return tree


def from_tensors(config: ModelConfig, tensors: dict[str, np.ndarray], seed: int = 0,
                 dtype=jnp.float32):
  """Builds the Flax model of ``config`` holding ``tensors`` (Hugging Face names)."""
  registry.check_config(config)
  t5 = config.t5
  if any((s.n_heads, s.d_kv) != (t5.num_heads, t5.d_kv)
         for kind in ATTENTION_KINDS for s in t5.attention_specs(kind)):
    raise ValueError("config must have num_heads x d_kv attention in every layer (Hugging Face "
                     "checkpoints do)")
  if not isinstance(tensors, dict):
    raise ValueError(f"tensors must be a dict of arrays, got {type(tensors).__name__}")
  graphdef, params, rest = nnx.split(registry.abstract(config, dtype), nnx.Param, ...)
  entries = _entries(config, params)  # the model just built is dense: no second abstract build
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
  optional = _optional_names(entries)
  for name in tensors:
    if name in expected or name in _IGNORED:
      continue
    if name in optional:
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


def load(folder: Any, seed: int = 0, dtype=jnp.float32) -> registry.ForecastModel:
  """Loads a Chronos or Chronos-Bolt checkpoint folder into its Flax model; a ValueError
  names the first tensor that is not finite."""
  folder = _folder(folder)
  config_file = folder / CONFIG_FILE
  if not config_file.exists():
    raise ValueError(f"folder {folder} has no {CONFIG_FILE}")
  try:
    config = config_from_json(_read_json(config_file))
  except (TypeError, ValueError) as err:
    raise ValueError(f"{config_file}: {err}") from None
  tensors = read_tensors(folder)
  checks.finite_tensors(tensors, f"checkpoint {folder}")
  return from_tensors(config, tensors, seed=seed, dtype=dtype)


def _model_value(model, path: tuple) -> np.ndarray:
  obj = model
  for key in path[:-1]:
    obj = obj[key] if isinstance(key, int) else getattr(obj, key)
  if path[-1] == "kernel" and hasattr(obj, "dense_kernel"):
    value = obj.dense_kernel()  # factorised projections are multiplied out
  else:
    value = getattr(obj, path[-1])[...]
  return np.asarray(jax.device_get(value), dtype=np.float32)


def to_tensors(model: registry.ForecastModel, factorised: bool = False
               ) -> dict[str, np.ndarray]:
  """The Hugging Face tensors (fp32, torch layout) of a Chronos or Chronos-Bolt model;
  factorised projections multiplied out, or kept as factors with ``factorised``."""
  t5 = registry.check_model(model).config.t5
  for kind in ATTENTION_KINDS:
    for spec in t5.attention_specs(kind):
      if (spec.n_heads, spec.d_kv) != (t5.num_heads, t5.d_kv):
        raise ValueError(f"model has {kind} attention with {spec.n_heads} heads of size "
                         f"{spec.d_kv}; a Hugging Face T5 needs {t5.num_heads} x {t5.d_kv} in "
                         "every layer")
  tensors = {}
  for name, path, transposed in entries_for(model.config, factorised):
    value = _model_value(model, path)
    tensors[name] = np.ascontiguousarray(value.T if transposed else value)
  return tensors


def dense_config(config: ModelConfig) -> ModelConfig:
  """``config`` with per-layer attention specs dropped (what an export describes)."""
  registry.check_config(config)
  return dataclasses.replace(config, t5=config.t5.dense())


def save(model: registry.ForecastModel, folder: Any, factorised: bool = False
         ) -> pathlib.Path:
  """Writes ``config.json`` and ``model.safetensors`` so chronos-forecasting can load them;
  with ``factorised``, factorised projections stay factors (only this project loads those)."""
  from safetensors.numpy import save_file
  folder = _folder(folder)
  tensors = to_tensors(model, factorised)
  folder.mkdir(parents=True, exist_ok=True)
  raw = config_to_json(dense_config(model.config))
  if factorised and not model.config.t5.is_dense:
    raw[LOWRANK_KEY] = _projection_forms(model.config.t5)
  (folder / CONFIG_FILE).write_text(json.dumps(raw, indent=2) + "\n")
  # transformers refuses safetensors files without format metadata.
  save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
  return folder
