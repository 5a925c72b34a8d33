"""Score a model or a baseline against Seasonal Naive on a benchmark: ``lowrank-ts evaluate``.

  lowrank-ts evaluate [--model DIR|seasonal-naive|auto-ets|auto-theta|auto-arima] \\
      [--benchmark real|synthetic|m3-tourism] [--out DIR] [--seed S] [--num-samples N] \\
      [--posthoc-eps EPS] [--processes P] [--max-series N]

writes ``per_series`` and ``per_dataset`` tables (WQL, MASE, relative to Seasonal Naive) as CSV
and markdown and ``fan_charts.png`` (median and 10-90 % band of a few forecasts) to ``--out``
(default ``runs/eval/<model>-<benchmark>``) and prints the aggregate relative scores. ``DIR``
is what :mod:`lowrank_ts.interop.resolve` reads (a checkpoint folder, a training workdir, a
shipped model's name; without ``--model`` the shipped default); ``--posthoc-eps`` compresses
its attention first (truncated SVD at that eps-rank); ``--seed`` and
``--num-samples`` apply to sampling models (Chronos); ``--processes`` to the statistical
baselines, which report how many series fell back to Seasonal Naive. ``m3-tourism`` (the
zero-shot benchmark, extra ``benchmarks``) divides by chronos-forecasting's point Seasonal Naive
and prints the published Chronos rows beside ours; ``--max-series N`` keeps the first N series
of each of its datasets (a smoke run, not the benchmark). The library:
:mod:`lowrank_ts.evaluation`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from lowrank_ts import atomic, checks, pretrained
from lowrank_ts.cli import exits
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import plots, report
from lowrank_ts.inference import forecasting
from lowrank_ts.interop import resolve

# What a run writes to --out: a folder holding only these is replaced whole by the next run.
OUTPUTS = ("per_series.csv", "per_series.md", "per_dataset.csv", "per_dataset.md",
           "fan_charts.png")


def _check_arguments(args: argparse.Namespace) -> None:
  if args.posthoc_eps is not None and args.model in report.BASELINE_NAMES:
    raise ValueError(f"--posthoc-eps needs a model checkpoint, not {args.model}")
  checks.seed(args.seed, "--seed")
  checks.positive_int(args.processes, "--processes")
  if args.num_samples is not None:
    checks.positive_int(args.num_samples, "--num-samples", upper=forecasting.MAX_NUM_SAMPLES,
                        why=forecasting.NUM_SAMPLES_LIMIT)
  if args.posthoc_eps is not None and not 0 < args.posthoc_eps < 1:
    raise ValueError(f"--posthoc-eps must be in (0, 1), got {args.posthoc_eps}")
  if args.max_series is not None:
    checks.positive_int(args.max_series, "--max-series")
    if args.benchmark != "m3-tourism":
      raise ValueError(f"--max-series applies to --benchmark m3-tourism only, not "
                       f"{args.benchmark}")


def _published_table() -> str:
  rows = report.published_rows()
  title = ("published zero-shot scores on these six datasets (chronos-forecasting "
           "scripts/evaluation/results/*-zero-shot.csv; relative = geometric mean of model / "
           "Seasonal Naive):")
  lines = [title, "| model | relative_wql | relative_mase |", "|---|---|---|"]
  lines += [f"| {r['model']} | {r['relative_wql']:.3f} | {r['relative_mase']:.3f} |" for r in rows]
  return "\n".join(lines)


@exits.interruptible("lowrank-ts evaluate")
def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="lowrank-ts evaluate",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default=None,
                      help=f"a checkpoint folder, a training workdir, a shipped model's name "
                           f"or one of {', '.join(report.BASELINE_NAMES)}; default: the shipped "
                           f"{pretrained.DEFAULT}")
  parser.add_argument("--benchmark", default="real", choices=list(benchmark.BENCHMARKS))
  parser.add_argument("--out", default=None, help="default: runs/eval/<model>-<benchmark>")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed (Chronos)")
  parser.add_argument("--num-samples", type=int, default=None,
                      help="sample paths (Chronos); default: the model's")
  parser.add_argument("--posthoc-eps", type=float, default=None,
                      help="compress attention first: truncated SVD at this eps-rank")
  parser.add_argument("--processes", type=int, default=1,
                      help="worker processes for the statistical baselines")
  parser.add_argument("--max-series", type=int, default=None,
                      help="m3-tourism only: the first N series of each dataset (smoke run)")
  args = parser.parse_args(argv)
  with exits.on_error(parser, exits.USAGE):
    _check_arguments(args)
    baseline = args.model in report.BASELINE_NAMES
    source = None if baseline else resolve.source(args.model, "--model", report.BASELINE_NAMES)
    name = args.model if baseline else source.name
    out = atomic.check_output(args.out or f"runs/eval/{name}-{args.benchmark}", "--out",
                              inputs=[] if baseline else [source.path], folder=True,
                              replace=OUTPUTS)
  with exits.on_error(parser, exits.DATA):  # the arguments are valid: what fails is the checkpoint
    model = args.model if baseline else source.load()
    tasks = report.benchmark_tasks(args.benchmark, args.max_series)
    forecaster, extra = report.make_forecaster(model, args.seed, args.num_samples,
                                               args.posthoc_eps, args.benchmark, args.processes)
  start = time.perf_counter()
  with exits.on_error(parser, exits.USAGE):  # options the model does not take (--num-samples, Bolt)
    scores = report.score(forecaster, tasks, naive=report.baseline_forecaster(args.benchmark))
  seconds = time.perf_counter() - start
  with exits.on_error(parser, exits.DATA):
    with atomic.output_folder(out, replace=True) as temporary:
      report.write_tables(scores, temporary)
      plots.fan_charts(tasks, scores.rows, temporary / "fan_charts.png",
                       title=f"{name} on {args.benchmark}")
    print((out / "per_dataset.md").read_text())
  if args.benchmark == "m3-tourism":
    print(_published_table() + "\n")
  if hasattr(forecaster, "failures"):
    counts = report.fallbacks_by_dataset(forecaster, tasks)
    print(f"fell back to Seasonal Naive: {sum(counts.values())} of {len(tasks)} series "
          f"({', '.join(f'{d} {n}' for d, n in counts.items())})")
  size = (f" (attention size ratio {extra['attention_size_ratio']:.3f})"
          if "attention_size_ratio" in extra else "")
  print(f"relative WQL {scores.aggregate['wql']:.3f}, relative MASE "
        f"{scores.aggregate['mase']:.3f}{size}; {seconds:.1f} s for {len(tasks)} series; "
        f"tables and fan charts in {out}/")
  return 0


if __name__ == "__main__":
  sys.exit(main())
