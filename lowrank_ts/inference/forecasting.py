"""Forecasts of any model of the registry: ``{"mean": [B, H], "quantiles": [B, H, 9]}`` at
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS`.

Mirrors chronos-forecasting's pipelines: contexts are series left-padded with NaN (ragged
lengths and missing values allowed); each model uses the last ``context_length`` values and
forecasts horizons beyond its ``prediction_length`` in chunks (see the model's ``forecast``).

Any number of series: with ``batch_size`` the series go through the model in fixed-shape
batches (:mod:`.batching`; compiled once, memory bounded by the batch), optionally with a
progress bar; with ``mesh`` each batch is split over the mesh's devices (:mod:`.data_parallel`).

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
from lowrank_ts.models import registry
from lowrank_ts.models.config import QUANTILE_LEVELS

MAX_NAMED = 10  # series named in one warning


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


def forecast_batches(model: registry.ForecastModel, context: Any, horizon: int,
                     key: Any = None, *, batch_size: int | None = None, mesh: Any = None,
                     progress: bool = False, names: Sequence[str] | None = None,
                     **options) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
  """Yields ``(first series index, forecast of its batch)`` batch by batch (see
  :func:`forecast`, which concatenates them): memory stays that of one batch."""
  registry.check_model(model)
  horizon = checks.positive_int(horizon, "horizon")
  rows = batching.series_rows(context)
  if names is not None and len(names) != len(rows):
    raise ValueError(f"names has {len(names)} entries for {len(rows)} series")
  multiple = 1
  if mesh is not None:
    model = data_parallel.replicate(model, data_parallel.check_mesh(mesh))
    multiple = sharding.batch_shards(mesh)
  warn_unobserved(rows, names)
  num_rows = batching.batch_rows(len(rows), batch_size, multiple)
  length = batching.window_length(rows, model.config.context_length)
  starts = range(0, len(rows), num_rows)
  bar = progress_bar.bar(len(rows), progress and len(starts) > 1)
  try:
    for index, start in enumerate(starts):
      # One batch: the caller's key; more: batch b samples with fold_in(key, b).
      batch_key = key if key is None or len(starts) == 1 else jax.random.fold_in(
          checks.prng_key(key), index)
      window = batching.padded_batch(rows, start, num_rows, length)
      out = model.forecast(window, horizon, batch_key, **options)
      kept = min(num_rows, len(rows) - start)
      out = {k: np.asarray(v)[:kept] for k, v in out.items()}
      _check_output(model, out, kept, horizon)
      bar.update(kept)
      yield start, out
  finally:
    bar.close()


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


def _check_output(model, out, batch, horizon) -> None:
  if out["mean"].shape != (batch, horizon) or out["quantiles"].shape != (
      batch, horizon, len(QUANTILE_LEVELS)):
    raise AssertionError(f"{type(model).__name__}.forecast returned mean {out['mean'].shape} "
                         f"and quantiles {out['quantiles'].shape}")  # a bug, not user input
