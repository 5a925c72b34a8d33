"""Forecasting with Chronos (sampled token paths) and Chronos-Bolt (direct quantiles).

Mirrors chronos-forecasting's pipelines: contexts are series left-padded with NaN (ragged
lengths and missing values allowed), the last ``context_length`` values are used; horizons
beyond the model's ``prediction_length`` are forecast in chunks, Chronos feeding back the
(lower) median over samples as ``torch.median`` does, Chronos-Bolt feeding back each quantile
path and re-reducing the ``Q x Q`` paths to ``Q`` quantiles. Quantiles of samples use linear
interpolation; the mean is the sample mean (Bolt: the 0.5 quantile).

Command line::

  python -m lowrank_ts.forecast --model DIR --input series.csv --horizon 24 \\
      --num-samples 20 --seed 0 [--temperature 1 --top-k 50 --top-p 1] --out forecast.csv

``series.csv`` is wide: a header of series names, one column per series, empty cells for
missing values (and for the start of shorter series); with ``--long``, it has columns
``series`` and ``value`` (one row per observation, in time order). ``forecast.csv`` has one
row per series and step: ``series, step, mean, 0.1, ..., 0.9``.
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import sys
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts import checks, embeddings, sampling
from lowrank_ts.models.chronos import Chronos
from lowrank_ts.models.chronos_bolt import ChronosBolt

QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Contexts are left-padded (masked, so results are unchanged) to a multiple of this length,
# and chunks are sampled to a multiple of _STEP_BUCKET steps and cut (step t draws with
# fold_in(key, t) and only sees earlier steps, so the kept steps are unchanged): growing
# contexts and mixed horizons reuse compiled programs.
_LENGTH_BUCKET = 64
_STEP_BUCKET = 16


def prepare_context(context: Any) -> np.ndarray:
  """float32 ``[B, T]`` with NaN for missing values, from a ``[T]`` / ``[B, T]`` array or a
  list of 1-D series of different lengths (left-padded with NaN)."""
  if isinstance(context, (list, tuple)):
    return embeddings.left_pad_and_stack(list(context))
  arr = np.asarray(checks.as_float_array(context, "context"), np.float32)
  if arr.ndim == 1:
    arr = arr[None]
  checks.check_ndim(arr, "context", ndim=2)
  checks.check_nonempty(arr, "context")
  return arr


def _check_tokenizer(config) -> None:
  standard = (embeddings.CHRONOS_N_TOKENS, embeddings.CHRONOS_N_SPECIAL_TOKENS,
              -embeddings.CHRONOS_LIMIT, embeddings.CHRONOS_LIMIT, embeddings.CHRONOS_PAD_ID,
              embeddings.CHRONOS_EOS_ID)
  ours = (config.n_tokens, config.n_special_tokens, config.low_limit, config.high_limit,
          config.pad_token_id, config.eos_token_id)
  if ours != standard:
    raise ValueError(f"model uses tokenizer settings {ours}; forecasting supports Chronos' "
                     f"MeanScaleUniformBins {standard}")


def _bucketed(window: np.ndarray, context_length: int) -> np.ndarray:
  length = min(context_length, _LENGTH_BUCKET * math.ceil(window.shape[1] / _LENGTH_BUCKET))
  pad = max(length - window.shape[1], 0)
  return np.pad(window, ((0, 0), (pad, 0)), constant_values=np.nan)


def sample_paths(model: Chronos, context: Any, horizon: int, key: Any, *,
                 num_samples: int | None = None, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
  """Chronos sample paths ``[B, num_samples, horizon]`` in the data's scale.

  Unset sampling arguments default to the checkpoint's (``model.chronos``).
  """
  if not isinstance(model, Chronos):
    raise ValueError(f"model must be a Chronos model, got {type(model).__name__}")
  config = model.chronos
  _check_tokenizer(config)
  horizon = checks.positive_int(horizon, "horizon")
  key = checks.prng_key(key)
  num_samples = config.num_samples if num_samples is None else num_samples
  temperature = config.temperature if temperature is None else temperature
  top_k = config.top_k if top_k is None else top_k
  top_p = config.top_p if top_p is None else top_p
  context = prepare_context(context)
  chunks, remaining = [], horizon
  while remaining > 0:
    window = _bucketed(context[:, -config.context_length:], config.context_length)
    token_ids, mask, scale = embeddings.chronos_tokenize(window, append_eos=config.use_eos_token)
    steps = min(remaining, config.prediction_length)
    compiled_steps = min(config.prediction_length, _STEP_BUCKET * math.ceil(steps / _STEP_BUCKET))
    tokens = sampling.sample(model, token_ids, mask, jax.random.fold_in(key, len(chunks)),
                             num_samples=num_samples, horizon=compiled_steps,
                             temperature=temperature, top_k=top_k, top_p=top_p,
                             eos_token_id=config.eos_token_id)[..., :steps]
    values = np.asarray(embeddings.chronos_detokenize(tokens, scale))
    chunks.append(values)
    remaining -= steps
    if remaining > 0:  # torch.median: the lower of the two middle samples
      median = np.sort(values, axis=1)[:, (values.shape[1] - 1) // 2]
      context = np.concatenate([context, median], axis=1)
  return np.concatenate(chunks, axis=-1)


@nnx.jit
def _bolt_call(model, context_BT):
  return model(context_BT)


def bolt_quantiles(model: ChronosBolt, context: Any, horizon: int) -> np.ndarray:
  """Chronos-Bolt quantile forecasts ``[B, Q, horizon]`` (its own quantile levels)."""
  if not isinstance(model, ChronosBolt):
    raise ValueError(f"model must be a ChronosBolt model, got {type(model).__name__}")
  horizon = checks.positive_int(horizon, "horizon")
  config = model.bolt
  context = prepare_context(context)[:, -config.context_length:]
  prediction = np.asarray(_bolt_call(model, jnp.asarray(context)))
  chunks, remaining = [prediction], horizon - prediction.shape[-1]
  batch, n_q = prediction.shape[:2]
  if remaining > 0:
    context = np.repeat(context[:, None], n_q, axis=1)
  while remaining > 0:
    context = np.concatenate([context, prediction], axis=-1)[..., -config.context_length:]
    paths = np.asarray(_bolt_call(model, jnp.asarray(context.reshape(batch * n_q, -1))))
    paths = paths.reshape(batch, n_q * n_q, -1)
    prediction = np.quantile(paths, config.quantiles, axis=1).astype(np.float32)
    prediction = np.moveaxis(prediction, 0, 1)
    chunks.append(prediction)
    remaining -= prediction.shape[-1]
  return np.concatenate(chunks, axis=-1)[..., :horizon]


def forecast(model: Chronos | ChronosBolt, context: Any, horizon: int, key: Any = None,
             **sampling_kwargs) -> dict[str, np.ndarray]:
  """``{"mean": [B, H], "quantiles": [B, H, 9]}`` at levels 0.1 ... 0.9 for either model.

  Chronos needs a PRNG ``key`` (``sampling_kwargs``: num_samples, temperature, top_k,
  top_p); Chronos-Bolt is deterministic and takes neither.
  """
  if isinstance(model, ChronosBolt):
    if sampling_kwargs:
      raise ValueError(f"sampling arguments {sorted(sampling_kwargs)} do not apply to "
                       "Chronos-Bolt")
    levels = model.bolt.quantiles
    if 0.5 not in levels:
      raise ValueError("model must predict the 0.5 quantile")
    q = bolt_quantiles(model, context, horizon)
    # Bolt's own levels, linearly interpolated (and clamped at its extreme levels).
    out = np.stack([_interpolate_levels(q, levels, lvl) for lvl in QUANTILE_LEVELS], -1)
    return {"mean": q[:, levels.index(0.5)], "quantiles": out}
  if key is None:
    raise ValueError("key is required to sample Chronos forecasts (jax.random.key(seed))")
  samples = sample_paths(model, context, horizon, key, **sampling_kwargs)
  return {"mean": samples.mean(axis=1),
          "quantiles": np.moveaxis(np.quantile(samples, QUANTILE_LEVELS, axis=1), 0, -1)}


def _interpolate_levels(q_BQH, levels, level):
  if level in levels:
    return q_BQH[:, levels.index(level)]
  idx = int(np.clip(np.searchsorted(levels, level), 1, len(levels) - 1))
  lo, hi = levels[idx - 1], levels[idx]
  w = np.clip((level - lo) / (hi - lo), 0.0, 1.0)
  return (1 - w) * q_BQH[:, idx - 1] + w * q_BQH[:, idx]


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

def read_wide_csv(path: Any) -> tuple[list[str], np.ndarray]:
  """Series names and a ``[B, T]`` float32 array (NaN = missing) from a wide CSV."""
  path = pathlib.Path(path)
  with path.open(newline="") as f:
    rows = list(csv.reader(f))
  if not rows or not any(cell.strip() for cell in rows[0]):
    raise ValueError(f"input {path} has no header row of series names")
  names = [n.strip() for n in rows[0]]
  values = np.full((len(names), len(rows) - 1), np.nan, np.float32)
  for t, row in enumerate(rows[1:]):
    if len(row) > len(names):
      raise ValueError(f"input row {t + 2} has {len(row)} cells but the header has "
                       f"{len(names)}")
    for b, cell in enumerate(row):
      cell = cell.strip()
      if not cell:
        continue
      try:
        values[b, t] = float(cell)
      except ValueError:
        raise ValueError(f"input column {names[b]!r} is not numeric: row {t + 2} holds "
                         f"{cell!r}") from None
  for b, name in enumerate(names):
    if not np.isfinite(values[b]).any():
      raise ValueError(f"input series {name!r} is empty (no numeric values)")
  return names, values


def read_long_csv(path: Any, series_column: str = "series",
                  value_column: str = "value") -> tuple[list[str], np.ndarray]:
  """Series names and a left-padded ``[B, T]`` array from a long CSV: one row per observation
  in time order, a ``series_column`` naming the series and a ``value_column`` (empty =
  missing); other columns (e.g. timestamps) are ignored."""
  path = pathlib.Path(path)
  with path.open(newline="") as f:
    reader = csv.DictReader(f)
    fields = reader.fieldnames or []
    for column, arg in ((series_column, "series_column"), (value_column, "value_column")):
      if column not in fields:
        raise ValueError(f"{arg}: input {path} has no column {column!r} (columns: {fields})")
    series: dict[str, list[float]] = {}
    for line, row in enumerate(reader, start=2):
      cell = (row[value_column] or "").strip()
      try:
        value = float(cell) if cell else np.nan
      except ValueError:
        raise ValueError(f"input column {value_column!r} is not numeric: row {line} holds "
                         f"{cell!r}") from None
      series.setdefault(row[series_column], []).append(value)
  if not series:
    raise ValueError(f"input {path} has no rows")
  for name, values in series.items():
    if not np.isfinite(values).any():
      raise ValueError(f"input series {name!r} is empty (no numeric values)")
  return list(series), embeddings.left_pad_and_stack(list(series.values()))


def write_forecast_csv(path: Any, names: Sequence[str], result: dict[str, np.ndarray]) -> None:
  """Writes ``series, step, mean, 0.1 ... 0.9`` rows for the output of :func:`forecast`."""
  if not isinstance(result, dict) or set(result) != {"mean", "quantiles"}:
    raise ValueError("result must be the dict returned by forecast()")
  mean, quantiles = np.asarray(result["mean"]), np.asarray(result["quantiles"])
  if mean.ndim != 2 or quantiles.shape != mean.shape + (len(QUANTILE_LEVELS),):
    raise ValueError(f"result shapes disagree: mean {mean.shape}, quantiles {quantiles.shape}")
  if len(names) != mean.shape[0]:
    raise ValueError(f"names has {len(names)} entries for {mean.shape[0]} series")
  with pathlib.Path(path).open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["series", "step", "mean", *[str(q) for q in QUANTILE_LEVELS]])
    for b, name in enumerate(names):
      for h in range(result["mean"].shape[1]):
        writer.writerow([name, h + 1, f"{result['mean'][b, h]:.7g}",
                         *[f"{v:.7g}" for v in result["quantiles"][b, h]]])


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lowrank_ts.forecast",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", required=True, help="Hugging Face format checkpoint folder")
  parser.add_argument("--input", required=True, help="wide CSV, one column per series")
  parser.add_argument("--long", action="store_true",
                      help="the input is long: columns 'series' and 'value', rows in time order")
  parser.add_argument("--horizon", required=True, type=int)
  parser.add_argument("--num-samples", type=int, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--temperature", type=float, default=None)
  parser.add_argument("--top-k", type=int, default=None)
  parser.add_argument("--top-p", type=float, default=None)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  if args.horizon <= 0:
    parser.error(f"--horizon must be > 0, got {args.horizon}")
  from lowrank_ts import hf
  try:
    names, context = (read_long_csv if args.long else read_wide_csv)(args.input)
    model = hf.load(args.model)
    kwargs = {k: v for k, v in (("num_samples", args.num_samples),
                                ("temperature", args.temperature), ("top_k", args.top_k),
                                ("top_p", args.top_p)) if v is not None}
    if isinstance(model, ChronosBolt):
      result = forecast(model, context, args.horizon, **kwargs)
    else:
      result = forecast(model, context, args.horizon, jax.random.key(args.seed), **kwargs)
  except ValueError as err:
    parser.error(str(err))
  write_forecast_csv(args.out, names, result)
  return 0


if __name__ == "__main__":
  sys.exit(main())
