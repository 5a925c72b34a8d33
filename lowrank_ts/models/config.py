"""Frozen-dataclass configurations for Chronos (T5) and Chronos-Bolt, and their named sizes.

A :class:`T5Config` fixes the transformer; per-attention-layer :class:`AttentionSpec` entries
(heads, head size and a :class:`ProjectionSpec` per q/k/v/o) describe the low-rank variants
of the paper (§5, eqs. 19-20) and of the authors' code (reduced heads / head size per layer).
``None`` means "dense, ``num_heads`` x ``d_kv`` everywhere", i.e. the published checkpoints.

Named configurations (:data:`CHRONOS_CONFIGS`, :data:`BOLT_CONFIGS`) use the published sizes
(Chronos-T5 tiny ... large follow t5-efficient; Bolt tiny ... base), plus ``*-cpu`` ones
small enough for tests on two CPU cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from lowrank_ts import checks
from lowrank_ts.models.tokenizer import MeanScaleUniformBins

PROJECTION_KINDS = ("dense", "shared_sketch", "head_sketch")
# The three kinds of attention layer of a T5, in the order the authors index them.
ATTENTION_KINDS = ("encoder", "decoder_self", "decoder_cross")
# The quantile levels every forecast is reported at (Chronos' evaluation; Bolt's head).
QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclasses.dataclass(frozen=True)
class ProjectionSpec:
  """How one of q, k, v, o is parameterised.

  ``dense``: a full matrix. ``shared_sketch`` (eq. 19): ``W = W_1 W_2`` with the rank-``rank``
  sketch ``W_2`` shared by all heads. ``head_sketch`` (eq. 20): ``W^(i) = W_1^(i) W_2^(i)``,
  one rank-``rank`` factorisation per head.
  """
  kind: str = "dense"
  rank: int | None = None

  def __post_init__(self):
    if self.kind not in PROJECTION_KINDS:
      raise ValueError(f"kind must be one of {PROJECTION_KINDS}, got {self.kind!r}")
    if self.kind == "dense":
      if self.rank is not None:
        raise ValueError(f"rank must be None for a dense projection, got {self.rank!r}")
    else:
      checks.positive_int(self.rank, "rank")


DENSE = ProjectionSpec()


@dataclasses.dataclass(frozen=True)
class AttentionSpec:
  """One attention layer: ``n_heads`` heads of size ``d_kv`` and a spec per projection."""
  n_heads: int
  d_kv: int
  q: ProjectionSpec = DENSE
  k: ProjectionSpec = DENSE
  v: ProjectionSpec = DENSE
  o: ProjectionSpec = DENSE

  def __post_init__(self):
    checks.positive_int(self.n_heads, "n_heads")
    checks.positive_int(self.d_kv, "d_kv")
    for name in "qkvo":
      if not isinstance(getattr(self, name), ProjectionSpec):
        raise ValueError(f"{name} must be a ProjectionSpec, got {getattr(self, name)!r}")

  @property
  def inner_dim(self) -> int:
    return self.n_heads * self.d_kv

  @property
  def is_dense(self) -> bool:
    return all(getattr(self, name).kind == "dense" for name in "qkvo")


FEED_FORWARD_PROJ = ("relu", "gated-gelu", "gelu", "gated-relu", "gated-silu")


@dataclasses.dataclass(frozen=True)
class T5Config:
  """An encoder-decoder T5 as transformers' ``T5Config`` describes it (same field names)."""
  vocab_size: int
  d_model: int
  d_ff: int
  num_layers: int
  num_heads: int
  d_kv: int
  num_decoder_layers: int | None = None
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  dropout_rate: float = 0.1
  layer_norm_epsilon: float = 1e-6
  initializer_factor: float = 0.05
  feed_forward_proj: str = "relu"
  tie_word_embeddings: bool = True
  decoder_start_token_id: int = 0
  # Per-layer attention layouts; None = dense num_heads x d_kv in every layer.
  encoder_attention: tuple[AttentionSpec, ...] | None = None
  decoder_self_attention: tuple[AttentionSpec, ...] | None = None
  decoder_cross_attention: tuple[AttentionSpec, ...] | None = None

  def __post_init__(self):
    for name in ("vocab_size", "d_model", "d_ff", "num_layers", "num_heads", "d_kv",
                 "relative_attention_num_buckets", "relative_attention_max_distance"):
      checks.positive_int(getattr(self, name), name)
    if self.num_decoder_layers is None:  # T5's default: as many as encoder layers
      object.__setattr__(self, "num_decoder_layers", self.num_layers)
    # From here on num_decoder_layers is an int.
    checks.positive_int(self.num_decoder_layers, "num_decoder_layers")
    if self.relative_attention_num_buckets < 4:
      raise ValueError("relative_attention_num_buckets must be >= 4, got "
                       f"{self.relative_attention_num_buckets}")
    if not 0.0 <= float(self.dropout_rate) < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate!r}")
    checks.positive_float(self.layer_norm_epsilon, "layer_norm_epsilon")
    checks.positive_float(self.initializer_factor, "initializer_factor")
    if self.feed_forward_proj not in FEED_FORWARD_PROJ:
      raise ValueError(
          f"feed_forward_proj must be one of {FEED_FORWARD_PROJ}, got {self.feed_forward_proj!r}")
    checks.positive_int(self.decoder_start_token_id, "decoder_start_token_id", allow_zero=True)
    for kind in ATTENTION_KINDS:
      name, layers = self._attention_field(kind)
      specs = getattr(self, name)
      if specs is None:
        continue
      if not isinstance(specs, tuple) or len(specs) != layers:
        raise ValueError(f"{name} must be a tuple of {layers} AttentionSpec, got {specs!r}")
      for spec in specs:
        if not isinstance(spec, AttentionSpec):
          raise ValueError(f"{name} entries must be AttentionSpec, got {spec!r}")
      if name != "decoder_cross_attention" and any(s.n_heads != specs[0].n_heads for s in specs):
        # The relative position bias of layer 0 (one column per head) is shared by all layers.
        raise ValueError(f"{name}: every self-attention layer must have the same n_heads")

  def _attention_field(self, kind: str) -> tuple[str, int]:
    """The field holding ``kind``'s per-layer specs, and its number of layers."""
    if kind not in ATTENTION_KINDS:
      raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}")
    layers = self.num_layers if kind == "encoder" else self.num_decoder_layers
    return f"{kind}_attention", layers

  @property
  def is_gated(self) -> bool:
    return self.feed_forward_proj.startswith("gated-")

  @property
  def activation(self) -> str:
    act = self.feed_forward_proj.split("-")[-1]
    return "gelu_new" if act == "gelu" else act

  def attention_specs(self, kind: str) -> tuple[AttentionSpec, ...]:
    """Per-layer specs of one of :data:`ATTENTION_KINDS`."""
    name, layers = self._attention_field(kind)
    specs = getattr(self, name)
    if specs is None:
      specs = (AttentionSpec(self.num_heads, self.d_kv),) * layers
    return specs

  def with_attention(self, specs: Mapping[str, tuple[AttentionSpec, ...] | None]
                     ) -> T5Config:
    """This config with the per-layer specs of the kinds in ``specs`` replaced (``None`` =
    dense ``num_heads x d_kv``); kinds not named keep theirs."""
    if not isinstance(specs, Mapping) or set(specs) - set(ATTENTION_KINDS):
      raise ValueError(f"specs must map kinds of {ATTENTION_KINDS} to per-layer specs, got "
                       f"{specs!r}")
    return dataclasses.replace(self, **{self._attention_field(kind)[0]: (
        None if value is None else tuple(value)) for kind, value in specs.items()})

  def dense(self) -> T5Config:
    """This config with dense ``num_heads x d_kv`` attention everywhere (the published form)."""
    return self.with_attention(dict.fromkeys(ATTENTION_KINDS))

  @property
  def is_dense(self) -> bool:
    """True when the model is a plain T5 (exportable to Hugging Face as is)."""
    return all(s.is_dense and s.n_heads == self.num_heads and s.d_kv == self.d_kv
               for kind in ATTENTION_KINDS for s in self.attention_specs(kind))


