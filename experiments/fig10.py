"""Figure 10 (appendix): histograms of the relative singular values sigma_j / sigma_1 of W_Q
and of the first MLP matrix W_MLP of every encoder layer, time-series models vs a text model.

Command: ``python -m experiments.fig10 [--seed S] [--out DIR] [--full | --smoke]
[--model DIR] [--t5-model DIR]``
Runtime: see ``wall_time_s`` in figures/fig10.json.

Models as in experiments/fig5.py: the shipped Chronos-Bolt (d_model 64, 2 encoder layers),
with ``--t5-model`` a Chronos-T5 (committed run: runs/pretrain/hf/t5_dense, d_model 64, 2 000 CPU steps with Adam eps 1e-20 -- ``python -m experiments.pretrain_sweep --export runs/pretrain/hf t5_dense``), and all-MiniLM-L6-v2 (6 layers, d = 384) as a SUBSTITUTE for the paper's T5 LLM.
The paper uses base models: 12 layers, W_Q 768 x 768, W_MLP 3072 x 768.

The statistic is size-free: the fraction of a matrix's relative singular values in
(1e-1, 1], the top bin of the paper's histograms ("heavy" share below = faster decay).

Claims checked (decided before running), per trained TS model:
  1. Observation 1, "relative singular values decay faster for Chronos / Bolt, much slower
     for T5": the mean over layers of the top-bin fraction is smaller than the text model's,
     for W_Q and for W_MLP (sign tests).
  2. Observation 2, "deeper layers have a higher-rank structure": the last encoder layer's
     top-bin fraction exceeds the first's, for W_Q and for W_MLP (sign tests; two layers here).
  3. Observation 3, "attention matrices are more compressible than MLP matrices": the mean
     top-bin fraction of W_Q is below that of W_MLP (sign test).
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, text_model, trained

TOP_BIN = 1e-1
EDGES = 10.0 ** np.arange(-5, 0.01, 0.25)  # the paper's semilog-x range 1e-5 ... 1
PROXY = "d_model-64 CPU models with 2 encoder layers, all-MiniLM-L6-v2 as the text model"
SIZES = {"smoke": {}, "default": {}, "full": {}}  # the models fix the sizes


def relative_singular_values(w: np.ndarray) -> np.ndarray:
  # fp32 SVD of the fp32 weights (as table2): far faster here, accurate to ~1e-7 sigma_1
  s = np.linalg.svd(np.asarray(w, np.float32), compute_uv=False).astype(np.float64)
  return s / s[0]


def top_bin_fraction(rel: np.ndarray, threshold: float = TOP_BIN) -> float:
  """Share of relative singular values in (threshold, 1]."""
  return float(np.mean(np.asarray(rel) > threshold))


def _matrices(query, mlp) -> dict:
  out = {}
  for kind, mats in (("W_Q", query), ("W_MLP", mlp)):
    rel = [relative_singular_values(w) for w in mats]
    out[kind] = {"relative_singular_values": rel,
                 "top_bin_fraction": [top_bin_fraction(r) for r in rel]}
  return out


def compute(size: str, seed: int, model_dir=None, t5_dir=None):
  del size, seed  # deterministic: trained weights only
  p = dict(top_bin=TOP_BIN, model=model_dir or trained.SHIPPED, t5_model=t5_dir,
           text_model=text_model.NAME)
  models = {"Chronos-Bolt": trained.load(model_dir)}
  if t5_dir is not None:
    models["Chronos-T5"] = trained.load(t5_dir)
  results = {"models": {n: _matrices(trained.query_matrices(m), trained.mlp_matrices(m))
                        for n, m in models.items()},
             "text": _matrices(text_model.query_matrices(), text_model.mlp_matrices())}
  return results, p


def verdicts(results, params):
  verdict = common.Verdict()
  text = results["text"]
  for name, r in results["models"].items():
    for kind in ("W_Q", "W_MLP"):
      ours = r[kind]["top_bin_fraction"]
      verdict.check(f"{name}_{kind}_top_bin_minus_text", np.mean(ours)
                    - np.mean(text[kind]["top_bin_fraction"]), "<", 0,
                    f"mean top-bin fraction of {kind}, {name} minus MiniLM",
                    "Obs. 1: TS spectra decay faster than text: a sign test", kind="proxy",
                    proxy=PROXY)
      verdict.check(f"{name}_{kind}_top_bin_last_minus_first", ours[-1] - ours[0], ">", 0,
                    f"top-bin fraction of {kind}, last encoder layer minus first",
                    "Obs. 2: deeper layers are higher rank: a sign test", kind="proxy",
                    proxy=PROXY)
    verdict.check(f"{name}_W_Q_minus_W_MLP_top_bin", np.mean(r["W_Q"]["top_bin_fraction"])
                  - np.mean(r["W_MLP"]["top_bin_fraction"]), "<", 0,
                  "mean top-bin fraction, W_Q minus W_MLP",
                  "Obs. 3: attention more compressible than MLP: a sign test", kind="proxy",
                  proxy=PROXY)
  for kind in ("W_Q", "W_MLP"):
    f = text[kind]["top_bin_fraction"]
    verdict.finding(f"text_{kind}_top_bin_by_layer", f, f"MiniLM {kind} top-bin fraction by "
                    "layer: " + ", ".join(f"{x:.2f}" for x in f))
  return verdict


def headline(results, params):
  def cell(r):
    return ", ".join(f"{k} {[round(x, 2) for x in r[k]['top_bin_fraction']]}"
                     for k in ("W_Q", "W_MLP"))
  parts = [f"{n}: {cell(r)}" for n, r in results["models"].items()]
  parts.append(f"MiniLM: {cell(results['text'])}")
  return f"fraction of sigma_j/sigma_1 > {TOP_BIN} by layer: " + "; ".join(parts)


def plot(results, params):
  rows = [(n, r) for n, r in results["models"].items()] + [("MiniLM (text)", results["text"])]
  n_cols = max(len(r["W_Q"]["relative_singular_values"]) for _, r in rows)
  fig, axes = plt.subplots(2 * len(rows), n_cols, figsize=(2.2 * n_cols, 2.0 * 2 * len(rows)),
                           squeeze=False)
  shades = [0.15, 0.3, 0.45, 0.6, 0.8]
  for i, (name, r) in enumerate(rows):
    for j, kind in enumerate(("W_Q", "W_MLP")):
      row = 2 * i + j
      for layer in range(n_cols):
        ax = axes[row, layer]
        rel = r[kind]["relative_singular_values"]
        if layer >= len(rel):
          ax.axis("off")
          continue
        for decade, alpha in zip(range(-5, 0), shades):
          ax.axvspan(10.0 ** decade, 10.0 ** (decade + 1), color="tab:blue", alpha=alpha * 0.3,
                     lw=0)
        ax.hist(np.clip(rel[layer], EDGES[0], 1), bins=EDGES, color="k")
        ax.set_xscale("log")
        ax.tick_params(labelsize=6)
        ax.set_title(f"{name} {kind} L{layer + 1}", fontsize=7)
  fig.suptitle("Fig. 10: relative singular values per encoder layer (d_model-64 CPU models; "
               "MiniLM substitutes the paper's T5)", fontsize=9)
  fig.tight_layout()
  return fig


def main(argv=None) -> int:
  return trained.run('fig10', sys.modules[__name__], argv)


if __name__ == "__main__":
  sys.exit(main())
