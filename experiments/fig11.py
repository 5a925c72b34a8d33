"""Figure 11 (appendix G): the absolute singular values of W_Q of every encoder layer across
the training checkpoints of one run.

Command: ``python -m experiments.fig11 [--seed S] [--out DIR] [--full | --smoke]
[--workdir DIR] [--run NAME]``
Runtime: see ``wall_time_s`` in figures/fig11.json (training not included when the run exists).

Run: the d sweep's d = 64 Chronos-Bolt (experiments/sweeps.py: zero-shot recipe's data, 4
heads, 2+2 layers, 600 CPU steps, a checkpoint every 75 steps), from its initialisation (step
0, rebuilt from the run's seed) to its last checkpoint. A PROXY of the paper's small Chronos
with 6 encoder layers trained to convergence. ``--workdir`` is the sweeps' root; ``--run``
picks another run of it (any ``lowrank-ts train`` workdir name there).

Claims checked (fixed before the run):
  1. "the leading singular value, i.e. the norm of W_Q, eventually gets larger": for every
     encoder layer sigma_1 at the last checkpoint exceeds sigma_1 at initialisation (min over
     layers of the ratio > 1).
  2. "when they get larger ... the low-rank structure evolves": the mean over layers of the
     relative eps-rank (eps = 0.1) at the last checkpoint is below its value at initialisation
     (a sign test; a Gaussian init has almost every sigma_j above 0.1 sigma_1).
  3. Stabilisation: sigma_1 (mean over layers) moves by <= 10 % over the last 3 checkpoints.
Precondition (experiments/precondition.py, on the run's last checkpoint): the model forecasts
(validation relative WQL against Seasonal Naive <= 1.0) and uses its attention (>= 15 % lost
at rank 1); if not, the status is UNINFORMATIVE.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, precondition, sweeps

PROXY = "a d-64, 2-layer Chronos-Bolt trained 600 CPU steps"
RANK_EPS = 0.1


def compute(size: str, seed: int, root: str, run_name: str | None = None):
  if size == "full":
    raise ValueError("--full: the paper's 6-layer Chronos needs accelerators; the config is "
                     "experiments.sweeps.FULL (not run here)")
  runs = {run.name: run for run in sweeps.d_sweep(size)}
  name = run_name or f"bolt_d{sweeps.SIZES[size]['d_base']}"
  if name in runs:
    workdir = sweeps.ensure_trained(runs[name], root)
    steps = runs[name].config.steps
  else:
    import os
    workdir = os.path.join(root, name)
    if not os.path.isdir(workdir):
      raise ValueError(f"--run must name a run folder in {root!r} or one of {sorted(runs)}, "
                       f"got {name!r}")
    steps = None
  history = sweeps.query_history(workdir)
  sigma1 = [[float(s[0]) for s in layers] for layers in history["spectra"]]
  relative = [[sweeps.eps_rank(s, RANK_EPS) / len(s) for s in layers]
              for layers in history["spectra"]]
  return ({"steps": history["steps"], "spectra": history["spectra"], "sigma1": sigma1,
           "relative_eps_rank": relative,
           "precondition": precondition.measure_workdirs({name: workdir}, size, seed)},
          {"run": name, "workdir": workdir, "train_steps": steps, "rank_eps": RANK_EPS})


def verdicts(results, params):
  verdict = common.Verdict()
  s1 = np.asarray(results["sigma1"])
  verdict.check("sigma1_last_over_init_min", float(np.min(s1[-1] / s1[0])), ">", 1.0,
                "min over encoder layers of sigma_1(W_Q) at the last checkpoint / at init",
                "Fig. 11: the norm of W_Q 'eventually gets larger': a ratio above 1",
                kind="proxy", proxy=PROXY)
  rel = np.asarray(results["relative_eps_rank"])
  verdict.check("relative_eps_rank_last_minus_init", float(rel[-1].mean() - rel[0].mean()),
                "<", 0, f"mean over layers of rank_eps(W_Q)/d at eps {RANK_EPS}, last "
                "checkpoint minus init", "Fig. 11: the low-rank structure forms as sigma_1 "
                "grows: a sign test", kind="proxy", proxy=PROXY)
  change = sweeps.relative_change_last(s1.mean(axis=1))
  verdict.check("sigma1_stabilised", change, "<=", sweeps.STABLE_TOLERANCE,
                f"relative change of mean sigma_1 over the last {sweeps.STABLE_LAST} "
                "checkpoints", "a conclusion needs a statistic that has settled; "
                "10 % is the most a settled value may still move", kind="proxy", proxy=PROXY)
  verdict.finding("sigma1_by_step", dict(zip(results["steps"], s1.tolist())),
                  "sigma_1 per layer at init / last: "
                  f"{np.round(s1[0], 4).tolist()} / {np.round(s1[-1], 3).tolist()}")
  precondition.record_all(verdict, results["precondition"])
  return verdict


def headline(results, params):
  s1, rel = np.asarray(results["sigma1"]), np.asarray(results["relative_eps_rank"])
  return (f"{params['run']}: sigma_1(W_Q) by layer {np.round(s1[0], 4).tolist()} at init -> "
          f"{np.round(s1[-1], 3).tolist()} at step {results['steps'][-1]}; relative "
          f"eps-rank (eps {RANK_EPS}) {rel[0].mean():.2f} -> {rel[-1].mean():.2f}")


def plot(results, params):
  spectra, steps = results["spectra"], results["steps"]
  layers = len(spectra[0])
  fig, axes = plt.subplots(1, layers, figsize=(5 * layers, 3.8), squeeze=False)
  everything = np.concatenate([s for row in spectra for s in row])
  edges = np.logspace(np.log10(max(everything.min(), 1e-8)), np.log10(everything.max()), 40)
  colors = plt.cm.viridis(np.linspace(0, 0.95, len(steps)))
  for layer in range(layers):
    ax = axes[0, layer]
    for step, row, color in zip(steps, spectra, colors):
      ax.hist(row[layer], bins=edges, histtype="step", color=color, lw=1.2, label=f"step {step}")
    ax.set_xscale("log")
    ax.set_xlabel("absolute singular value σ_j(W_Q)")
    ax.set_title(f"encoder layer {layer + 1}", fontsize=10)
  axes[0, 0].set_ylabel("count")
  axes[0, -1].legend(fontsize=6, ncol=2)
  fig.suptitle(f"Fig. 11: W_Q singular values over training ({params['run']}, CPU proxy)",
               fontsize=10)
  fig.tight_layout()
  return fig


def main(argv=None) -> int:
  import time
  args = common.parse_args(__doc__, argv, extra={
      **sweeps.WORKDIR_FLAG, "--run": {"default": None, "help": "a run folder name in the root"}})
  start = time.time()
  results, params = compute(args.size, args.seed, sweeps.root(args), args.run)
  verdict = verdicts(results, params)
  return common.finish("fig11", args, plot(results, params), results, params, verdict, start,
                       headline(results, params))


if __name__ == "__main__":
  sys.exit(main())
