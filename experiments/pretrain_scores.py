"""Scores, forecast times and memory of the experiments.pretrain_runs runs (read by fig7 +
Table 4, table3 and appe).

Scores: aggregate WQL / MASE relative to Seasonal Naive on the in-domain (``real``) and
zero-shot (``m3-tourism``) benchmarks, and per dataset, cached in each run's workdir as
``scores.json`` (:func:`scores`, :func:`scores_for`); :func:`relative` divides by the dense
run's. Speed and memory, measured side by side: :func:`forecast_seconds` (the models' calls
interleaved round by round) and :func:`working_bytes` (XLA's compiled memory analysis).
:func:`preconditions`: experiments.precondition on runs, cached in their workdirs.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from experiments import precondition
from experiments.pretrain_runs import FAMILIES, load, workdir
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import report, scoring
from lowrank_ts.inference import forecasting, sampling

EVAL = {"smoke": {"real": ["AirPassengers", "co2"], "max_series": 1, "time_repeats": 1},
        "default": {"real": None, "max_series": None, "time_repeats": 3},
        "full": {"real": None, "max_series": None, "time_repeats": 5}}


def tasks(size: str) -> dict:
  p = EVAL[size]
  return {"in_domain": benchmark.tasks("real", names=p["real"]),
          "zero_shot": report.benchmark_tasks("m3-tourism", p["max_series"])}


def _naive(bench: str):
  return report.baseline_forecaster("real" if bench == "in_domain" else "m3-tourism")


def naive_baselines(bench_tasks: dict) -> dict:
  return {b: scoring.per_dataset(scoring.evaluate(_naive(b), t)) for b, t in bench_tasks.items()}


def scores(name: str, size: str, root: str | None, bench_tasks: dict, baselines: dict) -> dict:
  """Aggregate WQL / MASE relative to Seasonal Naive on each benchmark (and per dataset),
  cached in the run's workdir as ``scores.json``."""
  path = os.path.join(workdir(name, size, root), "scores.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  model = load(name, size, root)
  out = {}
  for bench, t in bench_tasks.items():
    s = report.score(scoring.model_forecaster(model), t, baselines[bench], naive=_naive(bench))
    out[bench] = {"wql": float(s.aggregate["wql"]), "mase": float(s.aggregate["mase"]),
                  "per_dataset": {d: {"relative_wql": s.datasets[d]["wql"] / s.baseline[d]["wql"],
                                      "relative_mase": s.datasets[d]["mase"]
                                      / s.baseline[d]["mase"]} for d in s.datasets}}
  with open(path + ".tmp", "w") as f:
    json.dump(out, f, indent=1)
  os.replace(path + ".tmp", path)
  return out


def scores_for(names, size: str, root: str | None = None) -> dict:
  """:func:`scores` of every run in ``names``; the benchmarks are loaded (and Seasonal Naive
  run) only when some run has no cached scores yet."""
  cached = {n: os.path.exists(os.path.join(workdir(n, size, root), "scores.json")) for n in names}
  bench = baselines = None
  if not all(cached.values()):
    bench = tasks(size)
    baselines = naive_baselines(bench)
  return {n: scores(n, size, root, bench, baselines) for n in names}


def preconditions(names, size: str, root: str | None = None, seed: int = 0) -> dict:
  """:func:`experiments.precondition.measure_cached` of the runs ``names`` (trained first if
  needed; kept in each run's workdir), in :func:`experiments.precondition.to_json`'s form."""
  return precondition.measure_workdirs(
      {n: workdir(n, size, root) for n in names}, size, seed,
      loaders={n: functools.partial(load, n, size, root) for n in names})


def relative(score: dict, dense: dict) -> dict:
  """``{in_domain_wql, in_domain_mase, zero_shot_wql, zero_shot_mase}`` relative to dense."""
  return {f"{b}_{m}": score[b][m] / dense[b][m] for b in ("in_domain", "zero_shot")
          for m in ("wql", "mase")}


# -- speed and memory, measured side by side ---------------------------------------------------
def zero_shot_contexts(bench_tasks: dict) -> tuple[np.ndarray, int]:
  zs = bench_tasks["zero_shot"]
  return (forecasting.prepare_context([np.asarray(t.context, np.float32) for t in zs]),
          max(t.horizon for t in zs))


def forecast_seconds(models: dict, contexts: np.ndarray, horizon: int, repeats: int) -> dict:
  """Median wall seconds of one forecast of every context, per model; the models' calls
  interleaved round by round (after one compiling call each), so load changes hit all alike.
  A sampling model (Chronos-T5) draws its configured number of paths with one fixed key."""
  key = jax.random.key(0)

  def call(model):
    start = time.perf_counter()
    forecasting.forecast(model, contexts, horizon, key)
    return time.perf_counter() - start
  for model in models.values():
    call(model)
  rounds = [{name: call(model) for name, model in models.items()} for _ in range(repeats)]
  return {name: statistics.median(r[name] for r in rounds) for name in models}


def working_bytes(model, contexts: np.ndarray, family: str = "bolt") -> dict:
  """XLA's compiled memory analysis of the forecast program on the whole batch of contexts:
  argument (parameters + inputs) + temporary bytes (as benchmarks/inference.py). Chronos-Bolt:
  its forward; Chronos-T5 (``family="t5"``): the jitted sampler (encoder + decode loop over
  the config's number of paths and prediction length; ``sampling.lowered``)."""
  if family not in FAMILIES:
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
  graphdef, state = nnx.split(model)
  x = jnp.asarray(contexts[:, -model.config.context_length:])
  if family == "t5":
    config = model.config
    token_ids, mask, _ = config.tokenizer.tokenize(np.asarray(x))
    lowered = sampling.lowered(model, token_ids, mask, jax.random.key(0),
                               num_samples=config.num_samples,
                               horizon=config.prediction_length, top_k=config.top_k,
                               eos_token_id=config.tokenizer.eos_token_id)
  else:
    lowered = jax.jit(lambda s, c: nnx.merge(graphdef, s)(c)).lower(state, x)
  analysis = lowered.compile().memory_analysis()
  params = nnx.state(model, nnx.Param)
  return {"argument_bytes": int(analysis.argument_size_in_bytes),
          "temp_bytes": int(analysis.temp_size_in_bytes),
          "working_bytes": int(analysis.argument_size_in_bytes + analysis.temp_size_in_bytes),
          "param_bytes": int(sum(v.nbytes for v in jax.tree.leaves(params)))}
