"""The reference model's size study: the ``cpu-reference`` recipe at three Chronos-Bolt sizes,
each trained for an equal compute budget, scored on the validation sets only
(:mod:`lowrank_ts.data.validation`) at every kept checkpoint.

``python -m experiments.reference_sizes [--smoke] [--workdir runs/reference] [SIZE ...]``
trains the named sizes (default all; a finished run is reused, an unfinished one resumes
exactly), scores every checkpoint on ``validation`` (``learning_curve``) and writes
``figures/reference_sizes.{png,json}``: relative WQL against step and against training wall
time, with the throughput (windows/s) beside the machine's jitted fp32 matmul rate. No scored
benchmark series is read.

Sizes (d_model, encoder + decoder layers, heads x d_kv, d_ff; steps at batch 64):

- ``S``: 64, 2+2, 4x16, 256 (``chronos-bolt-cpu-zs``); ``M``: 128, 4+4, 4x32, 512;
  ``L``: 256, 4+4, 4x64, 1024 (chronos-bolt-tiny's backbone).
- The steps give each size about the same training time on 2 cores (measured throughputs
  ~18 / 4 / 1.1 steps/s at batch 64): a pilot at an equal, short budget, whose curves show which
  size still improves at its end.
- ``S-freq``: ``S`` with the real series weighted by frequency bucket
  (``tsmixup_weighting="frequency"``), the data-mix comparison at the same budget.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys

import matplotlib
import numpy as np

from benchmarks import common as bench_common
from lowrank_ts.evaluation import checkpoint_scores
from lowrank_ts.training import loop
from lowrank_ts.training.config import TRAIN_CONFIGS

matplotlib.use("Agg")
from matplotlib import pyplot as plt

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "figures")
SIZES = {  # name: (model_overrides, steps, checkpoint_every, other recipe fields)
    "S": ("", 16_000, 1_000, {}),
    "M": ("d_model=128,d_kv=32,d_ff=512,num_layers=4,num_decoder_layers=4", 3_600, 300, {}),
    "L": ("d_model=256,d_kv=64,d_ff=1024,num_layers=4,num_decoder_layers=4", 1_000, 100, {}),
    # The data mix: S with the real series weighted by frequency bucket instead of by table.
    "S-freq": ("", 16_000, 1_000, {"tsmixup_weighting": "frequency"}),
}
SMOKE = {"steps": 4, "checkpoint_every": 2, "batch_size": 4, "kernel_synth_series": 8,
         "kernel_synth_length": 256, "real_corpus": False, "corpus_holdout": False}


def size_config(size: str, smoke: bool = False):
  """The ``cpu-reference`` recipe at ``size`` (``SIZES``); ``smoke``: 4 steps, batch 4."""
  if size not in SIZES:
    raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
  overrides, steps, every, fields = SIZES[size]
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-reference"], model_overrides=overrides,
                               steps=steps, checkpoint_every=every, **fields)
  return dataclasses.replace(config, **SMOKE) if smoke else config


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("sizes", nargs="*", metavar="SIZE", help=f"of {list(SIZES)} (default S M L)")
  parser.add_argument("--workdir", default="runs/reference")
  parser.add_argument("--out", default=OUT)
  parser.add_argument("--smoke", action="store_true", help="4 steps per size (tests)")
  args = parser.parse_args(argv)
  unknown = sorted(set(args.sizes) - set(SIZES))
  if unknown:
    parser.error(f"SIZE must be one of {list(SIZES)}, got {unknown}")
  args.sizes = args.sizes or ["S", "M", "L"]
  results = {}
  for size in SIZES:  # trains the named sizes; reports every size trained so far
    config = size_config(size, args.smoke)
    workdir = os.path.join(args.workdir, size)
    if size not in args.sizes and not os.path.exists(os.path.join(workdir, "metrics.csv")):
      continue
    rate = bench_common.matmul_gflops()["gflops_median"]
    if size in args.sizes:
      loop.train(config, workdir, progress=False)
    benchmark = "synthetic" if args.smoke else "validation"
    rows = checkpoint_scores.learning_curve(workdir, benchmark, progress=False)
    with open(os.path.join(workdir, "metrics.csv"), newline="") as f:
      speed = [float(r["steps_per_s"]) for r in csv.DictReader(f)]
    results[size] = {
        "model_overrides": config.model_overrides, "steps": config.steps,
        "tsmixup_weighting": config.tsmixup_weighting,
        "batch_size": config.batch_size,
        "windows_per_s_median": float(np.median(speed)) * config.batch_size,
        "matmul_gflops": rate,
        "curve": [{k: float(r[k]) if r[k] != "" else None for k in
                   ("step", "elapsed_s", "relative_wql", "relative_mase")} for r in rows]}
    print(f"{size}: best validation relative WQL "
          f"{min(c['relative_wql'] for c in results[size]['curve']):.3f}", flush=True)
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for size, res in results.items():
    curve = res["curve"]
    axes[0].plot([c["step"] for c in curve], [c["relative_wql"] for c in curve], "o-", ms=3,
                 label=size)
    timed = [(c["elapsed_s"] / 60, c["relative_wql"]) for c in curve if c["elapsed_s"]]
    if timed:
      axes[1].plot(*zip(*timed), "o-", ms=3, label=size)
  for ax in axes:
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.legend()
  axes[0].set(xlabel="step", ylabel="validation relative WQL (geo. mean)", xscale="log")
  axes[1].set(xlabel="training wall time (min)")
  fig.tight_layout()
  os.makedirs(args.out, exist_ok=True)
  name = "reference_sizes_smoke" if args.smoke else "reference_sizes"
  fig.savefig(os.path.join(args.out, f"{name}.png"), dpi=100)
  path = os.path.join(args.out, f"{name}.json")
  with open(path + ".tmp", "w") as f:
    json.dump({"command": " ".join(["python -m experiments.reference_sizes", *(argv or
                                                                                 sys.argv[1:])]),
               "sizes": results}, f, indent=1)
  os.replace(path + ".tmp", path)
  return 0


if __name__ == "__main__":
  sys.exit(main())
