"""A model compressed by ``python -m lowrank_ts.compress`` against its parent: forecast time,
parameter bytes and checkpoint bytes, measured side by side in one run.

Command: ``python -m benchmarks.compress [--size small] [--ratio 0.5] [--repeats 7]``
(about 2-4 minutes on 2 busy cores; writes ``benchmarks/results/compress.json``).

The parent is a Chronos-Bolt of the named size (``chronos-bolt-<size>``, random weights) whose
every attention matrix ``U S V^T`` is given the power-law spectrum ``sigma_j = sigma_1 j^-1.1``
(same singular vectors; random Gaussian weights have flat spectra, trained ones do not, see
benchmarks/inference.py), written as a checkpoint folder. The child is what the CLI writes for
``--ratio R --mode efficient`` (stored attention parameters <= R of the parent's), loaded back
from its folder. Both forecast the same batch (``batch`` series, context = the model's, its
horizon); calls alternate parent / child after one warm-up each (compilation), and the medians
are compared. The machine's jitted matmul rate (:func:`common.matmul_gflops`) is recorded beside
the times: only the ratios mean anything across machines.
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
from lowrank_ts import compress, spectral
from lowrank_ts.interop import hf
from lowrank_ts.models import named_config, posthoc, registry

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


def run(size: str, ratio: float, repeats: int, batch: int) -> dict:
  gflops = common.matmul_gflops()
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    hf.save(parent_model(size), tmp / "parent")
    parent = hf.load(tmp / "parent")
    request = compress.Request(ratio=ratio, mode="efficient")
    child, rep = compress.compress(parent, request)
    record = compress.report_record(rep, request, f"chronos-bolt-{size} (power-law spectra)")
    compress.write(child, record, tmp / "child")
    child = hf.load(tmp / "child")  # what the CLI wrote, loaded as any checkpoint
    sizes = {"parent_file_bytes": _folder_bytes(tmp / "parent"),
             "child_file_bytes": _folder_bytes(tmp / "child")}
  config = parent.config
  rng = np.random.default_rng(0)
  t = np.arange(config.context_length, dtype=np.float32)
  contexts = (np.sin(t / rng.uniform(3, 30, (batch, 1))) * rng.uniform(1, 10, (batch, 1))
              + rng.normal(0, 0.3, (batch, config.context_length))).astype(np.float32)
  horizon = config.prediction_length

  def call(model):
    start = time.perf_counter()
    model.forecast(contexts, horizon)
    return time.perf_counter() - start

  first = {"parent_first_s": call(parent), "child_first_s": call(child)}
  pairs = [(call(parent), call(child)) for _ in range(repeats)]
  parent_s = statistics.median(p for p, _ in pairs)
  child_s = statistics.median(c for _, c in pairs)
  return {
      "size": size, "ratio_target": ratio, "batch": batch, "context": config.context_length,
      "horizon": horizon, "repeats": repeats, "machine": common.machine(),
      "matmul": gflops, **first, "parent_median_s": parent_s, "child_median_s": child_s,
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
  parser.add_argument("--size", default="small", choices=("tiny", "mini", "small", "base"))
  parser.add_argument("--ratio", type=float, default=0.5)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--out", default=None, help="results file name (default: compress)")
  args = parser.parse_args(argv)
  start = time.time()
  result = run(args.size, args.ratio, args.repeats, args.batch)
  result["wall_time_s"] = time.time() - start
  path = common.write(args.out or "compress", result)
  print(f"chronos-bolt-{args.size}: child / parent forecast time {result['time_ratio']:.3f} "
        f"(child faster in {result['child_faster_in_pairs']}/{args.repeats} pairs), parameter "
        f"bytes {result['parameter_bytes_ratio']:.3f}, file {result['file_bytes_ratio']:.3f}; "
        f"matmul {result['matmul']['gflops_best']:.0f} GFLOP/s; wrote {path}")


if __name__ == "__main__":
  main()
