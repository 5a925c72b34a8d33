"""Forecasting speed and memory: chronos-forecasting vs our jitted forecaster, dense vs compressed.

Command: ``python -m benchmarks.inference [--quick] [--repeats N] [--sizes tiny,small,base]
[--rounds R] [--families chronos,bolt] [--variants dense,...] [--bolt-series 8,1024]``
Runtime on 2 cores: roughly 15 minutes for tiny + small, 30-40 more for base
(``--quick``: thin 2-layer configs, batch 2, context 64, horizon 8, 2 samples, 1 repeat;
about a minute; nothing written unless ``--out`` is given).

Per size (random weights; speed does not depend on them), batch 8, context 512, horizon 64,
20 samples, from checkpoints created locally with :mod:`lowrank_ts.hf_reference`:

- Chronos-T5: chronos-forecasting's ``ChronosPipeline.predict`` (PyTorch, 2 threads) vs our
  :func:`lowrank_ts.inference.forecasting.predict` (sample paths; dense), vs our compressed models: post-hoc
  (:func:`lowrank_ts.models.posthoc.compress`, eps = 1e-2) and the authors' pretrained-schedule
  layouts at attention size ratios 0.25 / 0.15 / 0.075 (:func:`lowrank.authors_layout` with
  (d0, beta) = (7, 0.40), (5, 0.35), (3, 0.27); random weights).
  Random Gaussian weights have flat spectra (nothing to truncate at eps = 1e-2), so for the
  post-hoc row every attention matrix W = U S V^T of the dense model is first replaced by
  U diag(sigma_1 j^-1.1) V^T (same singular vectors, a power-law spectrum): its eps-rank at
  1e-2 is 65 (65^-1.1 = 0.0101 > 0.01 > 66^-1.1), whatever the size, as the paper finds the
  eps-rank of pretrained Chronos' W_Q nearly independent of d (Fig. 4a). ``--quick``'s 64-wide
  matrices get j^-1.5 instead (eps-rank 21), so that something is truncated there too.
- Chronos-Bolt (same sizes): ``ChronosBoltPipeline.predict`` vs :func:`lowrank_ts.inference.forecasting.predict`
  (quantiles).

Every implementation runs in its own subprocess, so its RSS is its own; ``--rounds R`` runs
the whole plan R times in turn (reference, ours, reference, ours ...), so a change in the
machine's load reaches both sides, and reports the median of the rounds' medians. Per row: wall time per
call (median over ``--repeats`` after one warm-up call; the warm-up, which compiles ours, is
reported as ``first_s``), peak RSS while forecasting (the high-water mark, VmHWM, restarted
once the model is loaded / compressed and idle; ``process_peak_rss_bytes`` is the whole
process's, loading included), RSS of the loaded idle model, parameter bytes, working memory
(ours: XLA's compiled memory analysis of the whole forecast, argument + temporary bytes; the
reference: peak RSS minus the loaded idle RSS) and the analytic FLOP count of the forecast (:func:`chronos_forecast_flops`, :func:`bolt_forecast_flops`) with the achieved
GFLOP/s against this machine's jitted matmul rate (:func:`common.matmul_gflops`).
Targets (:func:`_targets`) are evaluated in the results file, with the margin by which each
is met or missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import common, memory
from benchmarks.flops import bolt_forecast_flops, chronos_forecast_flops

ROOT = pathlib.Path(__file__).resolve().parent.parent
# (d_model, d_ff, layers per stack, heads, d_kv): lowrank_ts.models.config's sizes; "cpu" is
# the thin config of --quick (hf_reference's default checkpoint).
SIZES = {"tiny": (256, 1024, 4, 4, 64), "small": (512, 2048, 6, 8, 64),
         "base": (768, 3072, 12, 12, 64), "cpu": (64, 128, 2, 4, 16)}
# The authors' configs: attention size ratio label -> (base_tilde_d, beta) of authors_layout.
LAYOUTS = {"0.25": (7, 0.40), "0.15": (5, 0.35), "0.075": (3, 0.27)}
POSTHOC_EPS = 1e-2
SPECTRUM_EXPONENT = 1.1
QUICK_SPECTRUM_EXPONENT = 1.5
CHRONOS_VARIANTS = ("dense", "posthoc", *(f"ratio-{r}" for r in LAYOUTS))


# ------------------------------------------------------------------------------------------
# Workers: one implementation per process
# ------------------------------------------------------------------------------------------

def _series(batch: int, length: int) -> np.ndarray:
  """Positive random-walk-plus-season series, float32 ``[batch, length]``."""
  rng = np.random.default_rng(0)
  t = np.arange(length)
  walk = rng.normal(size=(batch, length)).cumsum(-1)
  return (50 + walk + 10 * np.sin(2 * np.pi * t / 24)).astype(np.float32)


def power_law_spectra(model, exponent: float) -> None:
  """Replaces every (dense) attention matrix U S V^T by U diag(sigma_1 j^-exponent) V^T."""
  import jax.numpy as jnp

  from lowrank_ts.models import posthoc
  for _, _, _, _, module in posthoc.attention_projections(model):
    u, s, vt = jnp.linalg.svd(module.kernel[...], full_matrices=False)
    decay = jnp.arange(1, s.shape[0] + 1, dtype=s.dtype) ** -exponent
    module.kernel[...] = (u * (s[0] * decay)) @ vt


def _ours(spec: dict) -> dict:
  import jax
  import jax.numpy as jnp
  from flax import nnx

  from lowrank_ts.inference import forecasting, sampling
  from lowrank_ts.interop import hf
  from lowrank_ts.models import lowrank, posthoc, registry
  context = _series(spec["batch"], spec["context"])
  info = {}
  if spec["variant"].startswith("ratio-"):  # random weights: only the config is read
    dense = hf.config_from_json(json.loads(
        (pathlib.Path(spec["folder"]) / "config.json").read_text()))
    d0, beta = LAYOUTS[spec["variant"].removeprefix("ratio-")]
    config = dataclasses.replace(dense, t5=lowrank.authors_layout(dense.t5, d0, beta))
    model = registry.build(config, seed=0)
    info = {"base_tilde_d": d0, "beta": beta,
            "d_kv": [s.d_kv for s in config.t5.attention_specs("encoder")]
            + [s.d_kv for s in config.t5.attention_specs("decoder_cross")]}
  else:
    model = hf.load(spec["folder"])
  if spec["variant"] == "posthoc":
    power_law_spectra(model, spec["spectrum_exponent"])
    model, report = posthoc.compress(model, POSTHOC_EPS)
    ranks = [p.rank or min(p.shape) for p in report.projections]
    info = {"eps": POSTHOC_EPS, "spectrum": f"sigma_j = sigma_1 j^-{spec['spectrum_exponent']}",
            "eps_ranks": sorted({p.eps_rank for p in report.projections}),
            "factorised": sum(p.rank is not None for p in report.projections),
            "projections": len(report.projections), "median_rank": statistics.median(ranks)}
  graphdef, state = nnx.split(model)
  params = nnx.state(model, nnx.Param)
  param_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
  info.update(memory.settle())
  idle = memory.rss_bytes()
  if spec["family"] == "bolt":
    t5 = model.config.t5
    flops = bolt_forecast_flops(model.config, spec["batch"], spec["context"])
    timing = common.timed(lambda: forecasting.predict(model, context, spec["horizon"]),
                          spec["repeats"])
    peak = memory.peak_rss_bytes()
    program = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x)).lower
    args = (state, jnp.asarray(context))
  else:
    t5 = model.config.t5
    key = jax.random.key(0)
    flops = chronos_forecast_flops(t5, spec["batch"], spec["context"] + 1, spec["horizon"],
                                   spec["samples"])
    timing = common.timed(lambda: forecasting.predict(
        model, context, spec["horizon"], key, num_samples=spec["samples"]), spec["repeats"])
    peak = memory.peak_rss_bytes()
    # The very program the forecast ran (the same static and traced arguments): JAX returns its
    # cached executable instead of compiling again. (The context is a multiple of 64 long and
    # the horizon <= prediction_length: one chunk, nothing bucketed.)
    c = model.config
    ids, mask, _ = c.tokenizer.tokenize(context)
    program = functools.partial(
        sampling.lowered, num_samples=spec["samples"], horizon=spec["horizon"],
        temperature=c.temperature, top_k=c.top_k, top_p=c.top_p,
        eos_token_id=c.tokenizer.eos_token_id)
    args = (model, ids, mask, key)
  start = time.perf_counter()  # ~0 for Chronos when the executable is reused (see above)
  analysis = program(*args).compile().memory_analysis()
  info["memory_analysis_s"] = time.perf_counter() - start
  xla_memory = {"argument_bytes": int(analysis.argument_size_in_bytes),
                "output_bytes": int(analysis.output_size_in_bytes),
                "temp_bytes": int(analysis.temp_size_in_bytes)}
  return {**timing, "peak_rss_bytes": peak, "idle_rss_bytes": idle, "param_bytes": param_bytes,
          "process_peak_rss_bytes": max(peak, info["setup_peak_rss_bytes"]),
          "working_bytes": xla_memory["argument_bytes"] + xla_memory["temp_bytes"],
          "xla_memory": xla_memory, "flops": flops,
          "attention_size_ratio": lowrank.attention_size_ratio(t5), **info}


def _reference(spec: dict) -> dict:
  import torch
  from chronos import BaseChronosPipeline
  torch.set_num_threads(2)
  torch.manual_seed(0)
  pipeline = BaseChronosPipeline.from_pretrained(spec["folder"], device_map="cpu",
                                                 dtype=torch.float32)
  context = torch.tensor(_series(spec["batch"], spec["context"]))
  param_bytes = sum(p.numel() * p.element_size() for p in pipeline.model.parameters())
  if spec["family"] == "bolt":
    def call():
      return pipeline.predict(context, prediction_length=spec["horizon"])
  else:
    def call():
      return pipeline.predict(context, prediction_length=spec["horizon"],
                              num_samples=spec["samples"])
  settled = memory.settle()
  idle = memory.rss_bytes()
  with torch.inference_mode():
    timing = common.timed(call, spec["repeats"])
  peak = memory.peak_rss_bytes()
  return {**timing, "peak_rss_bytes": peak, "idle_rss_bytes": idle, "param_bytes": param_bytes,
          "process_peak_rss_bytes": max(peak, settled["setup_peak_rss_bytes"]),
          "working_bytes": peak - idle, **settled}


def run_worker(spec: dict) -> dict:
  """Measures one implementation in this process (call it in a fresh one: RSS is per process)."""
  return (_reference if spec["impl"] == "reference" else _ours)(spec)


def _spawn(spec: dict, tree: pathlib.Path = ROOT) -> dict:
  """One worker process for ``spec``, started in the source tree ``tree`` (its own code)."""
  env = {**os.environ, "PYTHONPATH": str(tree)}
  proc = subprocess.run([sys.executable, "-m", "benchmarks.inference", "--worker",
                         json.dumps(spec)], cwd=tree, env=env, capture_output=True, text=True,
                        check=False)
  lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
  if proc.returncode != 0 or not lines:
    raise RuntimeError(f"worker {spec['impl']} {spec['family']} {spec['variant']} failed "
                       f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}")
  return json.loads(lines[-1].removeprefix("RESULT "))


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------

def _checkpoints(size: str, folder: pathlib.Path, context: int, horizon: int) -> dict:
  from lowrank_ts.interop.hf_reference import bolt_checkpoint, chronos_checkpoint
  d_model, d_ff, layers, heads, d_kv = SIZES[size]
  dims = dict(d_model=d_model, d_ff=d_ff, num_layers=layers, num_heads=heads, d_kv=d_kv,
              initializer_factor=0.05)
  chronos_checkpoint(folder / "chronos", context_length=context, prediction_length=horizon,
                     **dims)
  bolt_checkpoint(folder / "bolt", context_length=max(context, 2048),
                  prediction_length=horizon, **dims)
  return {"chronos": str(folder / "chronos"), "bolt": str(folder / "bolt")}


def run(sizes, batch: int, context: int, horizon: int, samples: int, repeats: int,
        matmul_n: int = 2048, variants=CHRONOS_VARIANTS,
        spectrum_exponent: float = SPECTRUM_EXPONENT, log=print, rounds: int = 1,
        families=("chronos", "bolt"), bolt_series=None) -> dict:
  """Measures every row and returns the results record (see the module docstring).

  With ``rounds`` > 1 the whole plan runs that many times in turn (reference, ours, reference,
  ours ...), each worker a fresh process; a row's ``median_s`` is the median of its rounds'
  medians (each round's in ``round_median_s``) and its peak RSS the highest round's.
  ``bolt_series`` lists the numbers of Bolt series (default: ``batch``)."""
  bolt_series = [batch] if bolt_series is None else list(bolt_series)
  record = {"machine": common.machine(),
            "settings": dict(sizes=list(sizes), batch=batch, context=context, horizon=horizon,
                             samples=samples, repeats=repeats, rounds=rounds,
                             families=list(families), bolt_series=bolt_series,
                             posthoc_eps=POSTHOC_EPS,
                             posthoc_spectrum=f"sigma_j = sigma_1 j^-{spectrum_exponent} "
                             "(same singular vectors as the random dense weights)",
                             layouts={k: list(v) for k, v in LAYOUTS.items()}),
            "matmul": common.matmul_gflops(n=matmul_n), "rows": []}
  for size in sizes:
    with tempfile.TemporaryDirectory() as tmp:
      folders = _checkpoints(size, pathlib.Path(tmp), context, horizon)
      plan = []
      if "chronos" in families:
        plan += [("chronos", "reference", "dense", batch)]
        plan += [("chronos", "ours", v, batch) for v in variants]
      if "bolt" in families:
        for n in bolt_series:
          plan += [("bolt", "reference", "dense", n), ("bolt", "ours", "dense", n)]
      measured = {}
      for round_index in range(rounds):
        for family, impl, variant, series in plan:
          spec = dict(family=family, impl=impl, variant=variant, folder=folders[family],
                      batch=series, context=context, horizon=horizon, samples=samples,
                      repeats=repeats, spectrum_exponent=spectrum_exponent)
          start = time.perf_counter()
          result = _spawn(spec)
          result["process_wall_s"] = time.perf_counter() - start
          measured.setdefault((family, impl, variant, series), []).append(result)
          log(f"  round {round_index + 1} {size} {family} {impl} {variant} {series} series: "
              f"{result['median_s']:.3f} s median, {result['peak_rss_bytes'] / 2**20:.0f} MB "
              f"peak RSS ({result['process_wall_s']:.0f} s in all)")
      for (family, impl, variant, series), results in measured.items():
        row = {"size": size, "family": family, "impl": impl, "variant": variant,
               "series": series, **_combine(results)}
        record["rows"].append(row)
  _derive(record)
  return record


def _combine(results: list[dict]) -> dict:
  """One row from the rounds of a worker: the first round's record with the median of the
  rounds' medians and the highest peak RSS."""
  row = dict(results[0])
  if len(results) > 1:
    row["round_median_s"] = [r["median_s"] for r in results]
    row["median_s"] = statistics.median(row["round_median_s"])
    for key in ("peak_rss_bytes", "process_peak_rss_bytes", "working_bytes"):
      row[key] = max(r[key] for r in results)
  return row


def _derive(record: dict) -> None:
  """Adds FLOPs / GFLOP/s and the ratios to each row, the targets, and the markdown table."""
  peak = record["matmul"]["gflops_best"]
  rows = record["rows"]
  ours = {(r["size"], r["family"], r["variant"], r.get("series")): r for r in rows
          if r["impl"] == "ours"}
  for r in rows:
    dense = ours[(r["size"], r["family"], "dense", r.get("series"))]
    r["flops_total"] = (r.get("flops") or dense["flops"])["total"]  # the same useful work
    r["gflops_per_s"] = r["flops_total"] / r["median_s"] / 1e9
    r["fraction_of_matmul_rate"] = r["gflops_per_s"] / peak
    ref = next((x for x in rows if (x["size"], x["family"], x["impl"], x.get("series")) == (
        r["size"], r["family"], "reference", r.get("series"))), None)
    # Stable keys every row has, for scripts: the reference's time / this row's (1 for the
    # reference itself; None where the run had no reference row) and the share of the
    # machine's jitted matmul rate achieved.
    r["speedup_vs_reference"] = None if ref is None else ref["median_s"] / r["median_s"]
    r["matmul_fraction"] = r["fraction_of_matmul_rate"]
    if r["impl"] == "ours" and ref is not None:
      r["time_vs_reference"] = r["median_s"] / ref["median_s"]
      r["peak_rss_vs_reference"] = r["peak_rss_bytes"] / ref["peak_rss_bytes"]
      r["time_vs_dense"] = r["median_s"] / dense["median_s"]
      r["flops_vs_dense"] = r["flops_total"] / dense["flops_total"]
      r["working_vs_dense"] = r["working_bytes"] / dense["working_bytes"]
      r["temp_vs_dense"] = r["xla_memory"]["temp_bytes"] / max(dense["xla_memory"]["temp_bytes"],
                                                               1)
  record["targets"] = _targets(ours)
  record["table"] = _table(rows, peak)


def _targets(ours: dict) -> list[dict]:
  out = []

  def target(name, value, limit, lower_is_better=True):
    met = value <= limit if lower_is_better else value >= limit
    out.append({"target": name, "value": value, "limit": limit, "met": bool(met),
                "margin": (limit / value if lower_is_better else value / limit)})

  chronos = next((r for k, r in ours.items() if k[:3] == ("small", "chronos", "dense")), None)
  if chronos is not None and "time_vs_reference" in chronos:
    target("small: reference time / ours (>= 5)", 1 / chronos["time_vs_reference"], 5.0, False)
    target("small: ours peak RSS / reference (<= 0.25)", chronos["peak_rss_vs_reference"], 0.25)
  for (size, family, variant, series), r in ours.items():
    if (size, family, variant) == ("small", "bolt", "dense") and "time_vs_reference" in r:
      if series is not None and series >= 1024:
        target(f"bolt small, {series} series: reference time / ours (>= 2)",
               1 / r["time_vs_reference"], 2.0, False)
      else:
        target(f"bolt small, {series} series: ours time / reference (<= 1, never slower)",
               r["time_vs_reference"], 1.0)
  base = next((r for k, r in ours.items() if k[:3] == ("base", "chronos", "ratio-0.075")), None)
  if base is not None:
    target("base 0.075: time ratio / FLOP ratio (<= 1.15)",
           base["time_vs_dense"] / base["flops_vs_dense"], 1.15)
    target("base 0.075: working-memory ratio (<= 0.25)", base["working_vs_dense"], 0.25)
  for (size, family, variant, _), r in ours.items():
    if variant == "posthoc":
      target(f"{size}: post-hoc eps=1e-2 time / dense (< 1)", r["time_vs_dense"], 1.0)
  return out


def _table(rows, peak) -> str:
  mb = 2 ** 20
  lines = [("| size | model | implementation | median s | first call s | GFLOP | GFLOP/s "
            "(% matmul) | peak RSS MB | working MB | params MB | ours / ref time | "
            "ours / ref peak RSS | / dense time | / dense FLOP | / dense working |"),
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    name = "chronos-forecasting" if r["impl"] == "reference" else f"ours {r['variant']}"
    if r["variant"] == "posthoc":
      name += f" (eps {POSTHOC_EPS:g})"
    if "attention_size_ratio" in r and r["variant"] != "dense":
      name += f", attn size {r['attention_size_ratio']:.3f}"

    def ratio(key, r=r):
      return f"{r[key]:.2f}" if key in r else ""
    size = r["size"] if r.get("series") is None else f"{r['size']}, {r['series']} series"
    lines.append(
        f"| {size} | {r['family']} | {name} | {r['median_s']:.3f} | {r['first_s']:.2f} | "
        f"{r['flops_total'] / 1e9:.3g} | {r['gflops_per_s']:.3g} "
        f"({100 * r['gflops_per_s'] / peak:.0f} %) | {r['peak_rss_bytes'] / mb:.0f} | "
        f"{r['working_bytes'] / mb:.0f} | {r['param_bytes'] / mb:.1f} | "
        f"{ratio('time_vs_reference')} | {ratio('peak_rss_vs_reference')} | "
        f"{ratio('time_vs_dense')} | {ratio('flops_vs_dense')} | {ratio('working_vs_dense')} |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="thin configs, tiny shapes")
  parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 5; 1 quick)")
  parser.add_argument("--sizes", default="tiny,small,base")
  parser.add_argument("--rounds", type=int, default=1,
                      help="run the whole plan this many times in turn (A B A B ...)")
  parser.add_argument("--families", default="chronos,bolt", help="chronos, bolt or both")
  parser.add_argument("--variants", default=None,
                      help=f"Chronos rows of ours, a subset of {','.join(CHRONOS_VARIANTS)}")
  parser.add_argument("--bolt-series", default=None,
                      help="numbers of Bolt series, comma-separated (default: the batch, 8)")
  parser.add_argument("--out", default=None, help="results file (default: results/inference.json"
                      "; --quick writes nothing unless given)")
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker is not None:
    print("RESULT " + json.dumps(run_worker(json.loads(args.worker))))
    return 0
  variants, exponent = CHRONOS_VARIANTS, SPECTRUM_EXPONENT
  if args.quick:  # one compressed layout of each kind: every worker costs a JAX start-up
    sizes, shapes, repeats, matmul_n = ["cpu"], (2, 64, 8, 2), 1, 512
    variants, exponent = ("dense", "posthoc", "ratio-0.075"), QUICK_SPECTRUM_EXPONENT
  else:
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    shapes, repeats, matmul_n = (8, 512, 64, 20), 5, 2048
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
      parser.error(f"--sizes must be a comma-separated subset of {sorted(SIZES)}, got "
                   f"{args.sizes!r}")
  repeats = repeats if args.repeats is None else args.repeats
  if repeats < 1:
    parser.error(f"--repeats must be >= 1, got {repeats}")
  if args.rounds < 1:
    parser.error(f"--rounds must be >= 1, got {args.rounds}")
  families = tuple(f.strip() for f in args.families.split(",") if f.strip())
  if not families or set(families) - {"chronos", "bolt"}:
    parser.error(f"--families must be chronos, bolt or both, got {args.families!r}")
  if args.variants is not None:
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if not variants or "dense" not in variants or set(variants) - set(CHRONOS_VARIANTS):
      parser.error(f"--variants must be a subset of {','.join(CHRONOS_VARIANTS)} holding dense, "
                   f"got {args.variants!r}")
  bolt_series = None
  if args.bolt_series is not None:
    try:
      bolt_series = [int(n) for n in args.bolt_series.split(",")]
    except ValueError:
      bolt_series = []
    if not bolt_series or min(bolt_series) < 1:
      parser.error(f"--bolt-series must be positive integers, got {args.bolt_series!r}")
  record = run(sizes, *shapes, repeats=repeats, matmul_n=matmul_n, variants=variants,
               spectrum_exponent=exponent, rounds=args.rounds, families=families,
               bolt_series=bolt_series)
  record["quick"] = args.quick
  print(record["table"])
  for t in record["targets"]:
    print(f"target {t['target']}: {t['value']:.3f} ({'met' if t['met'] else 'MISSED'}, "
          f"margin {t['margin']:.2f})")
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1))
    print("wrote", args.out)
  elif not args.quick:
    print("wrote", common.write("inference", record))
  return 0


if __name__ == "__main__":
  sys.exit(main())
