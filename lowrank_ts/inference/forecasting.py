"""Forecasts of any model of the registry: ``{"mean": [B, H], "quantiles": [B, H, 9]}`` at
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS` (:func:`forecast`), the model's own sample
paths or quantiles (:func:`predict`), and its encoder's embeddings (:func:`embed`).

Mirrors chronos-forecasting's pipelines: contexts are series left-padded with NaN (ragged
lengths and missing values allowed); each model uses the last ``context_length`` values and
forecasts horizons beyond its ``prediction_length`` in chunks (see the model's ``forecast``).

Any number of series: with ``batch_size`` the series go through the model in fixed-shape
batches (:mod:`.batching`; compiled once by :mod:`.programs`, memory bounded by the batch),
optionally with a progress bar; with ``mesh`` each batch is split over the mesh's devices
(:mod:`.data_parallel`). The contexts are validated here, once, at the entry.

A series with no observed value is not an error (one bad series never loses the batch): it is
forecast as chronos-forecasting forecasts it -- Chronos with scale 1 and every context token
PAD, Chronos-Bolt with loc 0 and scale 1 and every patch masked, i.e. the model's forecast
from an empty context -- and a :class:`UnobservedSeriesWarning` names it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import numpy as np

from lowrank_ts import checks, sharding
from lowrank_ts.inference import batching, data_parallel
from lowrank_ts.inference import progress as progress_bar
from lowrank_ts.inference.programs import Programs
from lowrank_ts.models import registry
from lowrank_ts.models.config import QUANTILE_LEVELS

MAX_NAMED = 10  # series named in one warning
MAX_HORIZON_CHUNKS = 64
# The command lines' ceiling on Chronos' sample paths: a batch of series decodes
# batch x num_samples rows at once, each with its own KV cache.
MAX_NUM_SAMPLES = 1000
NUM_SAMPLES_LIMIT = ("each sample path is a decoder row with its own KV cache, and every path "
                     "of every series of a batch is held in memory at once")


def check_horizon(model: registry.ForecastModel, horizon: Any, name: str = "horizon") -> int:
  """``horizon`` as an int in 1 ... :data:`MAX_HORIZON_CHUNKS` times the model's
  ``prediction_length``; a ValueError that says why otherwise."""
  length = registry.check_model(model).config.prediction_length
  return checks.positive_int(
      horizon, name, upper=MAX_HORIZON_CHUNKS * length,
      why=f"{MAX_HORIZON_CHUNKS} chunks of the model's {length}-step prediction length: each "
          "chunk after the first forecasts from the model's own forecast, and the run time "
          "grows with every chunk")


class UnobservedSeriesWarning(UserWarning):
  """A series had no observed value; it was forecast from an empty context (see module doc)."""


def prepare_context(context: Any) -> np.ndarray:
  """float32 ``[B, T]`` with NaN for missing values, from a ``[T]`` / ``[B, T]`` array or a
  list of 1-D series of different lengths (left-padded with NaN)."""
  rows = batching.series_rows(context)
  if isinstance(rows, np.ndarray):
    return rows
  return batching.padded_batch(rows, 0, len(rows), max(r.shape[0] for r in rows))


def warn_unobserved(rows: Sequence[np.ndarray], names: Sequence[str] | None = None) -> list[int]:
  """Warns (:class:`UnobservedSeriesWarning`) naming the series without an observed value;
  returns their indices."""
  empty = batching.unobserved(rows)
  if empty:
    label = [repr(names[i]) if names is not None else str(i) for i in empty[:MAX_NAMED]]
    more = f" and {len(empty) - MAX_NAMED} more" if len(empty) > MAX_NAMED else ""
    warnings.warn(f"{len(empty)} series with no observed value ({', '.join(label)}{more}): "
                  "forecast from an empty context, as chronos-forecasting does",
                  UnobservedSeriesWarning, stacklevel=3)
  return empty


def _batches(model: registry.ForecastModel, context: Any, key: Any, *, batch_size, mesh,
             progress: bool, names, forecasts: bool = True
             ) -> Iterator[tuple[int, int, np.ndarray, Any, Programs]]:
  """The entry of every public function here: checks the arguments (the only place contexts
  are validated), then yields ``(first series index, rows kept, window [R, T], key, programs)``
  per fixed-shape batch (one batch: the caller's key; more: batch b gets fold_in(key, b))."""
  registry.check_model(model)
  rows = batching.series_rows(context)
  if names is not None and len(names) != len(rows):
    raise ValueError(f"names has {len(names)} entries for {len(rows)} series")
  key = None if key is None else checks.prng_key(key)
  multiple = 1
  if mesh is not None:
    model = data_parallel.replicate(model, data_parallel.check_mesh(mesh))
    multiple = sharding.batch_shards(mesh)
  if forecasts:
    warn_unobserved(rows, names)
  num_rows = batching.batch_rows(len(rows), batch_size, multiple)
  length = batching.window_length(rows, model.config.context_length)
  starts = range(0, len(rows), num_rows)
  programs = Programs(model)
  bar = progress_bar.bar(len(rows), progress and len(starts) > 1)
  try:
    for index, start in enumerate(starts):
      batch_key = key if key is None or len(starts) == 1 else jax.random.fold_in(key, index)
      kept = min(num_rows, len(rows) - start)
      yield start, kept, batching.padded_batch(rows, start, num_rows, length), batch_key, (
          programs)
      bar.update(kept)
  finally:
    bar.close()


def forecast_batches(model: registry.ForecastModel, context: Any, horizon: int,
                     key: Any = None, *, batch_size: int | None = None, mesh: Any = None,
                     progress: bool = False, names: Sequence[str] | None = None,
                     **options) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
  """Yields ``(first series index, forecast of its batch)`` batch by batch (see
  :func:`forecast`, which concatenates them): memory stays that of one batch."""
  horizon = check_horizon(model, horizon)
  for start, kept, window, batch_key, programs in _batches(
      model, context, key, batch_size=batch_size, mesh=mesh, progress=progress, names=names):
    out = programs.model.forecast(window, horizon, batch_key, programs, **options)
    out = {k: np.asarray(v)[:kept] for k, v in out.items()}
    _check_output(model, out, kept, horizon)
    yield start, out


def forecast(model: registry.ForecastModel, context: Any, horizon: int, key: Any = None, *,
             batch_size: int | None = None, mesh: Any = None, progress: bool = False,
             names: Sequence[str] | None = None, **options) -> dict[str, np.ndarray]:
  """``{"mean": [B, H], "quantiles": [B, H, 9]}`` at levels 0.1 ... 0.9 for any model.

  Chronos samples (it needs a PRNG ``key``; ``options``: num_samples, temperature, top_k,
  top_p); Chronos-Bolt is deterministic and takes neither.

  Args:
    context: a ``[T]`` / ``[B, T]`` float array (NaN = missing) or a list of 1-D series.
    batch_size: series per model call (None: all at once). Every batch has the same shape,
      so nothing recompiles; when there is more than one, batch ``b`` samples with
      ``fold_in(key, b)`` (Bolt's forecasts do not depend on the batching).
    mesh: a ``jax.sharding.Mesh`` (:func:`lowrank_ts.sharding.make_mesh`) to split each batch
      over (data parallel, parameters replicated); batches are rounded up to a multiple of
      its device count.
    progress: a progress bar on stderr (tqdm's if installed) when there are several batches.
    names: the series' names, for the warning about series without an observed value (they
      are forecast, from an empty context, as chronos-forecasting does).
  """
  means, quantiles = [], []
  for _, out in forecast_batches(model, context, horizon, key, batch_size=batch_size,
                                 mesh=mesh, progress=progress, names=names, **options):
    means.append(out["mean"])
    quantiles.append(out["quantiles"])
  return {"mean": np.concatenate(means), "quantiles": np.concatenate(quantiles)}


def predict(model: registry.ForecastModel, context: Any, horizon: int, key: Any = None, *,
            batch_size: int | None = None, mesh: Any = None, progress: bool = False,
            names: Sequence[str] | None = None, **options) -> np.ndarray:
  """The model's own forecast, before :func:`forecast` summarises it: sample paths
  ``[B, num_samples, H]`` for a sampling model (Chronos), quantiles ``[B, Q, H]`` at the
  model's own levels otherwise (Chronos-Bolt). Arguments as :func:`forecast`'s."""
  horizon = check_horizon(model, horizon)
  out = []
  for _, kept, window, batch_key, programs in _batches(
      model, context, key, batch_size=batch_size, mesh=mesh, progress=progress, names=names):
    out.append(np.asarray(programs.model.predict(window, horizon, batch_key, programs,
                                                 **options))[:kept])
  return np.concatenate(out)


def embed(model: registry.ForecastModel, context: Any, *, batch_size: int | None = None,
          mesh: Any = None, progress: bool = False,
          names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
  """The encoder's embeddings of each series and the scaling of the values it read, as
  chronos-forecasting's ``pipeline.embed`` returns them (for classification, clustering or
  anomaly detection on top of the encoder):

  - ``embeddings [B, N, d_model]``: the encoder's last hidden states, float32; N positions of
    the common window (the longest series, at most ``context_length``, left-padded): Chronos'
    tokens plus EOS, or Chronos-Bolt's patches plus its REG token;
  - ``mask [B, N]``: the positions that hold observed values (EOS and REG included; a series
    without an observed value is read as an empty context, as chronos-forecasting does);
  - ``loc [B]``, ``scale [B]``: the model read ``(context - loc) / scale`` (Chronos: loc 0,
    scale the mean absolute value; Chronos-Bolt: mean and standard deviation).

  ``context``, ``batch_size``, ``mesh``, ``progress`` and ``names`` as :func:`forecast`'s.
  """
  parts = []
  for _, kept, window, _, programs in _batches(
      model, context, None, batch_size=batch_size, mesh=mesh, progress=progress, names=names,
      forecasts=False):
    parts.append({k: np.asarray(v)[:kept] for k, v in programs.model.embed(window,
                                                                          programs).items()})
  return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def _check_output(model, out, batch, horizon) -> None:
  if out["mean"].shape != (batch, horizon) or out["quantiles"].shape != (
      batch, horizon, len(QUANTILE_LEVELS)):
    raise AssertionError(f"{type(model).__name__}.forecast returned mean {out['mean'].shape} "
                         f"and quantiles {out['quantiles'].shape}")  # a bug, not user input
