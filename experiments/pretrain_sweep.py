"""Train, score and export the pretrained compressed runs (experiments/pretrain_runs.py).

Command: ``python -m experiments.pretrain_sweep [--smoke | --full] [--workdir ROOT] [--score]
[--export DIR] [NAME ...]`` trains the named runs (default: all) in order, one after the other,
in this process (reused when finished, resumed when not); ``--score`` also scores each
(experiments/pretrain_scores.py: scores, forecast times and memory, cached in the run's
workdir) and measures the dense runs' precondition (experiments/precondition.py at that
size, seed 0, cached there too: what fig7, fig7_t5, table3 and appe check),
``--export DIR`` also writes each as a Hugging Face folder ``DIR/<name>``. The runs'
protocol, sizes and layouts: experiments/pretrain_runs.py.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax

from experiments import pretrain_runs as runs
from experiments import pretrain_scores
from lowrank_ts.interop import hf


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  size = parser.add_mutually_exclusive_group()
  size.add_argument("--full", action="store_true")
  size.add_argument("--smoke", action="store_true")
  parser.add_argument("--workdir", default=runs.ROOT)
  parser.add_argument("--score", action="store_true",
                      help="also score each run (cached in its workdir's scores.json)")
  parser.add_argument("--export", default=None, metavar="DIR",
                      help="also write each run's model as a Hugging Face folder DIR/<name> "
                           "(e.g. the T5 that experiments.table2 --t5-model reads)")
  parser.add_argument("names", nargs="*", default=list(runs.RUNS))
  args = parser.parse_args(argv)
  bad = [n for n in args.names if n not in runs.RUNS]
  if bad:
    parser.error(f"names must be among {sorted(runs.RUNS)}, got {bad}")
  chosen = "full" if args.full else "smoke" if args.smoke else "default"
  # Runs with the same layout (the appendix-E seeds) and every scoring compile reuse XLA's
  # compiled programs across runs of this process and the next.
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  bench = baselines = None
  for name in args.names:
    runs.ensure(name, chosen, args.workdir)
    if args.export:
      hf.save(runs.load(name, chosen, args.workdir), os.path.join(args.export, name))
      print(f"[pretrain_sweep] {name}: exported to {os.path.join(args.export, name)}", flush=True)
    if args.score:
      if bench is None:
        bench = pretrain_scores.tasks(chosen)
        baselines = pretrain_scores.naive_baselines(bench)
      s = pretrain_scores.scores(name, chosen, args.workdir, bench, baselines)
      print(f"[pretrain_sweep] {name}: zero-shot rel. WQL {s['zero_shot']['wql']:.4f}, "
            f"in-domain {s['in_domain']['wql']:.4f}", flush=True)
      if name in runs.DENSE.values():
        m = pretrain_scores.preconditions([name], chosen, args.workdir)[name]
        print(f"[pretrain_sweep] {name}: validation rel. WQL {m['relative_wql']:.4f}, rank-1 "
              f"cost {m['rank1_cost']:+.1%} ({m['num_series']} series)", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
