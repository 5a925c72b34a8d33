"""Chronos-Bolt forecasting on many series as a share of this machine's matmul rate (target:
at least 75 % of the matmul rate on 1 024 series).

Command: ``python -m benchmarks.bolt_rate [--size small] [--series 1024] [--context 512]
[--repeats 3] [--out NAME]`` (about a minute for small on 2 cores); writes
``benchmarks/results/NAME.json`` (default ``bolt_rate``).

Random weights at a chronos-bolt size (speed does not depend on them), ``--context`` 512 (the
target's workload; the model's own limit is 2 048), horizon 64 (the model's own head),
``--series`` contexts of Gaussian noise. Our forecast,
:func:`lowrank_ts.inference.forecasting.forecast`, runs the model in blocks of
``inference.programs.ROW_BLOCK`` rows (one call when there are fewer); its FLOPs are XLA's cost
analysis of one call's forward times the number of calls (the padded rows of a last partial
block included: that is the work done). Achieved rate = FLOPs / median wall seconds of a
forecast, next to the jitted fp32 matmul rate measured before and after it (``benchmarks.common.matmul_gflops``); the share is
against the better of the two.
"""

from __future__ import annotations

import argparse
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks import common
from lowrank_ts.inference import forecasting, programs
from lowrank_ts.models import config as model_configs
from lowrank_ts.models import registry

SIZES = ("tiny", "mini", "small", "base")


def call_flops(model, rows: int, context_length: int) -> float:
  """XLA's FLOP count of the model's forward on ``rows`` contexts of ``context_length``."""
  graphdef, state = nnx.split(model)
  x = jnp.zeros((rows, context_length), jnp.float32)
  compiled = jax.jit(lambda s, c: nnx.merge(graphdef, s)(c)).lower(state, x).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--size", default="small", choices=SIZES)
  parser.add_argument("--series", type=int, default=1024)
  parser.add_argument("--context", type=int, default=512)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", default="bolt_rate")
  args = parser.parse_args(argv)
  if min(args.series, args.repeats, args.context) < 1:
    parser.error(f"--series, --repeats and --context must be >= 1, got {args.series}, "
                 f"{args.repeats} and {args.context}")
  config = model_configs.named_config(f"chronos-bolt-{args.size}")
  if args.context > config.context_length:
    parser.error(f"--context must be <= the model's context_length {config.context_length}, "
                 f"got {args.context}")
  model = registry.build(config, seed=0)
  context = np.random.default_rng(0).standard_normal(
      (args.series, args.context)).astype(np.float32)
  horizon = config.prediction_length
  before = common.matmul_gflops()
  timing = common.timed(lambda: forecasting.forecast(model, context, horizon), args.repeats)
  after = common.matmul_gflops()
  block = min(args.series, programs.ROW_BLOCK)
  blocks = math.ceil(args.series / block)
  flops = blocks * call_flops(model, block, args.context)
  achieved = flops / timing["median_s"] / 1e9
  best = max(before["gflops_best"], after["gflops_best"])
  record = {"machine": common.machine(), "size": args.size, "series": args.series,
            "context": args.context, "horizon": horizon,
            "rows_per_call": block, "calls": blocks, "flops": flops,
            "timing": timing, "achieved_gflops": achieved, "matmul_before": before,
            "matmul_after": after, "matmul_fraction": achieved / best}
  path = common.write(args.out, record)
  print(f"chronos-bolt-{args.size}, {args.series} series: {timing['median_s']:.3f} s, "
        f"{flops / 1e9:.1f} GFLOP -> {achieved:.1f} GFLOP/s = {achieved / best:.0%} of the "
        f"matmul rate ({before['gflops_best']:.0f} / {after['gflops_best']:.0f} GFLOP/s); "
        f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
