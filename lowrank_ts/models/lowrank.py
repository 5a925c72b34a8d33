"""Low-rank attention layouts for T5 / Chronos: rank schedules, builders, size accounting.

Attention layers are indexed as in the authors' code (amazon-science/TSFM-Compression):
encoder self-attention layer ``i`` and decoder self-attention layer ``i`` have index ``i``;
decoder cross-attention layer ``i`` has index ``num_layers + i`` (the count continues after
the encoder). A schedule maps that index to a rank:

- :class:`PowerLawSchedule`: ``d_i = ceil(d0 (1 + i)^alpha)`` (§5, "flow-of-ranks").
- :class:`ConcaveSchedule`: appendix K, ``r_l = r_1 + (r_D - r_1) ((l - 1)/(D - 1))^gamma``
  for ``l = 1..D`` (``D`` = number of indices), rounded up.
- :class:`UniformSchedule` and :class:`ExplicitSchedule` (one rank per index).

:func:`low_rank_t5` applies a schedule with one of three parameterisations: eq. (19)
``shared_sketch``, eq. (20) ``head_sketch`` (rank = factorisation rank, capped at what
can be full rank), or ``reduced_head_size`` (the authors' code: ``d_kv`` = rank, heads
unchanged). :func:`authors_layout` reproduces the authors' nearest-power-of-two rule for
heads and head size. :func:`attention_size_ratio` is the paper's size ratio: parameters of
the attention matrices (q, k, v, o of every self- and cross-attention) relative to the
dense model.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

from lowrank_ts import checks
from lowrank_ts.models.config import ATTENTION_KINDS, AttentionSpec, ProjectionSpec, T5Config
from lowrank_ts.models.layers import PROJECTIONS

PARAMETERIZATIONS = ("shared_sketch", "head_sketch", "reduced_head_size")


@dataclasses.dataclass(frozen=True)
class PowerLawSchedule:
  """``d_i = ceil(d0 (1 + i)^alpha)``; ``alpha = 0`` is a uniform rank ``ceil(d0)``."""
  d0: float
  alpha: float
  NAME: ClassVar[str] = "power"
  ARGS: ClassVar[str] = "D0,ALPHA"

  @classmethod
  def from_args(cls, values: list[str]) -> PowerLawSchedule:
    _arity(cls, values, 2)
    return cls(float(values[0]), float(values[1]))

  def __post_init__(self):
    checks.positive_float(self.d0, "d0")
    if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha)
            and self.alpha >= 0):
      raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")

  def ranks(self, num_indices: int) -> tuple[int, ...]:
    checks.positive_int(num_indices, "num_indices")
    # The tiny relative slack keeps exact integers (e.g. 7 * 1.0) from rounding up.
    return tuple(math.ceil(self.d0 * (1 + i) ** self.alpha * (1 - 1e-12))
                 for i in range(num_indices))


@dataclasses.dataclass(frozen=True)
class ConcaveSchedule:
  """Appendix K: ranks rising from ``r_min`` to ``r_max`` as ``((l-1)/(D-1))^gamma``."""
  r_min: int
  r_max: int
  gamma: float = 0.5
  NAME: ClassVar[str] = "concave"
  ARGS: ClassVar[str] = "R_MIN,R_MAX[,GAMMA]"

  @classmethod
  def from_args(cls, values: list[str]) -> ConcaveSchedule:
    _arity(cls, values, 2, 3)
    return cls(int(values[0]), int(values[1]), *[float(v) for v in values[2:]])

  def __post_init__(self):
    checks.positive_int(self.r_min, "r_min")
    checks.positive_int(self.r_max, "r_max")
    if self.r_max < self.r_min:
      raise ValueError(f"r_max must be >= r_min, got {self.r_max} < {self.r_min}")
    checks.positive_float(self.gamma, "gamma")

  def ranks(self, num_indices: int) -> tuple[int, ...]:
    checks.positive_int(num_indices, "num_indices")
    if num_indices == 1:
      return (self.r_min,)
    return tuple(math.ceil(self.r_min + (self.r_max - self.r_min)
                           * (index / (num_indices - 1)) ** self.gamma - 1e-9)
                 for index in range(num_indices))


@dataclasses.dataclass(frozen=True)
class UniformSchedule:
  """The same rank for every attention layer."""
  rank: int
  NAME: ClassVar[str] = "uniform"
  ARGS: ClassVar[str] = "RANK"

  @classmethod
  def from_args(cls, values: list[str]) -> UniformSchedule:
    _arity(cls, values, 1)
    return cls(int(values[0]))

  def __post_init__(self):
    checks.positive_int(self.rank, "rank")

  def ranks(self, num_indices: int) -> tuple[int, ...]:
    return (self.rank,) * checks.positive_int(num_indices, "num_indices")


@dataclasses.dataclass(frozen=True)
class ExplicitSchedule:
  """One rank per attention-layer index (encoder layers, then cross-attention layers)."""
  values: tuple[int, ...]

  def __post_init__(self):
    if not isinstance(self.values, tuple) or not self.values:
      raise ValueError(f"values must be a non-empty tuple of ranks, got {self.values!r}")
    for r in self.values:
      checks.positive_int(r, "values")

  def ranks(self, num_indices: int) -> tuple[int, ...]:
    checks.positive_int(num_indices, "num_indices")
    if len(self.values) != num_indices:
      raise ValueError(f"values has {len(self.values)} ranks, the model needs {num_indices}")
    return self.values


Schedule = PowerLawSchedule | ConcaveSchedule | UniformSchedule | ExplicitSchedule
# Schedules a layout string can name (ExplicitSchedule is for code).
SCHEDULES = {cls.NAME: cls for cls in (PowerLawSchedule, UniformSchedule, ConcaveSchedule)}


def _arity(cls, values: list[str], *counts: int) -> None:
  if len(values) not in counts:
    raise ValueError(f"{cls.NAME} takes {' or '.join(map(str, counts))} numbers ({cls.ARGS}), "
                     f"got {len(values)}")


def layer_indices(t5: T5Config) -> dict[str, tuple[int, ...]]:
  """Schedule index of every attention layer: encoder i, decoder self i, cross E + i."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  decoder = tuple(range(t5.num_decoder_layers))
  return {"encoder": tuple(range(t5.num_layers)), "decoder_self": decoder,
          "decoder_cross": tuple(t5.num_layers + i for i in decoder)}


