"""Figure 5: flow-of-ranks in trained models. (a, b) eps-rank of the query projection W_Q of
every encoder layer, a time-series model and a text model; (c) singular values of the input to
each encoder layer when the context is constant (x_1 = ... = x_T = 0).

Command: ``python -m experiments.fig5 [--seed S] [--out DIR] [--full | --smoke] [--model DIR]
[--t5-model DIR]``
Runtime: see ``wall_time_s`` in figures/fig5.json.

Models: the shipped Chronos-Bolt (``--model`` to change; d_model 64, 2 encoder layers) and,
with ``--t5-model``, a Chronos-T5 (the committed run: runs/pretrain/hf/t5_dense, d_model 64, 2 000 CPU steps with Adam eps 1e-20 -- ``python -m experiments.pretrain_sweep --export runs/pretrain/hf t5_dense``,
2 encoder layers -- the paper's Fig. 5 uses chronos-t5-base, 12 layers). Text
model: all-MiniLM-L6-v2 (6 layers, d = 384), a SUBSTITUTE for the paper's T5 LLM.

Claims checked (decided before running; EPS_GRID = 1e-1, 10^-1.5, 1e-2, 10^-2.5, 1e-3):
  1. Fig. 5a, per trained TS model: over EPS_GRID, the eps-rank of W_Q grows from the first to
     the last encoder layer at more eps than it shrinks (sum of signs > 0). Reason: "the
     numerical ranks of attention matrices become higher for deeper layers"; with two layers
     only the first-to-last comparison exists, and a majority of the grid is the least that
     "grows" means.
  2. Fig. 5c, per trained TS model: the eps-rank (eps = 1e-4) of the input to each encoder
     layer never decreases with depth, and the last layer's output has a larger eps-rank than
     the embedded constant context. Reason: flow-of-ranks (Theorem 4) says attention + MLP raise
     the small singular values; 1e-4 is two orders above fp32 round-off of a rank-1 matrix,
     so the constant embedding counts as rank 1 (Bolt: 2, with the REG token).
The text model's per-layer eps-ranks are a finding (the paper: saturated at small eps, growth
only at large eps).
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, text_model, trained

EPS_GRID = (1e-1, 10 ** -1.5, 1e-2, 10 ** -2.5, 1e-3)
INPUT_EPS = 1e-4
PROXY = "d_model-64 CPU models with 2 encoder layers, all-MiniLM-L6-v2 as the text model"
SIZES = {"smoke": {}, "default": {}, "full": {}}  # the models fix the sizes


def eps_ranks(w: np.ndarray) -> list[int]:
  """eps-rank of eq. (1) of ``w`` for each eps of EPS_GRID."""
  # fp32 SVD of the fp32 weights (as table2): far faster here, accurate to ~1e-7 sigma_1
  s = np.linalg.svd(np.asarray(w, np.float32), compute_uv=False).astype(np.float64)
  return [int(np.sum(s > e * s[0])) for e in EPS_GRID]


def _model_results(model) -> dict:
  q_ranks = [eps_ranks(w) for w in trained.query_matrices(model)]
  inputs = trained.encoder_layer_inputs(model, np.zeros(model.config.context_length))
  spectra = [np.linalg.svd(x, compute_uv=False) for x in inputs]
  return {"query_eps_ranks": q_ranks, "input_spectra": spectra,
          "input_eps_ranks": [int(np.sum(s > INPUT_EPS * s[0])) for s in spectra]}


def compute(size: str, seed: int, model_dir=None, t5_dir=None):
  del size  # the checkpoints fix every size
  p = dict(eps_grid=EPS_GRID, input_eps=INPUT_EPS, model=model_dir or trained.SHIPPED,
           t5_model=t5_dir, text_model=text_model.NAME)
  del seed  # deterministic: trained weights, a constant context
  results = {"models": {"Chronos-Bolt": _model_results(trained.load(model_dir))}}
  if t5_dir is not None:
    results["models"]["Chronos-T5"] = _model_results(trained.load(t5_dir))
  results["text_query_eps_ranks"] = [eps_ranks(w) for w in text_model.query_matrices()]
  return results, p


def verdicts(results, params):
  verdict = common.Verdict()
  for name, r in results["models"].items():
    first, last = np.asarray(r["query_eps_ranks"][0]), np.asarray(r["query_eps_ranks"][-1])
    verdict.check(f"{name}_query_rank_growth_signs", int(np.sum(np.sign(last - first))), ">", 0,
                  "sum over the eps grid of sign(eps-rank W_Q last layer - first layer)",
                  "Fig. 5a: W_Q ranks grow with depth: growth at more eps than decline",
                  kind="proxy", proxy=PROXY)
    ranks = r["input_eps_ranks"]
    verdict.check(f"{name}_input_rank_decreases", sum(int(b < a) for a, b in zip(ranks, ranks[1:])),
                  "<=", 0, f"number of layers whose input eps-rank (eps {INPUT_EPS}) is below "
                  "the previous one's, constant context", "Fig. 5c / Thm 4: rank never falls "
                  "with depth (integer counts)", kind="proxy", proxy=PROXY)
    verdict.check(f"{name}_input_rank_gain", ranks[-1] - ranks[0], ">", 0,
                  "eps-rank of the last layer's output minus the embedded constant context's",
                  "Fig. 5c: the layers lift a low-rank input: strictly larger", kind="proxy",
                  proxy=PROXY)
  text = results["text_query_eps_ranks"]
  verdict.finding("text_query_eps_ranks", text, "MiniLM W_Q eps-ranks per layer (eps "
                  + ", ".join(f"{e:.3g}" for e in EPS_GRID) + "): "
                  + "; ".join(str(r) for r in text))
  return verdict


def headline(results, params):
  parts = [f"{n}: W_Q eps-ranks (eps=0.1) by layer {[r[0] for r in m['query_eps_ranks']]}, "
           f"(eps=1e-2) {[r[2] for r in m['query_eps_ranks']]}; constant-context input "
           f"eps-rank (1e-4) by layer {m['input_eps_ranks']}" for n, m in results["models"].items()]
  text = results["text_query_eps_ranks"]
  parts.append(f"MiniLM W_Q eps-ranks (eps=0.1) {[r[0] for r in text]}, (1e-2) "
               f"{[r[2] for r in text]}")
  return "; ".join(parts)


def plot(results, params):
  models = results["models"]
  fig, axes = plt.subplots(1, 2 + len(models), figsize=(5 * (2 + len(models)), 4))
  colors = plt.cm.cool(np.linspace(0, 0.9, len(EPS_GRID)))
  series = [(f"(a) {n}: W_Q per encoder layer", m["query_eps_ranks"]) for n, m in models.items()]
  series.append(("(b) all-MiniLM-L6-v2 (text substitute): W_Q", results["text_query_eps_ranks"]))
  for ax, (title, ranks) in zip(axes, series):
    ranks = np.asarray(ranks)
    for e, (eps, color) in enumerate(zip(EPS_GRID, colors)):
      ax.plot(np.arange(1, len(ranks) + 1), ranks[:, e], "o-", color=color, label=f"ε={eps:.3g}")
    ax.set_xlabel("encoder layer")
    ax.set_ylabel("ε-rank of W_Q")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
  ax = axes[-1]
  for name, m in models.items():
    for i, s in enumerate(m["input_spectra"]):
      s = np.asarray(s)
      label = f"{name}: " + ("embedding" if i == 0 else f"after layer {i}")
      ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-12), label=label,
                  ls="-" if name == "Chronos-Bolt" else "--")
  ax.axhline(INPUT_EPS, color="gray", ls=":", lw=0.8)
  ax.set_xlabel("index j")
  ax.set_ylabel("σ_j / σ_1 of the layer input")
  ax.set_title("(c) constant context x = 0: inputs to each encoder layer", fontsize=9)
  ax.legend(fontsize=6)
  return fig


def main(argv=None) -> int:
  return trained.run('fig5', sys.modules[__name__], argv)


if __name__ == "__main__":
  sys.exit(main())
