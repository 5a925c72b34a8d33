"""Relative WQL / MASE of every kept checkpoint of a training run, against steps and wall time.

``lowrank-ts learning-curve --workdir DIR [--benchmark real|synthetic|m3-tourism] [--seed S]
[--export FOLDER]``

Scores each checkpoint of ``DIR`` against Seasonal Naive into
``DIR/learning_curve_<benchmark>.csv`` (resumable; the library:
:mod:`lowrank_ts.evaluation.checkpoint_scores`) and plots it against steps and wall minutes in
``DIR/learning_curve_<benchmark>.png``. ``--export`` writes the latest checkpoint as a Hugging
Face folder (:func:`lowrank_ts.interop.hf.save`) that ``lowrank-ts evaluate --model
FOLDER`` and chronos-forecasting can load: a new or empty folder (checked before any
scoring), which appears whole once written. A bad argument exits with status 2; a workdir
without a run or checkpoints, an unreadable one, or a checkpoint with a non-finite weight with
1; SIGINT / SIGTERM with 130 / 143; each with one line on stderr.
"""

from __future__ import annotations

import argparse
import os

from lowrank_ts import atomic, checks
from lowrank_ts.cli import exits
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import checkpoint_scores as curve
from lowrank_ts.interop import hf
from lowrank_ts.training import checkpoints


@exits.interruptible("lowrank-ts learning-curve")
def main(argv=None):
  parser = argparse.ArgumentParser(prog="lowrank-ts learning-curve",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--benchmark", default="real", choices=list(benchmark.BENCHMARKS))
  parser.add_argument("--seed", type=int, default=0, help="sampling seed (Chronos)")
  parser.add_argument("--export", default=None,
                      help="write the latest checkpoint here (HF): a new or empty folder")
  args = parser.parse_args(argv)
  with exits.on_error(parser, exits.USAGE):
    checks.seed(args.seed, "--seed")
    if args.export:  # the run's own files are its inputs; a folder beside them is fine
      inputs = [os.path.join(args.workdir, name) for name in (
          checkpoints.CONFIG_FILE, "checkpoints", "metrics.csv",
          os.path.basename(curve.csv_path(args.workdir, args.benchmark)))]
      atomic.check_output(args.export, "--export", inputs=inputs, folder=True)
  with exits.on_error(parser, exits.DATA):
    config = checkpoints.read_config(args.workdir)
    rows = curve.learning_curve(args.workdir, args.benchmark, args.seed)
  png = os.path.join(args.workdir, f"learning_curve_{args.benchmark}.png")
  with atomic.output_file(png) as temporary:
    curve.plot(rows, temporary, f"{config.model} on the {args.benchmark} benchmark")
  best = min(rows, key=lambda r: float(r["relative_wql"]))
  print(f"best relative WQL {float(best['relative_wql']):.3f} at step {best['step']}; "
        f"last {float(rows[-1]['relative_wql']):.3f} at step {rows[-1]['step']}; plot {png}")
  if args.export:
    with exits.on_error(parser, exits.DATA):
      model = checkpoints.load_model(args.workdir)
    with exits.on_error(parser, exits.USAGE), \
        atomic.output_folder(args.export) as temporary:  # whole or not at all
      hf.save(model, temporary)
    print(f"exported step {rows[-1]['step']} to {args.export}")


if __name__ == "__main__":
  main()
