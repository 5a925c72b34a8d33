"""Spectral utilities: ours (jitted, batched) vs a numpy loop vs a scipy gesdd loop.

Command: ``python -m benchmarks.spectral [--repeats N] [--quick]``
Runtime on 2 cores: about 5 minutes (``--quick``: about 30 s, smaller shapes).

Two workloads, each measured side by side in one run and reported as ratios to scipy:
1. eps-rank (eq. 1, eps = 1e-2) of every attention matrix of a chronos-t5-base-sized model:
   12 encoder layers x (q, k, v, o) + 12 decoder layers x (self q, k, v, o + cross q, k, v, o)
   = 144 matrices of 768 x 768. Ours is one jitted batched call; the loops call
   ``numpy.linalg.svd`` / ``scipy.linalg.svd(lapack_driver='gesdd')`` per matrix. All three
   compute singular values only. Random Gaussian weights: SVD cost does not depend on them.
2. The spectral part of the Fig. 15 sweep: one thin SVD (factors) of the 512 x 4096 vocabulary
   matrix X (appendix J.1), from which every truncation d~ = 1..511 is a slice.
Target: ours no slower than scipy's gesdd loop.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from benchmarks import common
from lowrank_ts import spectral


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
  args = parser.parse_args(argv)
  if args.repeats < 1:
    parser.error(f"--repeats must be >= 1, got {args.repeats}")
  count, width = (16, 256) if args.quick else (144, 768)
  rows, cols = (128, 1024) if args.quick else (512, 4096)
  record = run(count, width, rows, cols, args.repeats)
  if record is None:
    return 1
  record["quick"] = args.quick
  print(record["table"])
  if not args.quick:
    print("wrote", common.write("spectral", record))
  return 0


def run(count: int, width: int, rows: int, cols: int, repeats: int) -> dict | None:
  """Both workloads at these shapes; the record (timings, ratios, table), or None (with a
  message on stderr) when our eps-ranks differ from numpy's."""
  rng = np.random.default_rng(0)
  weights = rng.normal(size=(count, width, width)).astype(np.float32) / np.sqrt(width)
  weights_jax = jnp.asarray(weights)
  vocab = rng.normal(size=(rows, cols)).astype(np.float32)
  vocab_jax = jnp.asarray(vocab)
  eps = 1e-2

  def count_ranks(s):
    return (s > eps * s[..., :1]).sum(-1)

  ranks = {
      "ours": np.asarray(spectral.eps_rank(weights_jax, eps)),
      "numpy": np.array([count_ranks(np.linalg.svd(w, compute_uv=False)) for w in weights]),
  }
  if not np.array_equal(ranks["ours"], ranks["numpy"]):
    print("eps-ranks differ between ours and numpy:", ranks, file=sys.stderr)
    return None

  workloads = {
      f"eps-rank of {count} x {width}x{width}": {
          "ours": lambda: spectral.eps_rank(weights_jax, eps).block_until_ready(),
          "numpy loop": lambda: [count_ranks(np.linalg.svd(w, compute_uv=False))
                                 for w in weights],
          "scipy gesdd loop": lambda: [count_ranks(scipy.linalg.svd(
              w, compute_uv=False, lapack_driver="gesdd", check_finite=False))
                                       for w in weights],
      },
      f"thin SVD of {rows}x{cols} (Fig. 15 sweep)": {
          "ours": lambda: jax.block_until_ready(spectral.truncated_svd(vocab_jax, rank=rows - 1)),
          "numpy loop": lambda: np.linalg.svd(vocab, full_matrices=False),
          "scipy gesdd loop": lambda: scipy.linalg.svd(vocab, full_matrices=False,
                                                       lapack_driver="gesdd",
                                                       check_finite=False),
      },
  }
  record = {"machine": common.machine(), "repeats": repeats,
            "shapes": {"count": count, "width": width, "rows": rows, "cols": cols},
            "workloads": {}}
  lines = ["| workload | method | median s | min s | max s | first call s | "
           "ratio to scipy (median) |", "|---|---|---|---|---|---|---|"]
  for workload, methods in workloads.items():
    timings = {name: common.timed(fn, repeats) for name, fn in methods.items()}
    ref = timings["scipy gesdd loop"]["median_s"]
    for name, t in timings.items():
      t["ratio_to_scipy"] = t["median_s"] / ref
      lines.append(f"| {workload} | {name} | {t['median_s']:.3f} | {t['min_s']:.3f} | "
                   f"{t['max_s']:.3f} | {t['first_s']:.3f} | {t['ratio_to_scipy']:.2f} |")
    record["workloads"][workload] = timings
  record["table"] = "\n".join(lines)
  return record

if __name__ == "__main__":
  sys.exit(main())
