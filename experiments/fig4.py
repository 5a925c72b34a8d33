"""Figure 4: the averaged eps-rank of the query projections W_Q (mean over encoder layers) of
trained time-series models (a) against the hidden size d, next to a text model, and (c)
against the rank of a fixed input vocabulary Xi (appendix I).

Command: ``python -m experiments.fig4 [--seed S] [--out DIR] [--full | --smoke]
[--workdir DIR] [--no-4c]``
Runtime: see ``wall_time_s`` and ``params`` (steps per run) in figures/fig4.json; training is
not part of it when ``--workdir`` holds the trained runs.

Models (experiments/sweeps.py; the default is a reduced CPU protocol, PROXIES of the paper's
pretrained models): (a) Chronos-Bolt trained with the zero-shot recipe's data (cpu-zeroshot:
no M-competition or Tourism series) at d in {32, 64, 128, 256} (4 heads of d/4, d_ff = 4d, 2+2
layers) for 600 steps each (27-102 s each on 2 cores), against all-MiniLM-L6-v2
(d = 384, 6 layers), a SUBSTITUTE for the paper's T5 LLMs; (c) Chronos-T5 (d 64, 2+2 layers)
whose token embedding is the fixed rank-r Chebyshev table of appendix I (frozen,
``fixed_vocabulary_rank``), r in {1, 2, 4, 8, 16, 32}, 1 500 steps each (context 64, batch 16,
Adam eps 1e-20: ~2 min each). The paper: Chronos / T5 at d = 256 ... 1024 and a d = 512 Chronos
with rank(Xi) = 1 ... 32 (``--full`` lists those configs; not run here).

Panel (c) trains with Adam eps 1e-20 (experiments.sweeps.T5_ADAM_EPS): at Chronos' init
(initializer_factor 0.05) the T5's attention gradients are 1e-10 to 1e-14, far below the usual
eps = 1e-8, with which Adam's steps are ~1e-4 of their intended size and W_Q stays at its
random init (sigma_1 0.0246 -> 0.0246 in 300 steps), so a check on it would test nothing.

Claims checked (thresholds fixed before the runs; eps = 1e-2, sweeps.CHECK_EPS):
  1. Fig. 4a, "W_Q stays low-rank in a Chronos model, [its rank] scales almost linearly with
     d in a T5 LLM": the TS model's relative averaged eps-rank (rank / d) at the largest d is
     below the text model's (a sign test).
  2. Fig. 4a, same claim: the log-log slope of the TS averaged eps-rank against d is < 0.5,
     halfway between a flat curve (0) and the text model's proportional growth (1).
  3. Fig. 4c, "the numerical ranks of attention matrices increase with rank(Xi)": Spearman's
     rho(r, averaged eps-rank) >= 0.8 -- with 6 points, up to three swaps of neighbours (a
     rising trend with noise), while no trend gives rho ~ 0.
  4. Stabilisation (each sweep): the averaged eps-rank moves by <= 10 % over the last 3
     checkpoints of every run; otherwise the sweep's conclusion is provisional.
Precondition (experiments/precondition.py, on the last checkpoint of every run of both
sweeps): each forecasts (validation relative WQL against Seasonal Naive <= 1.0) and uses its
attention (>= 15 % lost at rank 1); if one does not, the status is UNINFORMATIVE.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, precondition, sweeps, text_model

PROXY = "CPU-trained d <= 256 models, 600 steps; all-MiniLM-L6-v2 as the text model"
PROXY_4C = "CPU-trained d-64 Chronos-T5 with a fixed vocabulary, 1 500 steps"
SLOPE_MAX = 0.5
SPEARMAN_MIN = 0.8


def compute(size: str, seed: int, root: str, with_4c: bool = True):
  """The sweeps' W_Q histories, MiniLM's, and the precondition of every run (``seed``: its
  forecasts'; the runs' seeds are their configs')."""
  if size == "full":
    raise ValueError("--full: the paper's sizes need accelerators; the configs are "
                     "experiments.sweeps.FULL (not run here)")
  sweep_names = ["d", "r"] if with_4c else ["d"]
  results, params = {}, {"root": root, "eps_grid": sweeps.EPS_GRID, "check_eps": sweeps.CHECK_EPS,
                         "text_model": text_model.NAME}
  workdirs = {}
  for name in sweep_names:
    runs = sweeps.SWEEPS[name](size)
    workdirs.update({run.name: sweeps.ensure_trained(run, root) for run in runs})
    histories = {run.name: sweeps.query_history(workdirs[run.name]) for run in runs}
    results[name] = {"values": [run.value for run in runs], "runs": [run.name for run in runs],
                     "histories": histories}
    params[f"{name}_runs"] = {run.name: {"steps": run.config.steps,
                                         "batch_size": run.config.batch_size,
                                         "context": run.config.context,
                                         "model": run.config.model,
                                         "model_overrides": run.config.model_overrides,
                                         "fixed_vocabulary_rank": run.config.fixed_vocabulary_rank,
                                         "adam_eps": run.config.adam_eps}
                              for run in runs}
  text = [sweeps.singular_values(w) for w in text_model.query_matrices()]
  results["text"] = {"d": int(text[0].shape[0]), "spectra": text,
                     "averaged_eps_rank": [float(np.mean([sweeps.eps_rank(s, e) for s in text]))
                                           for e in sweeps.EPS_GRID]}
  results["precondition"] = precondition.measure_workdirs(workdirs, size, seed)
  return results, params


def _final(result, e):
  return [result["histories"][run]["averaged_eps_rank"][-1][e] for run in result["runs"]]


def verdicts(results, params):
  verdict = common.Verdict()
  e = sweeps.EPS_GRID.index(sweeps.CHECK_EPS)
  d_sweep, text = results["d"], results["text"]
  ds, ranks = np.asarray(d_sweep["values"], float), np.asarray(_final(d_sweep, e))
  text_relative = text["averaged_eps_rank"][e] / text["d"]
  verdict.check("fig4a_relative_rank_minus_text", ranks[-1] / ds[-1] - text_relative, "<", 0,
                f"averaged eps-rank / d of the d = {int(ds[-1])} TS model minus MiniLM's "
                f"(eps {sweeps.CHECK_EPS:g})", "Fig. 4a: TS W_Q stays low-rank, text W_Q "
                "does not: a sign test", kind="proxy", proxy=PROXY)
  slope = float(np.polyfit(np.log(ds), np.log(np.maximum(ranks, 1e-12)), 1)[0])
  verdict.check("fig4a_log_log_slope", slope, "<", SLOPE_MAX,
                "slope of log(averaged eps-rank) against log(d) over the d sweep",
                "Fig. 4a: halfway between flat (0) and the text model's proportional growth "
                "(1)", kind="proxy", proxy=PROXY)
  sweeps.stability_check(verdict, "d_sweep", d_sweep["histories"], PROXY)
  verdict.finding("text_averaged_eps_rank", text["averaged_eps_rank"],
                  f"MiniLM (d {text['d']}) averaged eps-rank at eps {sweeps.EPS_GRID}: "
                  f"{text['averaged_eps_rank']}")
  if "r" in results:
    r_sweep = results["r"]
    rho = sweeps.spearman(r_sweep["values"], _final(r_sweep, e))
    verdict.check("fig4c_spearman_rank_vs_rank_xi", rho, ">=", SPEARMAN_MIN,
                  "Spearman rho of rank(Xi) and the averaged eps-rank of W_Q",
                  "Fig. 4c: the rank grows with rank(Xi); 0.8 allows up to three swaps of "
                  "neighbours among 6 points", kind="proxy", proxy=PROXY_4C)
    sweeps.stability_check(verdict, "r_sweep", r_sweep["histories"], PROXY_4C)
  precondition.record_all(verdict, results["precondition"])
  return verdict


def headline(results, params):
  e = sweeps.EPS_GRID.index(sweeps.CHECK_EPS)
  parts = ["averaged eps-rank (eps 1e-2) by d: " + ", ".join(
      f"{v}:{r:.1f}" for v, r in zip(results["d"]["values"], _final(results["d"], e))),
      f"MiniLM (d {results['text']['d']}): {results['text']['averaged_eps_rank'][e]:.1f}"]
  if "r" in results:
    parts.append("by rank(Xi): " + ", ".join(
        f"{v}:{r:.1f}" for v, r in zip(results["r"]["values"], _final(results["r"], e))))
  return "; ".join(parts)


def plot(results, params):
  panels = 3 if "r" in results else 2
  fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.2))
  colors = plt.cm.cool(np.linspace(0, 0.9, len(sweeps.EPS_GRID)))
  ax = axes[0]
  ds = results["d"]["values"]
  for e, (eps, color) in enumerate(zip(sweeps.EPS_GRID, colors)):
    ax.plot(ds, _final(results["d"], e), "o-", color=color, label=f"Bolt (CPU), ε={eps:.3g}")
    ax.plot([results["text"]["d"]], [results["text"]["averaged_eps_rank"][e]], "*",
            color=color, ms=12, label=f"MiniLM (text), ε={eps:.3g}")
  ax.plot([16, 400], [16, 400], "k:", lw=0.8, label="rank = d")
  ax.set_xscale("log", base=2)
  ax.set_yscale("log")
  ax.set_xlabel("hidden size d")
  ax.set_ylabel("averaged ε-rank of W_Q")
  ax.set_title("(a) Chronos-Bolt trained at several d vs text", fontsize=10)
  ax.legend(fontsize=6.5)
  ax = axes[1]  # stabilisation: the statistic over training
  e = sweeps.EPS_GRID.index(sweeps.CHECK_EPS)
  for name in [n for n in ("d", "r") if n in results]:
    for run in results[name]["runs"]:
      h = results[name]["histories"][run]
      ax.plot(h["steps"], [row[e] for row in h["averaged_eps_rank"]], "o-", ms=3, label=run)
  ax.set_xlabel("training step")
  ax.set_ylabel(f"averaged ε-rank (ε={sweeps.CHECK_EPS:g})")
  ax.set_title("over training (stabilisation)", fontsize=10)
  ax.legend(fontsize=6.5)
  if "r" in results:
    ax = axes[2]
    for e, (eps, color) in enumerate(zip(sweeps.EPS_GRID, colors)):
      ax.plot(results["r"]["values"], _final(results["r"], e), "s-", color=color,
              label=f"ε={eps:.3g}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("rank(Ξ) of the fixed Chebyshev vocabulary")
    ax.set_ylabel("averaged ε-rank of W_Q")
    ax.set_title("(c) Chronos-T5 (d 64, CPU) with a fixed vocabulary", fontsize=10)
    ax.legend(fontsize=7)
  fig.suptitle("Fig. 4 (CPU proxies; MiniLM substitutes the paper's T5 LLM)", fontsize=10)
  fig.tight_layout()
  return fig


def main(argv=None) -> int:
  import time
  args = common.parse_args(__doc__, argv, extra={
      **sweeps.WORKDIR_FLAG,
      "--no-4c": {"action": "store_true", "help": "only the d sweep (panel a)"}})
  start = time.time()
  results, params = compute(args.size, args.seed, sweeps.root(args), not args.no_4c)
  verdict = verdicts(results, params)
  return common.finish("fig4", args, plot(results, params), results, params, verdict, start,
                       headline(results, params))


if __name__ == "__main__":
  sys.exit(main())
