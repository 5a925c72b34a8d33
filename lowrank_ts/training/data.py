"""The training input pipeline of a :class:`~lowrank_ts.training.config.TrainConfig`: TSMixup
over a KernelSynth pool (and optionally the real series' training parts and the real corpus of
:mod:`lowrank_ts.data.corpus`), seeded, resumable."""

from __future__ import annotations

import concurrent.futures
import itertools
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import corpus, kernel_synth, pipeline, real_series, text_corpus, validation
from lowrank_ts.training.config import TrainConfig


def usable_series(series, source: str) -> list[np.ndarray]:
  """The series of ``series`` a training run can use, as float32; the others (all missing or
  non-finite, or constant) are skipped, with one line on stderr naming ``source`` and counting
  each reason. A ValueError naming ``source`` if none is left."""
  kept, skipped = [], {"all missing": 0, "constant": 0}
  for values in series:
    values = np.asarray(values, np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
      skipped["all missing"] += 1
    elif finite.min() == finite.max():
      skipped["constant"] += 1
    else:
      kept.append(np.where(np.isfinite(values), values, np.nan).astype(np.float32))
  if any(skipped.values()):
    counts = ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n)
    print(f"training data: skipped {sum(skipped.values())} of {len(series)} series of {source} "
          f"({counts})", file=sys.stderr, flush=True)
  if not kept:
    raise ValueError(f"{source}: no usable series (all missing or constant)")
  return kept


def load_pool(path: str) -> list[np.ndarray]:
  """A KernelSynth pool ``.npy`` [N, T] of numbers; a ValueError naming ``path`` otherwise."""
  try:
    pool = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as err:
    raise ValueError(f"kernel_synth_path {path!r}: cannot read a .npy array ({err})") from None
  if pool.ndim != 2 or not (np.issubdtype(pool.dtype, np.number)
                            and not np.issubdtype(pool.dtype, np.complexfloating)):
    raise ValueError(f"kernel_synth_path {path!r}: expected a real 2-D array [series, steps], "
                     f"got dtype {pool.dtype} shape {pool.shape}")
  return usable_series(pool, f"kernel_synth_path {path!r}")


def _bucket(freq: str) -> str:
  return freq if freq in ("A", "Q", "M") else "other"


def _frequency_weights(pool: int, real: list[tuple[str, str, np.ndarray]]) -> np.ndarray:
  """TSMixup weights of the "frequency" weighting: the KernelSynth pool and each frequency
  bucket (A, Q, M, other) of the real sources are equally likely; inside a bucket each source
  table, inside a table each series."""
  buckets = sorted({b for b, _, _ in real})
  share = 1.0 / (1 + len(buckets))
  tables = {b: sorted({t for bb, t, _ in real if bb == b}) for b in buckets}
  sizes: dict[tuple[str, str], int] = {}
  for b, t, _ in real:
    sizes[b, t] = sizes.get((b, t), 0) + 1
  return np.array([share / pool] * pool
                  + [share / len(tables[b]) / sizes[b, t] for b, t, _ in real])


def make_pipeline(config: TrainConfig) -> pipeline.InputPipeline | text_corpus.TextPipeline:
  """The seeded input pipeline of ``config`` (KernelSynth pool generated or loaded), yielding
  float windows ``{context [B, C], target [B, H]}``; with ``text_corpus``, the byte windows of
  :class:`~lowrank_ts.data.text_corpus.TextPipeline`, already the model's inputs."""
  if config.text_corpus:
    return text_corpus.TextPipeline(batch_size=config.batch_size, context=config.context,
                                    horizon=config.horizon, seed=config.seed)
  if config.kernel_synth_path:
    pool = load_pool(config.kernel_synth_path)
  else:
    pool = kernel_synth.kernel_synth(config.kernel_synth_series, config.seed,
                                     length=config.kernel_synth_length)
  # (frequency bucket, source table, series) of every real source, in order
  real: list[tuple[str, str, np.ndarray]] = []
  if config.real_series:
    real += [(_bucket(r.freq), r.name, r.train.astype(np.float32))
             for r in real_series.load()]
  if config.real_corpus:
    real += [(_bucket(c.freq), "/".join(c.name.split("/")[:2]), c.values.astype(np.float32))
             for c in corpus.series()
             if not (config.corpus_holdout and validation.held_out(c.name))]
  sources = list(pool) + [values for _, _, values in real]
  weights = None
  if config.tsmixup_weighting == "frequency":
    weights = _frequency_weights(len(pool), real)
  elif config.tsmixup_weighting in ("dataset", "table"):
    table = config.tsmixup_weighting == "table" and config.real_corpus
    groups = [len(list(g)) for _, g in itertools.groupby(
        real, key=lambda r: r[1] if table else id(r))]
    weights = pipeline.dataset_uniform_weights([len(pool)] + groups)
  pipe_config = pipeline.PipelineConfig(
      batch_size=config.batch_size, kernel_synth_weight=config.kernel_synth_weight,
      seasonal_synth_weight=config.seasonal_synth_weight,
      instance=config.instance_config)
  return pipeline.InputPipeline(pipe_config, kernel_synth_series=pool, tsmixup_sources=sources,
                                seed=config.seed, tsmixup_weights=weights)


class Prefetcher:
  """The model inputs of the next ``depth`` batches, made in a background thread while the
  device trains on the current one (the Python input pipeline and XLA's step overlap: XLA
  releases the GIL).

  Batch ``s`` is ``prepare(pipe.batch_at(s, pipe.rows))`` — a pure function of (seed, step,
  rows) — and :meth:`next` advances ``pipe``'s state by one step, so the stream and the pipeline
  state saved in checkpoints are exactly those of iterating ``pipe`` directly. An error in the
  thread is raised by :meth:`next` for the batch that failed.
  """

  def __init__(self, pipe: pipeline.SeededBatches, prepare: Callable[[dict], Any],
               depth: int = 2):
    if not isinstance(pipe, pipeline.SeededBatches):
      raise ValueError(f"pipe must be an InputPipeline or a TextPipeline, got "  # noqa: TRY004
                       f"{type(pipe).__name__}")
    if not callable(prepare):
      raise ValueError(f"prepare must be callable, got {type(prepare).__name__}")  # noqa: TRY004
    self._pipe, self._prepare = pipe, prepare
    self._depth = checks.positive_int(depth, "depth")
    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prefetch")
    self._futures: dict[int, concurrent.futures.Future] = {}

  def _make(self, step: int):
    return self._prepare(self._pipe.batch_at(step, self._pipe.rows))

  def next(self):
    state = self._pipe.get_state()
    step = int(state["step"])
    for stale in [s for s in self._futures if s < step]:  # the state was reset (a restore)
      self._futures.pop(stale).cancel()
    for s in range(step, step + self._depth):
      if s not in self._futures:
        self._futures[s] = self._executor.submit(self._make, s)
    batch = self._futures.pop(step).result()
    self._pipe.set_state({"seed": state["seed"], "step": step + 1})
    return batch

  def close(self) -> None:
    self._executor.shutdown(wait=True, cancel_futures=True)