@dataclasses.dataclass(frozen=True)
class ChronosConfig:
  """Chronos: a T5 over :class:`MeanScaleUniformBins` tokens, plus the pipeline's sampling
  defaults."""
  t5: T5Config
  tokenizer: MeanScaleUniformBins = dataclasses.field(default_factory=MeanScaleUniformBins)
  context_length: int = 512
  prediction_length: int = 64
  num_samples: int = 20
  temperature: float = 1.0
  top_k: int = 50
  top_p: float = 1.0

  def __post_init__(self):
    if not isinstance(self.t5, T5Config):
      raise ValueError(f"t5 must be a T5Config, got {type(self.t5).__name__}")
    if not isinstance(self.tokenizer, MeanScaleUniformBins):
      raise ValueError(f"tokenizer must be a MeanScaleUniformBins, got "
                       f"{type(self.tokenizer).__name__}")
    for name in ("context_length", "prediction_length", "num_samples", "top_k"):
      checks.positive_int(getattr(self, name), name)
    if self.tokenizer.n_tokens != self.t5.vocab_size:
      raise ValueError(f"tokenizer.n_tokens={self.tokenizer.n_tokens} must equal "
                       f"t5.vocab_size={self.t5.vocab_size}")
    checks.positive_float(self.temperature, "temperature")
    checks.positive_float(self.top_p, "top_p", upper=1.0)

  # Chronos decodes any number of tokens: a training horizon has no upper limit.
  max_training_horizon = None

  # The ``chronos_config`` block of a Hugging Face config.json (chronos-forecasting's).
  hf_architecture = "T5ForConditionalGeneration"
  hf_pipeline_class = "ChronosPipeline"

  def to_hf(self) -> dict:
    tok = self.tokenizer
    return {"tokenizer_class": "MeanScaleUniformBins",
            "tokenizer_kwargs": {"low_limit": tok.low_limit, "high_limit": tok.high_limit},
            "context_length": self.context_length, "prediction_length": self.prediction_length,
            "n_tokens": tok.n_tokens, "n_special_tokens": tok.n_special_tokens,
            "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id,
            "use_eos_token": tok.use_eos_token, "model_type": "seq2seq",
            "num_samples": self.num_samples, "temperature": self.temperature,
            "top_k": self.top_k, "top_p": self.top_p}

  @classmethod
  def from_hf(cls, t5: T5Config, raw: Mapping) -> ChronosConfig:
    if raw.get("model_type", "seq2seq") != "seq2seq":
      raise ValueError(f"chronos_config.model_type {raw.get('model_type')!r} is not supported; "
                       "only seq2seq (T5) Chronos models are")
    if raw.get("tokenizer_class", "MeanScaleUniformBins") != "MeanScaleUniformBins":
      raise ValueError(f"chronos_config.tokenizer_class {raw['tokenizer_class']!r} is not "
                       "supported; only MeanScaleUniformBins is")
    tokenizer_fields = ("n_tokens", "n_special_tokens", "pad_token_id", "eos_token_id",
                        "use_eos_token")
    limits = raw.get("tokenizer_kwargs", {})
    tokenizer = MeanScaleUniformBins(**{k: raw[k] for k in tokenizer_fields if k in raw},
                                     **{k: float(limits[k]) for k in ("low_limit", "high_limit")
                                        if k in limits})
    fields = ("context_length", "prediction_length", "num_samples", "temperature", "top_k",
              "top_p")
    return cls(t5=t5, tokenizer=tokenizer, **{k: raw[k] for k in fields if k in raw})


