"""Our forecaster at two source trees, side by side in one run (did a change slow it down?).

Command: ``python -m benchmarks.revisions --before DIR [--after DIR] [--sizes tiny,small]
[--rounds 3] [--out FILE]``. ``DIR`` is a checkout of the project (e.g. ``git worktree add
/tmp/before <commit>``); ``--after`` defaults to this tree. Each measurement is one worker
process of :mod:`benchmarks.inference` (``--worker``) started in that tree, so each tree runs
its own code; the two trees alternate (before, after, before, ...) for ``--rounds`` rounds,
so drift in the machine's speed hits both alike. Workloads: :mod:`benchmarks.inference`'s
dense Chronos-T5 sampling (batch 8, context 512, horizon 64, 20 samples) and Chronos-Bolt
(batch 8) per size, on checkpoints made once with this tree's
:mod:`lowrank_ts.interop.hf_reference`. Reported: each tree's median over rounds of the
worker's median time, and after / before. The spread of the rounds is the run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile

from benchmarks import common, inference

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(trees: dict[str, pathlib.Path], sizes, rounds: int, batch=8, context=512, horizon=64,
        samples=20, repeats=3, log=print) -> dict:
  record = {"machine": common.machine(), "matmul": common.matmul_gflops(),
            "trees": {k: str(v) for k, v in trees.items()},
            "settings": dict(sizes=list(sizes), batch=batch, context=context, horizon=horizon,
                             samples=samples, repeats=repeats, rounds=rounds), "rows": []}
  for size in sizes:
    with tempfile.TemporaryDirectory() as tmp:
      folders = inference._checkpoints(size, pathlib.Path(tmp), context, horizon)
      for family in ("chronos", "bolt"):
        spec = dict(family=family, impl="ours", variant="dense", folder=folders[family],
                    batch=batch, context=context, horizon=horizon, samples=samples,
                    repeats=repeats, spectrum_exponent=inference.SPECTRUM_EXPONENT)
        times = {name: [] for name in trees}
        for round_ in range(rounds):
          for name, tree in trees.items():
            times[name].append(inference._spawn(spec, tree)["median_s"])
            log(f"  {size} {family} {name} round {round_}: {times[name][-1]:.3f} s")
        medians = {name: statistics.median(t) for name, t in times.items()}
        record["rows"].append({"size": size, "family": family, "times_s": times,
                               "median_s": medians,
                               "after_over_before": medians["after"] / medians["before"]})
  return record


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--before", required=True, help="a checkout of the earlier revision")
  parser.add_argument("--after", default=str(ROOT))
  parser.add_argument("--sizes", default="tiny,small")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  trees = {"before": pathlib.Path(args.before).resolve(),
           "after": pathlib.Path(args.after).resolve()}
  for name, tree in trees.items():
    if not (tree / "benchmarks" / "inference.py").exists():
      parser.error(f"--{name} {tree} is not a checkout of this project")
  if args.rounds < 1:
    parser.error(f"--rounds must be >= 1, got {args.rounds}")
  record = run(trees, args.sizes.split(","), args.rounds)
  for row in record["rows"]:
    print(f"{row['size']} {row['family']}: before {row['median_s']['before']:.3f} s, after "
          f"{row['median_s']['after']:.3f} s, after / before {row['after_over_before']:.3f} "
          f"(rounds: {row['times_s']})")
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
