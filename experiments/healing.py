"""Healing a post-hoc compressed Chronos-Bolt by a short continued training (not in the paper,
nobody reports it for time-series foundation models): a finding, not a claim.

Command: ``python -m experiments.healing [--seed S] [--out DIR] [--smoke | --full]``
Runtime: see ``wall_time_s`` in figures/healing.json (mostly the three trainings).

Protocol, fixed before any run (nothing here is chosen on M3 / Tourism, nor on the in-domain
scores): the shipped Chronos-Bolt (lowrank_ts/pretrained/cpu-zeroshot) truncated as Table 2's
rule does (one eps, ``--mode paper``, uniform allocation) at the paper-count ratios 0.150 and
0.094 — below the ~0.2 where table2 shows the loss — then fine-tuned ``N = 1000`` steps with its
own recipe, ``cpu-zeroshot`` (KernelSynth, TSMixup, the in-domain series' training parts and
the guarded real corpus: no M-competition or Tourism series), ranks fixed (every truncated
matrix held as factors), AdamW at ``lr = 1e-4`` decaying linearly to 0
(:mod:`lowrank_ts.training.finetune`, what ``lowrank-ts compress --finetune-steps``
runs). Control: the *dense* model fine-tuned the same way, so that a gain of the healed model
can be told from a gain of N more training steps alone. Scored as table2 scores (same
benchmarks and sizes: the 16 in-domain series, the first 40 series of each M3 / Tourism
dataset; ``--full``: all): WQL / MASE relative to the uncompressed model, before and after.
``--smoke``: 3 steps on a small KernelSynth pool, 2 in-domain series, 1 per zero-shot dataset.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time

import jax
import matplotlib.pyplot as plt

from experiments import common, table2
from lowrank_ts.evaluation import scoring
from lowrank_ts.interop import resolve
from lowrank_ts.models import allocation, posthoc
from lowrank_ts.training import config as train_config
from lowrank_ts.training import finetune

RATIOS = (0.150, 0.094)
RECIPE = "cpu-zeroshot"  # the shipped model of that name and the recipe it was trained by
SIZES = {
    "smoke": {"steps": 3, "lr": 1e-4, "recipe": {"kernel_synth_series": 16, "batch_size": 8},
              "bench": "smoke"},
    "default": {"steps": 1000, "lr": 1e-4, "recipe": {}, "bench": "default"},
    "full": {"steps": 1000, "lr": 1e-4, "recipe": {}, "bench": "full"},
}


def compute(size: str, seed: int):
  p = SIZES[size]
  bench = dict(table2.SIZES[p["bench"]])
  config = dataclasses.replace(train_config.TRAIN_CONFIGS[RECIPE], seed=seed, **p["recipe"])
  dense = resolve.load_model(RECIPE)
  tasks = table2._benchmarks(bench)
  baselines = {n: scoring.per_dataset(scoring.evaluate(table2._naive(n), t))
               for n, t in tasks.items()}
  ref = table2._scores(dense, tasks, baselines, seed)
  rows = []

  def score(label, model, ratio, record):
    rel = table2._relative(table2._scores(model, tasks, baselines, seed), ref)
    rows.append({"model": label, "rank_ratio": ratio, **rel, "finetune": record})
    print(f"  {label:<28} ratio {ratio:.3f}  rel WQL in-domain {rel['in_domain_wql']:.3f} "
          f"zero-shot {rel['zero_shot_wql']:.3f}", flush=True)

  spectra = posthoc.spectra(dense)
  for ratio in RATIOS:
    request = allocation.Request(ratio=ratio, mode="paper")
    model, rep = posthoc.compress_to(dense, request, spectra, for_training=True)
    score("truncated", model, rep.rank_ratio, None)
    healed, record = finetune.finetune(model, config, p["steps"], learning_rate=p["lr"])
    score(f"truncated + {p['steps']} steps", healed, rep.rank_ratio, record)
  tuned, record = finetune.finetune(dense, config, p["steps"], learning_rate=p["lr"])
  score(f"dense + {p['steps']} steps (control)", tuned, 1.0, record)
  params = {"ratios": RATIOS, "recipe": RECIPE, "recipe_overrides": p["recipe"],
            "steps": p["steps"], "learning_rate": p["lr"], "mode": "paper",
            "allocation": "uniform", "benchmark_size": p["bench"],
            "zero_shot_series": len(tasks["zero_shot"]), "in_domain_series": len(tasks["in_domain"])}
  return {"dense_scores": ref, "rows": rows}, params


def plot(results):
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, bench in zip(axes, ("in_domain", "zero_shot")):
    rows = results["rows"]
    ax.bar(range(len(rows)), [r[f"{bench}_wql"] for r in rows],
           color=["C3" if r["finetune"] is None else "C2" for r in rows])
    ax.set_xticks(range(len(rows)), [f"{r['model']}\n{r['rank_ratio']:.3f}" for r in rows],
                  fontsize=7, rotation=25, ha="right")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set(ylabel="WQL relative to the uncompressed model",
           title=f"{bench.replace('_', '-')}: before (red) / after (green) healing")
  fig.tight_layout()
  return fig


def headline(results):
  rows = results["rows"]
  parts = [f"{r['model']} at {r['rank_ratio']:.3f}: {r['in_domain_wql']:.3f} / "
           f"{r['zero_shot_wql']:.3f}" for r in rows]
  return "rel. WQL in-domain / zero-shot: " + "; ".join(parts)


def main(argv=None) -> int:
  args = common.parse_args(__doc__, argv)
  start = time.time()
  results, params = compute(args.size, args.seed)
  os.makedirs(args.out, exist_ok=True)
  plot(results).savefig(os.path.join(args.out, "healing.png"), dpi=110, bbox_inches="tight")
  record = {"experiment": "healing", "kind": "finding (no claim, no threshold, no status)",
            "command": " ".join(["python -m experiments.healing", *(argv or sys.argv[1:])]),
            "size": args.size, "seed": args.seed, "params": params,
            "wall_time_s": round(time.time() - start, 1),
            "environment": {"python": platform.python_version(), "jax": jax.__version__,
                            "cpus": os.cpu_count()},
            "headline": headline(results), "data": results}
  path = os.path.join(args.out, "healing.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=1)
  print(f"[healing] {record['headline']}  ({args.size}, {record['wall_time_s']} s); wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