@dataclasses.dataclass(frozen=True)
class BoltConfig:
  """Chronos-Bolt: patched, instance-normalised inputs into a T5, quantile head out."""
  t5: T5Config
  context_length: int = 2048
  prediction_length: int = 64
  input_patch_size: int = 16
  input_patch_stride: int = 16
  quantiles: tuple[float, ...] = QUANTILE_LEVELS
  use_reg_token: bool = True

  def __post_init__(self):
    if not isinstance(self.t5, T5Config):
      raise ValueError(f"t5 must be a T5Config, got {type(self.t5).__name__}")
    for name in ("context_length", "prediction_length", "input_patch_size", "input_patch_stride"):
      checks.positive_int(getattr(self, name), name)
    if self.input_patch_stride != self.input_patch_size:
      raise ValueError("input_patch_stride must equal input_patch_size (non-overlapping patches),"
                       f" got {self.input_patch_stride} and {self.input_patch_size}")
    if not isinstance(self.quantiles, tuple) or not self.quantiles:
      raise ValueError(f"quantiles must be a non-empty tuple, got {self.quantiles!r}")
    if any(not 0.0 < q < 1.0 for q in self.quantiles) or list(self.quantiles) != sorted(
        self.quantiles):
      raise ValueError(f"quantiles must be increasing levels in (0, 1), got {self.quantiles}")
    expected_vocab = 2 if self.use_reg_token else 1
    if self.t5.vocab_size != expected_vocab:
      raise ValueError(f"t5.vocab_size must be {expected_vocab} for Chronos-Bolt "
                       f"(use_reg_token={self.use_reg_token}), got {self.t5.vocab_size}")

  @property
  def max_training_horizon(self) -> int:
    """The quantile head forecasts ``prediction_length`` steps: no longer target trains it."""
    return self.prediction_length

  hf_architecture = "ChronosBoltModelForForecasting"
  hf_pipeline_class = "ChronosBoltPipeline"

  def to_hf(self) -> dict:
    return {"context_length": self.context_length, "prediction_length": self.prediction_length,
            "input_patch_size": self.input_patch_size,
            "input_patch_stride": self.input_patch_stride,
            "quantiles": list(self.quantiles), "use_reg_token": self.use_reg_token}

  @classmethod
  def from_hf(cls, t5: T5Config, raw: Mapping) -> BoltConfig:
    try:
      return cls(t5=t5, context_length=raw["context_length"],
                 prediction_length=raw["prediction_length"],
                 input_patch_size=raw["input_patch_size"],
                 input_patch_stride=raw["input_patch_stride"],
                 quantiles=tuple(float(q) for q in raw["quantiles"]),
                 use_reg_token=bool(raw.get("use_reg_token", False)))
    except KeyError as err:
      raise ValueError(f"chronos_config has no {err.args[0]!r}") from None


