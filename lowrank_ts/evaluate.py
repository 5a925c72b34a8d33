"""Score a model against Seasonal Naive on a benchmark: ``python -m lowrank_ts.evaluate``.

  python -m lowrank_ts.evaluate --model seasonal-naive|DIR [--benchmark real|synthetic] \\
      [--out DIR] [--seed S] [--num-samples N] [--posthoc-eps EPS]

writes ``per_series`` and ``per_dataset`` tables (WQL, MASE, relative to Seasonal Naive) as CSV
and markdown to ``--out`` (default ``runs/eval/<model>-<benchmark>``) and prints the aggregate
relative scores. ``DIR`` is a Hugging Face format checkpoint folder
(``lowrank_ts.interop.hf.save``); ``--posthoc-eps`` compresses its attention first (truncated
SVD at that eps-rank); ``--seed`` and ``--num-samples`` apply to sampling models (Chronos).
The library: :mod:`lowrank_ts.evaluation`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from lowrank_ts import checks, cli
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import report


def _check_arguments(args: argparse.Namespace) -> None:
  if args.posthoc_eps is not None and args.model == report.SEASONAL_NAIVE:
    raise ValueError(f"--posthoc-eps needs a model checkpoint, not {report.SEASONAL_NAIVE}")
  checks.positive_int(args.seed, "--seed", allow_zero=True)
  if args.num_samples is not None:
    checks.positive_int(args.num_samples, "--num-samples")
  if args.posthoc_eps is not None and not 0 < args.posthoc_eps < 1:
    raise ValueError(f"--posthoc-eps must be in (0, 1), got {args.posthoc_eps}")


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lowrank_ts.evaluate",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", required=True,
                      help=f"{report.SEASONAL_NAIVE}, or a checkpoint folder (interop.hf.save)")
  parser.add_argument("--benchmark", default="real", choices=["real", "synthetic"])
  parser.add_argument("--out", default=None, help="default: runs/eval/<model>-<benchmark>")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed (Chronos)")
  parser.add_argument("--num-samples", type=int, default=None,
                      help="sample paths (Chronos); default: the model's")
  parser.add_argument("--posthoc-eps", type=float, default=None,
                      help="compress attention first: truncated SVD at this eps-rank")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out or f"runs/eval/{pathlib.Path(args.model).name}-{args.benchmark}")
  with cli.errors(parser, cli.USAGE):
    _check_arguments(args)
  with cli.errors(parser, cli.DATA):  # the arguments are valid: what fails is the checkpoint
    model = report.load_model(args.model)
    forecaster, extra = report.make_forecaster(model, args.seed, args.num_samples,
                                               args.posthoc_eps)
  with cli.errors(parser, cli.USAGE):  # options the model does not take (--num-samples, Bolt)
    scores = report.score(forecaster, benchmark.tasks(args.benchmark))
  with cli.errors(parser, cli.DATA):
    report.write_tables(scores, out)
    print((out / "per_dataset.md").read_text())
  size = (f" (attention size ratio {extra['attention_size_ratio']:.3f})"
          if "attention_size_ratio" in extra else "")
  print(f"relative WQL {scores.aggregate['wql']:.3f}, relative MASE "
        f"{scores.aggregate['mase']:.3f}{size}; tables in {out}/")
  return 0


if __name__ == "__main__":
  sys.exit(main())
