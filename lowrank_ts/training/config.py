"""The training configuration (a frozen dataclass), its named recipes and CLI overrides.

Defaults follow the Chronos recipe (AdamW, lr 1e-3 linearly to 0, no warmup, TSMixup :
KernelSynth = 0.9 : 0.1, min_past 60); ``context_length`` / ``prediction_length`` left ``None``
take the model config's values.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

from lowrank_ts import checks
from lowrank_ts.data import instances, text_corpus
from lowrank_ts.models import config as model_configs
from lowrank_ts.models import lowrank

COMPUTE_DTYPES = ("float32", "bfloat16")
TSMIXUP_WEIGHTINGS = ("uniform", "dataset", "table", "frequency")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model: str = "chronos-t5-cpu"
  # Low-rank attention for the named model, parsed by lowrank.parse_layout: "dense", the
  # authors' layout "authors:D0,BETA[,ALPHA]", or "PARAMETERIZATION:SCHEDULE:ARGS" with a
  # parameterization of lowrank.PARAMETERIZATIONS and a schedule "power:D0,ALPHA",
  # "uniform:RANK" or "concave:R_MIN,R_MAX[,GAMMA]" (e.g. "reduced_head_size:power:4,0.3").
  attention: str = "dense"
  # Model-size overrides applied to the named model before `attention`: comma-separated
  # "field=int" of T5Config (d_model, d_ff, num_heads, d_kv, num_layers, ...) or of the model
  # config (input_patch_size -- the stride follows it --, context_length, ...), e.g.
  # "d_model=128,d_kv=32,d_ff=512" (the trained-model rank sweeps, experiments/sweeps.py).
  model_overrides: str = ""
  # Chronos-T5 only: > 0 replaces the token embedding by the fixed rank-r Chebyshev table of
  # appendix I (lowrank_ts.training.fixed_vocabulary), excluded from optimisation; the
  # LM head is then untied (its own trained matrix), so only the input vocabulary is fixed.
  fixed_vocabulary_rank: int = 0
  steps: int = 1000
  batch_size: int = 32
  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  # AdamW's epsilon (HF's and optax's default 1e-8). At Chronos-T5's init (initializer_factor
  # 0.05) the attention projections' gradients are ~1e-10 to 1e-14, far below 1e-8, so Adam's
  # step there is ~lr * g / eps: W_Q stays at its init for thousands of steps. Short runs that
  # must train attention (experiments/sweeps.py, Fig. 4c) set it far below those gradients.
  adam_eps: float = 1e-8
  max_grad_norm: float = 1.0  # 0 disables clipping
  compute_dtype: str = "float32"
  checkpoint_every: int = 100
  keep_checkpoints: int = 3
  mesh_shape: tuple[int, int] = (1, 1)  # (data, fsdp)
  seed: int = 0
  log_every: int = 10
  # Data.
  context_length: int | None = None
  prediction_length: int | None = None
  min_past: int = 60
  # With this probability a training context keeps only its last k values, k log-uniform in
  # [min_past, short_context_max] (data.instances): yearly / quarterly-length histories.
  short_context_probability: float = 0.0
  short_context_max: int = 64
  # > 0: redraw instances whose target strays beyond that many context standard deviations
  # (data.instances: a near-constant context before a jump).
  max_target_zscore: float = 0.0
  kernel_synth_weight: float = 0.1
  # Probability of a fresh frequency-aware synthetic series (data.seasonal_synth: seasons of
  # period 4-52, ETS / ARIMA-like processes, trends, intermittent demand).
  seasonal_synth_weight: float = 0.0
  kernel_synth_series: int = 1000  # generated on the fly (seeded) unless kernel_synth_path
  kernel_synth_length: int = 1024
  kernel_synth_path: str = ""  # a .npy of KernelSynth series [N, T]
  real_series: bool = False  # add the real series' training parts to the TSMixup sources
  # Add the real corpus (lowrank_ts.data.corpus: R packages' time series, none sharing a window
  # with a benchmark series) to the TSMixup sources, each series its own dataset.
  real_corpus: bool = False
  # Leave the corpus's validation part (data.validation.held_out) out of training.
  corpus_holdout: bool = False
  # TSMixup source draws: "uniform" over all series, or "dataset" (Chronos' Algorithm 1: a
  # dataset uniformly, then one of its series; the KernelSynth pool is one dataset and each
  # real series is its own dataset, as R's datasets are separate datasets), or "table": as
  # "dataset", but the corpus's series of one source table (the first two parts of the name,
  # "package/item") form one dataset, so a panel of hundreds of series counts once; or
  # "frequency": the KernelSynth pool and each frequency bucket of the real series (yearly,
  # quarterly, monthly, other) equally likely, then a source table, then a series.
  tsmixup_weighting: str = "uniform"
  # Train on text instead of series (the text control of Fig. 2): byte windows of the English
  # prose that ships with Python (lowrank_ts.data.text_corpus), for a Chronos-T5 model whose
  # vocabulary is the 258 byte tokens; the series options above are then unused.
  text_corpus: bool = False

  def __post_init__(self):
    model_configs.named_config(self.model)  # ValueError naming `name` if unknown
    self.model_config  # noqa: B018 (computed once, here: a ValueError naming `attention`)
    for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every",
                 "min_past", "kernel_synth_series", "kernel_synth_length"):
      checks.positive_int(getattr(self, name), name)
    checks.seed(self.seed, "seed")
    checks.steps(self.steps, "steps")
    checks.positive_int(self.fixed_vocabulary_rank, "fixed_vocabulary_rank", allow_zero=True)
    if self.fixed_vocabulary_rank:
      # What the fixed table is built from (trainer.Trainer): the model's tokenizer.
      if getattr(self.model_config, "tokenizer", None) is None:
        raise ValueError(f"fixed_vocabulary_rank needs a Chronos-T5 model (a token vocabulary), "
                         f"got model={self.model!r}")
      if self.fixed_vocabulary_rank > self.model_config.t5.d_model:
        raise ValueError(f"fixed_vocabulary_rank={self.fixed_vocabulary_rank} must be <= "
                         f"d_model={self.model_config.t5.d_model}")
    if self.text_corpus and getattr(self.model_config, "tokenizer", None) is None or (
        self.text_corpus and self.model_config.t5.vocab_size != text_corpus.VOCAB):
      raise ValueError(f"text_corpus needs a Chronos-T5 model with {text_corpus.VOCAB} tokens "
                       f"(e.g. chronos-t5-bytes-cpu), got model={self.model!r}")
    checks.positive_float(self.learning_rate, "learning_rate")
    checks.positive_float(self.adam_eps, "adam_eps")
    for name in ("weight_decay", "max_grad_norm"):
      value = getattr(self, name)
      if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative float, got {value!r}")
    if self.compute_dtype not in COMPUTE_DTYPES:
      raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got "
                       f"{self.compute_dtype!r}")
    if (not isinstance(self.mesh_shape, tuple) or len(self.mesh_shape) != 2
        or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in self.mesh_shape)):
      raise ValueError(f"mesh_shape must be a (data, fsdp) tuple of positive ints, got "
                       f"{self.mesh_shape!r}")
    devices = self.mesh_shape[0] * self.mesh_shape[1]
    if self.batch_size % devices:
      raise ValueError(f"batch_size={self.batch_size} must be divisible by data x fsdp = "
                       f"{devices} (mesh_shape={self.mesh_shape})")
    for name in ("context_length", "prediction_length"):
      if getattr(self, name) is not None:
        checks.positive_int(getattr(self, name), name)
    for name in ("kernel_synth_weight", "seasonal_synth_weight", "short_context_probability"):
      checks.probability(getattr(self, name), name)
    if self.kernel_synth_weight + self.seasonal_synth_weight > 1:
      raise ValueError(f"kernel_synth_weight + seasonal_synth_weight must be <= 1, got "
                       f"{self.kernel_synth_weight} + {self.seasonal_synth_weight}")
    self.instance_config  # noqa: B018 (a ValueError naming the instance field)
    if self.tsmixup_weighting not in TSMIXUP_WEIGHTINGS:
      raise ValueError(f"tsmixup_weighting must be one of {TSMIXUP_WEIGHTINGS}, got "
                       f"{self.tsmixup_weighting!r}")
    if self.kernel_synth_path and not self.kernel_synth_path.endswith(".npy"):
      raise ValueError(f"kernel_synth_path must be a .npy file, got {self.kernel_synth_path!r}")
    limit = self.model_config.max_training_horizon
    if limit is not None and self.horizon > limit:
      raise ValueError(f"prediction_length={self.horizon} exceeds the model's longest training "
                       f"horizon {limit} (its quantile head)")

  @functools.cached_property
  def model_config(self) -> model_configs.ChronosConfig | model_configs.BoltConfig:
    """The named model's config with :attr:`attention`'s layout applied to its backbone
    (computed once per TrainConfig; a ValueError naming ``attention`` if it does not parse)."""
    base = apply_model_overrides(model_configs.named_config(self.model), self.model_overrides)
    if self.fixed_vocabulary_rank:  # the fixed table is the input vocabulary only
      base = dataclasses.replace(base, t5=dataclasses.replace(base.t5, tie_word_embeddings=False))
    return dataclasses.replace(base, t5=lowrank.parse_layout(self.attention).apply(base.t5))

  @property
  def instance_config(self) -> instances.InstanceConfig:
    """How training instances are cut (:mod:`lowrank_ts.data.instances`)."""
    return instances.InstanceConfig(
        context_length=self.context, prediction_length=self.horizon, min_past=self.min_past,
        short_context_probability=self.short_context_probability,
        short_context_max=self.short_context_max, max_target_zscore=self.max_target_zscore)

  @property
  def context(self) -> int:
    """The training windows' context length (``context_length`` or the model's)."""
    return self.context_length or self.model_config.context_length

  @property
  def horizon(self) -> int:
    """The training windows' target length (``prediction_length`` or the model's)."""
    return self.prediction_length or self.model_config.prediction_length


def apply_model_overrides(config, text: str):
  """``config`` (a ChronosConfig / BoltConfig) with the ``"field=int,..."`` overrides of
  :attr:`TrainConfig.model_overrides` applied: T5Config fields go to the backbone, the others
  to the model config (``input_patch_size`` sets the stride too). A ValueError naming
  ``model_overrides`` on anything else."""
  if not isinstance(text, str):
    raise ValueError(f"model_overrides must be a string, got {text!r}")
  if not text.strip():
    return config
  t5_fields = {f.name for f in dataclasses.fields(model_configs.T5Config)} - {
      "encoder_attention", "decoder_self_attention", "decoder_cross_attention"}  # `attention`
  top_fields = {f.name for f in dataclasses.fields(config)} - {"t5", "tokenizer", "quantiles"}
  t5_values, top_values = {}, {}
  for item in text.split(","):
    name, _, value = item.strip().partition("=")
    if name not in t5_fields | top_fields:
      raise ValueError(f"model_overrides: unknown field {name!r} in {text!r}; fields: "
                       f"{sorted(t5_fields | top_fields)}")
    try:
      parsed = int(value)
    except ValueError:
      if value.lower() not in ("true", "false"):
        raise ValueError(f"model_overrides: {name} must be an integer or true/false, got "
                         f"{value!r}") from None
      parsed = value.lower() == "true"
    (t5_values if name in t5_fields else top_values)[name] = parsed
  if "input_patch_size" in top_values:
    top_values.setdefault("input_patch_stride", top_values["input_patch_size"])
  try:
    return dataclasses.replace(config, t5=dataclasses.replace(config.t5, **t5_values),
                               **top_values)
  except (TypeError, ValueError) as err:
    raise ValueError(f"model_overrides {text!r}: {err}") from None


# Named recipes; any model config name also works (TrainConfig(model=name)).
TRAIN_CONFIGS: dict[str, TrainConfig] = {
    # The reference recipe (200k steps, effective batch 256) for accelerators.
    **{f"{name}-paper": TrainConfig(model=name, steps=200_000, batch_size=256,
                                    checkpoint_every=10_000)
       for name in list(model_configs.CHRONOS_CONFIGS) + list(model_configs.BOLT_CONFIGS)},
    # The CPU pretraining recipe (about an hour on 2 cores; README "Pretraining on a CPU"):
    # Chronos-Bolt (16x fewer encoder tokens than Chronos, no sampling, and the quantile loss
    # is the WQL it is scored with), d_model 64, 2+2 layers, context 256, horizon 16, batch 64;
    # TSMixup over KernelSynth and the real series' training parts, dataset-uniform.
    "cpu-recipe": TrainConfig(model="chronos-bolt-cpu-h16", steps=30_000, batch_size=64,
                              checkpoint_every=1500, keep_checkpoints=1000, log_every=100,
                              real_series=True, tsmixup_weighting="dataset"),
    # The zero-shot CPU recipe (README "Zero-shot"; under an hour on 2 cores): trained on data
    # with no M-competition or Tourism series — KernelSynth, TSMixup over it, the 16 in-domain
    # series' training parts and the real corpus (lowrank_ts.data.corpus, guarded against every
    # benchmark series), each real series its own TSMixup dataset; a 24-step head.
    "cpu-zeroshot": TrainConfig(model="chronos-bolt-cpu-zs", steps=40_000, batch_size=64,
                                checkpoint_every=2500, keep_checkpoints=1000, log_every=100,
                                real_series=True, real_corpus=True, tsmixup_weighting="dataset"),
    # The zero-shot data design for a Chronos-T5 on 2 CPU cores: chronos-t5-cpu (d_model 64,
    # 2+2 layers, 4 heads of 16) on windows of 128 + 24 (horizons <= 24 cover M3 + Tourism).
    # Adam eps 1e-20, not 1e-8: at Chronos' init (initializer_factor 0.05) the attention
    # gradients are ~1e-10 to 1e-14, so eps = 1e-8 freezes W_Q for the first thousands of
    # steps (experiments/sweeps.py measures it); a short run must not spend them that way.
    "cpu-t5-zeroshot": TrainConfig(model="chronos-t5-cpu",
                                   model_overrides="context_length=128,prediction_length=24",
                                   steps=4000, batch_size=32, adam_eps=1e-20,
                                   checkpoint_every=500, keep_checkpoints=1000, log_every=50,
                                   real_series=True, real_corpus=True,
                                   tsmixup_weighting="dataset"),
    # The reference model's data design (README "The reference model"): the zero-shot sources
    # with the corpus's validation part held out, plus frequency-aware synthetic series (0.3)
    # and short histories (min_past 8; 20 % of contexts cut to 8-64 values; targets beyond 100
    # context deviations redrawn: one such row would outweigh the other 63 of a batch); TSMixup draws a source table uniformly, then a series of it. These proportions
    # are set a priori, not tuned. The size study sets model_overrides and steps.
    "cpu-reference": TrainConfig(model="chronos-bolt-cpu-zs", steps=20_000, batch_size=64,
                                 checkpoint_every=1000, keep_checkpoints=1000, log_every=100,
                                 real_series=True, real_corpus=True, corpus_holdout=True,
                                 tsmixup_weighting="table", seasonal_synth_weight=0.3,
                                 min_past=8, short_context_probability=0.2,
                                 short_context_max=64, max_target_zscore=100.0),
    # The same data design at chronos-bolt-small size (48 M parameters, context 2048, a 64-step
    # head) for one accelerator: bf16 compute, batch 256. Not run on CPU; README "Zero-shot"
    # gives its expected throughput.
    "gpu-zeroshot": TrainConfig(model="chronos-bolt-small", steps=100_000, batch_size=256,
                                compute_dtype="bfloat16", checkpoint_every=5000,
                                keep_checkpoints=100, log_every=100, real_series=True,
                                real_corpus=True, tsmixup_weighting="dataset"),
    # Seconds on 2 CPU cores: for tests and smoke runs.
    "cpu-test": TrainConfig(model="chronos-t5-cpu-mini", steps=20, batch_size=8,
                            checkpoint_every=10, context_length=64, prediction_length=16,
                            min_past=16, kernel_synth_series=32, kernel_synth_length=256,
                            log_every=5),
}


# The two finalists of the reference model's selection (README "The reference model"): the
# size study's S and M with the real series weighted by frequency bucket, each given about
# 150 minutes of 2 CPU cores (S ~18 steps/s, M ~4 steps/s at batch 64), compared on the
# validation curve at equal wall time; the cheaper one wins unless the other's lead exceeds
# the noise of its own last-quarter curve.
TRAIN_CONFIGS["cpu-reference-s150"] = dataclasses.replace(
    TRAIN_CONFIGS["cpu-reference"], tsmixup_weighting="frequency", steps=100_000,
    checkpoint_every=4_000)
TRAIN_CONFIGS["cpu-reference-m150"] = dataclasses.replace(
    TRAIN_CONFIGS["cpu-reference"], tsmixup_weighting="frequency", steps=20_000,
    checkpoint_every=1_000,
    model_overrides="d_model=128,d_kv=32,d_ff=512,num_layers=4,num_decoder_layers=4")
# The second lever on the chosen S recipe (README "The reference model"): a larger share of the
# frequency-aware synthetic series (0.5 instead of 0.3: seasons are what S failed to copy) at the
# shipped run's 100 000 steps, so that the comparison isolates the share; kept only if it wins
# on validation.
TRAIN_CONFIGS["cpu-reference-seasonal"] = dataclasses.replace(
    TRAIN_CONFIGS["cpu-reference-s150"], seasonal_synth_weight=0.5)


# The text control of Fig. 2: the reference model's backbone, optimiser, batch and steps
# (cpu-reference-seasonal) trained on text, so that a rank comparison of the two compares
# modality at equal width, depth and budget.
TRAIN_CONFIGS["cpu-reference-text"] = dataclasses.replace(
    TRAIN_CONFIGS["cpu-reference-seasonal"], model="chronos-t5-bytes-cpu", text_corpus=True)


def named_train_config(name: str) -> TrainConfig:
  """A named recipe of :data:`TRAIN_CONFIGS`, or the defaults for a named model config."""
  if name in TRAIN_CONFIGS:
    return TRAIN_CONFIGS[name]
  try:
    return TrainConfig(model=name)
  except ValueError:
    raise ValueError(f"config must be one of {sorted(TRAIN_CONFIGS)} or a model config name, "
                     f"got {name!r}") from None


def _parse(name: str, text: str, hint):
  origin = typing.get_origin(hint)
  if hint is bool:
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"{name} must be true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if origin is tuple:
    return tuple(int(v) for v in text.split(","))
  if origin in (typing.Union, types.UnionType):  # int | None
    return None if text.lower() == "none" else int(text)
  return hint(text)


def with_overrides(config: TrainConfig, overrides: dict[str, str]) -> TrainConfig:
  """``config`` with fields replaced by parsed ``{field: text}`` (e.g. ``mesh_shape='2,4'``)."""
  hints = typing.get_type_hints(TrainConfig)
  values = {}
  for name, text in overrides.items():
    if name not in hints:
      raise ValueError(f"unknown config field {name!r}; fields: {sorted(hints)}")
    try:
      values[name] = _parse(name, text, hints[name])
    except (TypeError, ValueError) as err:
      raise ValueError(f"{name}: cannot parse {text!r} ({err})") from None
  return dataclasses.replace(config, **values)