def _t5(vocab_size, d_model, d_ff, layers, heads, d_kv=64, **kw) -> T5Config:
  return T5Config(vocab_size=vocab_size, d_model=d_model, d_ff=d_ff, num_layers=layers,
                  num_heads=heads, d_kv=d_kv, **kw)


# (d_model, d_ff, layers per stack, heads, d_kv): t5-efficient sizes used by Chronos(-Bolt).
_SIZES = {
    "tiny": (256, 1024, 4, 4, 64),
    "mini": (384, 1536, 4, 8, 64),
    "small": (512, 2048, 6, 8, 64),
    "base": (768, 3072, 12, 12, 64),
    "large": (1024, 4096, 24, 16, 64),
}

_VOCAB = MeanScaleUniformBins().n_tokens
CHRONOS_CONFIGS: dict[str, ChronosConfig] = {
    f"chronos-t5-{size}": ChronosConfig(_t5(_VOCAB, *dims)) for size, dims in _SIZES.items()
}
# CPU-sized: same vocabulary and tokenizer, a thin transformer.
CHRONOS_CONFIGS["chronos-t5-cpu"] = ChronosConfig(_t5(_VOCAB, 64, 256, 2, 4, 16))
CHRONOS_CONFIGS["chronos-t5-cpu-mini"] = ChronosConfig(_t5(_VOCAB, 48, 96, 2, 4, 16))
# The text control of Fig. 2: the reference model's backbone (chronos-bolt-cpu-zs: d_model 64,
# d_ff 256, 2 + 2 layers, 4 heads of 16) over 256 byte tokens and Chronos' two special tokens
# (lowrank_ts.data.text_corpus), reading 32 bytes and predicting the next 8 (33 encoder tokens,
# near the reference's 17 patches, so 100 000 steps fit the CPU training budget). Its tokenizer
# is only the vocabulary's bookkeeping: the text pipeline makes the token ids.
CHRONOS_CONFIGS["chronos-t5-bytes-cpu"] = ChronosConfig(
    _t5(258, 64, 256, 2, 4, 16), tokenizer=MeanScaleUniformBins(n_tokens=258),
    context_length=32, prediction_length=8)

BOLT_CONFIGS: dict[str, BoltConfig] = {
    f"chronos-bolt-{size}": BoltConfig(_t5(2, *_SIZES[size]))
    for size in ("tiny", "mini", "small", "base")
}
BOLT_CONFIGS["chronos-bolt-cpu"] = BoltConfig(_t5(2, 64, 256, 2, 4, 16), context_length=512)
# The CPU pretraining recipe's model (lowrank_ts.training.config "cpu-recipe"): 16 patches of
# context, a 16-step quantile head (the offline benchmark's horizons are <= 13).
BOLT_CONFIGS["chronos-bolt-cpu-h16"] = BoltConfig(_t5(2, 64, 256, 2, 4, 16), context_length=256,
                                                  prediction_length=16)
# The zero-shot CPU recipe's model ("cpu-zeroshot"): the same backbone with a 24-step head (the
# M3 / Tourism horizons go to 24) and 256 steps of context (longer than almost every benchmark
# history, enough for 21 monthly seasons).
BOLT_CONFIGS["chronos-bolt-cpu-zs"] = BoltConfig(_t5(2, 64, 256, 2, 4, 16), context_length=256,
                                                 prediction_length=24)


def config_from_hf(t5: T5Config, chronos_config: Mapping) -> ChronosConfig | BoltConfig:
  """The config a Hugging Face ``chronos_config`` block describes (Bolt's has patches)."""
  if not isinstance(chronos_config, Mapping):
    raise ValueError("config.json has no chronos_config: not a Chronos checkpoint")
  cls = BoltConfig if "input_patch_size" in chronos_config else ChronosConfig
  return cls.from_hf(t5, chronos_config)


def named_config(name: str) -> ChronosConfig | BoltConfig:
  """The named Chronos or Chronos-Bolt configuration (see CHRONOS_CONFIGS, BOLT_CONFIGS)."""
  if name in CHRONOS_CONFIGS:
    return CHRONOS_CONFIGS[name]
  if name in BOLT_CONFIGS:
    return BOLT_CONFIGS[name]
  raise ValueError(
      f"name must be one of {sorted(CHRONOS_CONFIGS) + sorted(BOLT_CONFIGS)}, got {name!r}")
