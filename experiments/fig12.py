"""Figure 12 (appendix G.3): the angles (eq. 2) between every pair of rows of W_Q in the first
encoder layer of models trained with h heads, for every h of the sweep.

Command: ``python -m experiments.fig12 [--seed S] [--out DIR] [--full | --smoke]
[--workdir DIR]``
Runtime: see ``wall_time_s`` in figures/fig12.json (training not included when the runs exist).

Models: Fig. 9's runs (experiments/fig9.py, experiments/sweeps.py h sweep: d-64 Chronos-Bolt,
h in {1, 2, 4, 8}, 600 CPU steps each; PROXIES of the paper's pretrained Chronos).

Claim checked (fixed before the runs): "for each number of heads h, we can see clearly h
low-rank blocks on the diagonal": for every h >= 2, the mean angle between rows of the same
head is below the mean angle between rows of different heads (the statistic is the largest
difference within - across over h >= 2; a sign test).
Precondition: as Fig. 9's (experiments/fig9.py), on the same runs.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, fig9, precondition

PROXY = fig9.PROXY


def verdicts(results, params):
  verdict = common.Verdict()
  gaps = {run: results["final"][run]["angle_within_head"]
          - results["final"][run]["angle_across_heads"]
          for run, h in zip(results["runs"], results["values"]) if h >= 2}
  verdict.check("within_minus_across_head_angle_max", max(gaps.values()), "<", 0,
                "max over h >= 2 of (mean angle within a head - mean angle across heads), rad",
                "Fig. 12: dark (aligned) diagonal head blocks: within-head rows more aligned "
                "than across heads, for every h (a sign test)", kind="proxy", proxy=PROXY)
  verdict.finding("within_minus_across_deg", {k: float(np.degrees(v)) for k, v in gaps.items()},
                  "within - across (deg) by run: "
                  + ", ".join(f"{k} {np.degrees(v):.1f}" for k, v in gaps.items()))
  precondition.record_all(verdict, results["precondition"])
  return verdict


def headline(results, params):
  parts = [f"h={h}: within {np.degrees(results['final'][r]['angle_within_head']):.1f} deg, "
           f"across {np.degrees(results['final'][r]['angle_across_heads']):.1f} deg"
           for r, h in zip(results["runs"], results["values"]) if h >= 2]
  return "first-layer W_Q row angles, " + "; ".join(parts)


def plot(results, params):
  runs = results["runs"]
  fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 4), squeeze=False)
  for ax, run, h in zip(axes[0], runs, results["values"]):
    image = ax.imshow(results["final"][run]["first_layer_row_angles"], vmin=0, vmax=np.pi / 2,
                      cmap="inferno")
    ax.set_title(f"h = {h} ({run})", fontsize=10)
    ax.set_xlabel("row of W_Q")
  axes[0, 0].set_ylabel("row of W_Q")
  fig.colorbar(image, ax=list(axes[0]), label="angle (rad), eq. (2)", fraction=0.02)
  fig.suptitle("Fig. 12: angles between rows of W_Q, first encoder layer (CPU proxies)",
               fontsize=10)
  return fig


def main(argv=None) -> int:
  return fig9.main_for("fig12", sys.modules[__name__], argv)


if __name__ == "__main__":
  sys.exit(main())
