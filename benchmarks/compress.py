"""A model compressed by ``lowrank-ts compress`` against its parent: forecast time,
parameter bytes and checkpoint bytes, measured side by side in one run.

Command: ``python -m benchmarks.compress [--cases shipped,small] [--ratio 0.5] [--repeats 7]
[--batch B]`` (a few minutes on 2 cores; writes ``benchmarks/results/compress.json``).

Two parents, one run: ``shipped`` is the shipped default Chronos-Bolt (lowrank_ts/pretrained.DEFAULT,
trained weights, d_model 64, context 256; batch 256 by default); a size name (``small``:
``chronos-bolt-small``, d_model 512, 6+6 layers, context 2048; batch 32 by default) is that
config with random weights whose every attention matrix ``U S V^T`` is given the power-law
spectrum ``sigma_j = sigma_1 j^-1.1`` (same singular vectors; random Gaussian weights have flat
spectra, trained ones do not, see benchmarks/inference.py), written as a checkpoint folder.
The child is what the CLI writes for ``--ratio R --mode efficient`` (stored attention
parameters <= R of the parent's; every number here is in efficient mode: a matrix is factorised
only where that saves work), loaded back from its folder. Both forecast the same batch (``batch`` series, context = the model's, its
horizon); calls alternate parent / child after one warm-up each (compilation), and the medians
are compared. The machine's jitted matmul rate (:func:`common.matmul_gflops`) is recorded beside
the times, before and after the cases (the machine may be shared): only the ratios mean
anything across machines.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from lowrank_ts import spectral
from lowrank_ts.cli import compress
from lowrank_ts.inference import forecasting
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import allocation, named_config, posthoc, registry

EXPONENT = 1.1


def parent_model(size: str, seed: int = 0):
  model = registry.build(named_config(f"chronos-bolt-{size}"), seed=seed)
  key = jax.random.key(seed)
  for i, (*_, module) in enumerate(posthoc.attention_projections(model)):
    d_in, d_out = module.kernel.shape
    s = jnp.arange(1, min(d_in, d_out) + 1, dtype=jnp.float32) ** -EXPONENT
    module.kernel[...] = spectral.matrix_with_spectrum(jax.random.fold_in(key, i), s, d_in, d_out)
  return model


def _folder_bytes(folder: pathlib.Path) -> int:
  return (folder / "model.safetensors").stat().st_size


BATCH = {"shipped": 256, "small": 32}


def run(case: str, ratio: float, repeats: int, batch: int | None) -> dict:
  batch = batch or BATCH.get(case, 32)
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    if case == "shipped":
      source = resolve.source().path
      label = f"shipped Chronos-Bolt ({source.name}, trained weights)"
    else:
      source = tmp / "parent"
      hf.save(parent_model(case), source)
      label = f"chronos-bolt-{case} (random weights, power-law spectra)"
    parent = resolve.load_model(source)
    request = allocation.Request(ratio=ratio, mode="efficient")
    child, rep = posthoc.compress_to(parent, request)
    record = compress.report_record(rep, request, label)
    compress.write(child, record, tmp / "child")
    child = resolve.load_model(tmp / "child")  # what the CLI wrote, loaded as any checkpoint
    sizes = {"parent_file_bytes": _folder_bytes(pathlib.Path(source)),
             "child_file_bytes": _folder_bytes(tmp / "child")}
  config = parent.config
  rng = np.random.default_rng(0)
  t = np.arange(config.context_length, dtype=np.float32)
  contexts = (np.sin(t / rng.uniform(3, 30, (batch, 1))) * rng.uniform(1, 10, (batch, 1))
              + rng.normal(0, 0.3, (batch, config.context_length))).astype(np.float32)
  horizon = config.prediction_length

  def call(model):
    start = time.perf_counter()
    forecasting.forecast(model, contexts, horizon)
    return time.perf_counter() - start

  first = {"parent_first_s": call(parent), "child_first_s": call(child)}
  pairs = [(call(parent), call(child)) for _ in range(repeats)]
  parent_s = statistics.median(p for p, _ in pairs)
  child_s = statistics.median(c for _, c in pairs)
  return {
      "case": case, "parent": label, "mode": "efficient", "ratio_target": ratio, "batch": batch,
      "context": config.context_length, "horizon": horizon, "repeats": repeats, **first, "parent_median_s": parent_s, "child_median_s": child_s,
      "time_ratio": child_s / parent_s, "pairs_s": pairs,
      "child_faster_in_pairs": sum(c < p for p, c in pairs),
      "parameter_bytes_ratio": record["parameter_bytes_after"] / record["parameter_bytes_before"],
      "file_bytes_ratio": sizes["child_file_bytes"] / sizes["parent_file_bytes"], **sizes,
      "attention_parameter_ratio": record["parameter_ratio"], "rank_ratio": record["rank_ratio"],
      "eps": record["eps"],
      "compression": {k: v for k, v in record.items() if k != "matrices"},
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cases", default="shipped,small",
                      help="comma-separated: shipped and / or sizes tiny, mini, small, base")
  parser.add_argument("--ratio", type=float, default=0.5)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--batch", type=int, default=None, help="series per call (per-case default)")
  parser.add_argument("--out", default=None, help="results file name (default: compress)")
  args = parser.parse_args(argv)
  cases = args.cases.split(",")
  for case in cases:
    if case not in ("shipped", "tiny", "mini", "small", "base"):
      parser.error(f"--cases: unknown case {case!r}")
  start = time.time()
  result = {"machine": common.machine(), "matmul_before": common.matmul_gflops(),
            "cases": [run(c, args.ratio, args.repeats, args.batch) for c in cases]}
  result["matmul_after"] = common.matmul_gflops()
  result["wall_time_s"] = time.time() - start
  path = common.write(args.out or "compress", result)
  for r in result["cases"]:
    print(f"{r['parent']}: child / parent forecast time {r['time_ratio']:.3f} (child faster in "
          f"{r['child_faster_in_pairs']}/{args.repeats} pairs), parameter bytes "
          f"{r['parameter_bytes_ratio']:.3f}, file {r['file_bytes_ratio']:.3f}")
  print(f"matmul {result['matmul_before']['gflops_best']:.0f} / "
        f"{result['matmul_after']['gflops_best']:.0f} GFLOP/s (before / after); wrote {path}")


if __name__ == "__main__":
  main()