def _spec(t5: T5Config, rank: int, parameterization: str, projections) -> AttentionSpec:
  h, k = t5.num_heads, t5.d_kv
  if parameterization == "reduced_head_size":
    return AttentionSpec(h, min(rank, t5.d_model // h))
  if parameterization == "shared_sketch":
    proj = ProjectionSpec("shared_sketch", min(rank, t5.d_model, h * k))
  else:
    proj = ProjectionSpec("head_sketch", min(rank, t5.d_model, k))
  return AttentionSpec(h, k, **{name: proj for name in projections})


def low_rank_t5(t5: T5Config, schedule: Schedule, parameterization: str,
                projections: tuple[str, ...] = ("q", "k", "v", "o")) -> T5Config:
  """``t5`` with every attention layer re-parameterised at the scheduled rank."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  if not hasattr(schedule, "ranks"):
    raise ValueError(f"schedule must be a rank schedule, got {type(schedule).__name__}")
  if parameterization not in PARAMETERIZATIONS:
    raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got "
                     f"{parameterization!r}")
  if not projections or any(p not in "qkvo" or len(p) != 1 for p in projections):
    raise ValueError(f"projections must be a non-empty subset of q, k, v, o; got {projections!r}")
  indices = layer_indices(t5)
  ranks = schedule.ranks(t5.num_layers + t5.num_decoder_layers)
  specs = {which: tuple(_spec(t5, ranks[i], parameterization, projections) for i in idx)
           for which, idx in indices.items()}
  return t5.with_attention(specs)


def nearest_power_of_two(x: float, upper: int) -> int:
  """The authors' rounding: ``2^round(log2 x)``, at least 1 and at most ``upper``."""
  checks.positive_float(x, "x")
  checks.positive_int(upper, "upper")
  return min(max(2 ** int(round(math.log2(x))), 1), upper)


def authors_layout(t5: T5Config, base_tilde_d: float, beta: float,
                   alpha: float = 0.0) -> T5Config:
  """The authors' compressed T5: attention index ``k = index + 1`` gets
  ``n_heads = p2(num_heads k^alpha)`` (at most num_heads) and
  ``d_kv = p2(base_tilde_d k^beta)`` (at most d_model / n_heads), ``p2`` the nearest power
  of two. Their configs: size ratio 0.25 <-> (7, 0.40), 0.15 <-> (5, 0.35), 0.075 <-> (3, 0.27).
  """
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  checks.positive_float(base_tilde_d, "base_tilde_d")
  for name, value in (("beta", beta), ("alpha", alpha)):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
      raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

  def spec(index: int) -> AttentionSpec:
    k = index + 1
    heads = nearest_power_of_two(t5.num_heads * k ** alpha, t5.num_heads)
    return AttentionSpec(heads, nearest_power_of_two(base_tilde_d * k ** beta,
                                                     t5.d_model // heads))

  indices = layer_indices(t5)
  return t5.with_attention({which: tuple(spec(i) for i in idx) for which, idx in indices.items()})


# -- layouts: what a `--attention=...` string describes, parsed once ---------------------------
@dataclasses.dataclass(frozen=True)
class DenseLayout:
  """The published dense attention."""
  def apply(self, t5: T5Config) -> T5Config:
    return t5


@dataclasses.dataclass(frozen=True)
class AuthorsLayout:
  """:func:`authors_layout` with ``(base_tilde_d, beta, alpha)``."""
  base_tilde_d: float
  beta: float
  alpha: float = 0.0

  def apply(self, t5: T5Config) -> T5Config:
    return authors_layout(t5, self.base_tilde_d, self.beta, self.alpha)


@dataclasses.dataclass(frozen=True)
class ScheduledLayout:
  """:func:`low_rank_t5` with a schedule and a parameterisation."""
  parameterization: str
  schedule: Schedule

  def apply(self, t5: T5Config) -> T5Config:
    return low_rank_t5(t5, self.schedule, self.parameterization)


Layout = DenseLayout | AuthorsLayout | ScheduledLayout
LAYOUT_SYNTAX = ("'dense', 'authors:D0,BETA[,ALPHA]' or 'PARAMETERIZATION:SCHEDULE:ARGS' with a "
                 f"parameterization in {PARAMETERIZATIONS} and a schedule "
                 + ", ".join(f"{name}:{cls.ARGS}" for name, cls in SCHEDULES.items()))


@functools.lru_cache(maxsize=256)
def parse_layout(text: str) -> Layout:
  """The layout a string describes (cached: each string is parsed once), e.g. ``'dense'``,
  ``'authors:3,0.27'`` (Fig. 7's "0.075" on chronos-t5-base) or
  ``'reduced_head_size:power:4,0.3'``; a ValueError naming ``attention`` otherwise."""
  if not isinstance(text, str):
    raise ValueError(f"attention must be a string, got {text!r}")
  parts = text.split(":")
  try:
    if parts == ["dense"]:
      return DenseLayout()
    if len(parts) == 2 and parts[0] == "authors":
      values = [float(v) for v in parts[1].split(",")]
      if len(values) not in (2, 3):
        raise ValueError("authors takes D0,BETA[,ALPHA]")
      return AuthorsLayout(*values)
    if len(parts) == 3 and parts[0] in PARAMETERIZATIONS:
      if parts[1] not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {parts[1]!r}")
      return ScheduledLayout(parts[0], SCHEDULES[parts[1]].from_args(parts[2].split(",")))
  except (TypeError, ValueError) as err:
    raise ValueError(f"attention {text!r}: {err}") from None
  raise ValueError(f"attention must be {LAYOUT_SYNTAX}; got {text!r}")


def projection_parameters(d_model: int, n_heads: int, d_kv: int, spec: ProjectionSpec) -> int:
  """Parameters of one q/k/v/o projection (the same count for the in and out directions)."""
  for name, value in (("d_model", d_model), ("n_heads", n_heads), ("d_kv", d_kv)):
    checks.positive_int(value, name)
  if not isinstance(spec, ProjectionSpec):
    raise ValueError(f"spec must be a ProjectionSpec, got {type(spec).__name__}")
  return PROJECTIONS[spec.kind].parameters(d_model, n_heads, d_kv, spec.rank)


def attention_parameters(t5: T5Config) -> int:
  """Parameters of all attention matrices (q, k, v, o; self and cross; no position bias)."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  return sum(projection_parameters(t5.d_model, s.n_heads, s.d_kv, getattr(s, p))
             for kind in ATTENTION_KINDS for s in t5.attention_specs(kind) for p in "qkvo")


def attention_size_ratio(t5: T5Config, reference: T5Config | None = None) -> float:
  """The paper's size ratio: attention parameters of ``t5`` over those of ``reference``
  (default: the same T5 with dense ``num_heads x d_kv`` attention everywhere)."""
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")
  return attention_parameters(t5) / attention_parameters(t5.dense() if reference is None
                                                         else reference)
