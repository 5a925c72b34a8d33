"""The workloads of benchmarks.train (listed in its docstring): the models and batch
shapes timed, their compressed variants (reduced head size ``d_kv / 4``, attention size ratio
0.25), the 8-device mesh shapes, and the training recipe both stacks run at those shapes."""

from __future__ import annotations

import dataclasses

from lowrank_ts.models import lowrank
from lowrank_ts.models.config import ChronosConfig, T5Config
from lowrank_ts.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Workload:
  """One model at one batch shape, timed for ours (and the reference when ``reference``)."""
  name: str
  model: ChronosConfig
  context: int
  horizon: int
  batch: int
  mesh_shape: tuple[int, int] = (1, 1)
  reference: bool = True


@dataclasses.dataclass(frozen=True)
class BenchTrainConfig(TrainConfig):
  """A :class:`TrainConfig` whose model is the unregistered ``chronos`` config (``model`` only
  labels it: TrainConfig accepts registered names only)."""
  chronos: ChronosConfig | None = None

  def __post_init__(self):
    if not isinstance(self.chronos, ChronosConfig):
      raise ValueError(  # noqa: TRY004 (the repository raises ValueError for bad arguments)
          f"chronos must be a ChronosConfig, got {type(self.chronos).__name__}")
    super().__post_init__()

  @property
  def model_config(self) -> ChronosConfig:
    return self.chronos


def _chronos(vocab_size, d_model, d_ff, layers, heads, d_kv) -> ChronosConfig:
  return ChronosConfig(T5Config(vocab_size=vocab_size, d_model=d_model, d_ff=d_ff,
                                num_layers=layers, num_heads=heads, d_kv=d_kv))


def compressed(model: ChronosConfig) -> ChronosConfig:
  """``model`` with every attention layer at head size ``d_kv / 4`` (size ratio 0.25)."""
  t5 = lowrank.low_rank_t5(model.t5, lowrank.UniformSchedule(max(model.t5.d_kv // 4, 1)),
                           "reduced_head_size")
  return dataclasses.replace(model, t5=t5)


def workloads(quick: bool) -> list[Workload]:
  """The main process's workloads (dense with reference, then compressed)."""
  from lowrank_ts.models.config import CHRONOS_CONFIGS
  if quick:  # a one-layer stand-in of the reference point only: compilation dominates
    dense = [Workload("reference-point (quick)", _chronos(4096, 32, 64, 1, 2, 16), 32, 8, 8)]
  else:
    dense = [Workload("reference-point", _chronos(4096, 128, 512, 2, 4, 32), 256, 32, 64),
             Workload("chronos-t5-tiny", CHRONOS_CONFIGS["chronos-t5-tiny"], 512, 64, 32)]
  return dense + [dataclasses.replace(w, name=w.name + " compressed 0.25",
                                      model=compressed(w.model), reference=False)
                  for w in dense]


def mesh_workloads(quick: bool) -> list[Workload]:
  """The reference point on 8 devices (and, in a full run, on one of the same 8-device
  process, whose runtime may differ from a 1-device process's)."""
  ref_point = workloads(quick)[0]
  shapes = ((8, 1), (2, 4)) if quick else ((1, 1), (8, 1), (2, 4))
  return [dataclasses.replace(ref_point, name=f"{ref_point.name} mesh {shape}",
                              mesh_shape=shape, reference=False)
          for shape in shapes]


def train_config(w: Workload) -> BenchTrainConfig:
  """The training recipe's defaults at ``w``'s shapes; a small KernelSynth pool (the pipeline's
  cost is measured, not its variety)."""
  return BenchTrainConfig(model="chronos-t5-tiny", chronos=w.model, batch_size=w.batch,
                          context_length=w.context, prediction_length=w.horizon,
                          mesh_shape=w.mesh_shape, min_past=min(60, w.context),
                          kernel_synth_series=16, kernel_synth_length=1024, steps=10_000)
