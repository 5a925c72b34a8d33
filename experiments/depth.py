"""Flow-of-ranks through depth with random weights (section 4; Fig. 5c's mechanism).

Command: ``python -m experiments.depth [--seed S] [--out DIR] [--full | --smoke]``
Runtime: see the ``wall_time_s`` in figures/depth.json (every run records its own). ``--full``
(d = 512) runs 54 stacks (6 h x 3 draws x 3 variants) through 12 compilations.

Setting. A stack of D residual blocks in the layout of a T5 encoder layer
(``lowrank_ts.blocks``: pre-norm RMS norm, multi-head attention of eq. (18) with W_O, ReLU MLP,
no biases, T5's N(0, 1/fan_in) initialisation) applied to a rank-k input: the Chebyshev
embedding of appendix I (``embeddings.chebyshev_embedding``) of L points evenly spaced in
[-15, 15], rescaled to unit RMS per entry (the scale of T5's N(0, 1) embedding init; the
raw embedding has entries ~ sqrt(k/(2d)), which the branches would swamp in one layer).
Default d = 128, d_ff = 512, L = 256, D = 12, k = 4, h in {1, 2, 4, 8, 16}, three random
draws (weights and u_j) per h (``--full``: d = 512, d_ff = 2048, L = 512; ``--smoke``:
d = 16, L = 32, D = 4). The residual branches are scaled by 1/sqrt(D), as in Theorem 4
(Z = U + Y/sqrt(D), the De & Smith scaling the paper cites). Measured: the eps-rank (eq. 1) of
the input to every layer, eps in {1e-2, 1e-3, 1e-4}, averaged over the draws, r(l).

Claims checked (the paper's section 4: nonlinear layers raise the rank of a low-rank input and
ranks grow with depth; Theorem 4 / J.3: more heads raise it more):
(a) every stack ends above its input rank: min over h and eps of r(D) - r(0) > 0.
(b) the eps-rank does not decrease with depth: no drop r(l) - r(l+1) larger than
    max(1 % of d, 1/draws) for any h, eps, l (one singular value crossing the threshold in one
    draw moves the mean by 1/draws), both for the full blocks and for attention-only blocks.
(c) larger h gives larger ranks, checked where Theorem 4 speaks, attention-only blocks
    (W_out = 0: Z = X + W_O MH-Attention(RMSNorm(X))/sqrt(D) per layer): the final mean
    eps-rank has no drop from h to 2h beyond the same tolerance for any eps, and at eps = 1e-4
    every draw at h_max ends above every draw at h = 1 (the growth separates from the
    draw-to-draw spread). An earlier threshold, a growth of 2 % of d, failed at ``--full``
    (growth 7.0 < 10.24 at d = 512): the growth does not scale with d (6.7 at d = 128, 7.0 at
    d = 512, draws within +-1), so a d-proportional threshold was the wrong yardstick.

(b') the same no-decrease claim on T5's unscaled residual (branch scale 1), the layout of the
    paper's Chronos (Fig. 5c): it fails -- the eps-rank jumps at layer 1 and then *decreases*
    with depth, because the ReLU outputs' positive mean adds the same vector to every token in every
layer, so the mean-token direction grows like D while the others grow like sqrt(D) (the share
of ||X||_F^2 in the mean token is recorded per layer).
Every claim is a proxy: random-init blocks stand in for the paper's trained Chronos.

Findings (reported with their numbers): with the ReLU MLP the final ranks do not depend on h
(the MLP's elementwise nonlinearity lifts far more rank than the attention does); the growth
with h (attention only) is a few ranks whatever d, far below the rank(h+1) per layer that
Theorem 4's eq. (26) permits.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import common
from lowrank_ts import blocks, embeddings, spectral

EPSILONS = (1e-2, 1e-3, 1e-4)
GROWTH_EPS = 1e-4
X_MAX = 15.0
SIZES = {
    "smoke": dict(d=16, d_ff=64, length=32, depth=4, rank=2, heads=(1, 2, 4), draws=2),
    "default": dict(d=128, d_ff=512, length=256, depth=12, rank=4, heads=(1, 2, 4, 8, 16),
                    draws=3),
    "full": dict(d=512, d_ff=2048, length=512, depth=12, rank=4, heads=(1, 2, 4, 8, 16, 32),
                 draws=3),
}
VARIANTS = ("full", "attention_only", "t5_unscaled")


# Compiled without XLA:CPU's YNNPACK fusions (common.cpu_jit): a --full stack (d = 512,
# L = 512, D = 12, float64) took 3.5 s with them and 1.0 s without (same values to 1e-15).
# residual_scale is static: two values, so two compilations per h.
_encoder_stack = common.cpu_jit(blocks.encoder_stack, static_argnames=("num_heads",
                                                                       "residual_scale"))


def _eps_ranks(states):
  s = spectral.singular_values(states)  # [D + 1, min(d, L)]
  return np.stack([np.asarray(spectral.eps_rank_from_singular_values(s, e)) for e in EPSILONS],
                  axis=1), np.asarray(s)  # [D + 1, eps]


def _mean_token_share(states):
  states = np.asarray(states)
  mean = states.mean(axis=2, keepdims=True)
  return (np.sum(mean ** 2, axis=(1, 2)) * states.shape[2]) / np.sum(states ** 2, axis=(1, 2))


def parameters(cfg: dict) -> dict:
  """The json's ``params`` for the size ``cfg`` (one entry of SIZES)."""
  return dict(cfg, heads=list(cfg["heads"]), x_max=X_MAX, residual_scale=cfg["depth"] ** -0.5,
              input="Chebyshev embedding (appendix I), unit RMS per entry",
              init="T5: N(0, 1/fan_in), unit norm gains")


def compute(cfg: dict, seed: int) -> dict:
  """eps-ranks of the input to every layer, per variant, h and draw, in float64 (the json's
  ``data``)."""
  depth, shape = cfg["depth"], (len(cfg["heads"]), cfg["draws"])
  ranks = {v: np.zeros((*shape, depth + 1, len(EPSILONS))) for v in VARIANTS}
  share = {v: np.zeros((*shape, depth + 1)) for v in VARIANTS}
  with spectral.float64():
    key = jax.random.key(seed)
    for r in range(cfg["draws"]):
      draw_ranks, draw_share, draw_spectra = _draw(cfg, jax.random.fold_in(key, r))
      for v in VARIANTS:
        ranks[v][:, r], share[v][:, r] = draw_ranks[v], draw_share[v]
      if r == 0:
        spectra = draw_spectra
      print(f"  draw {r}: final eps-ranks (h={cfg['heads'][-1]}) "
            + ", ".join(f"{v} {ranks[v][-1, r, -1].tolist()}" for v in VARIANTS), flush=True)
  return {"heads": list(cfg["heads"]), "epsilons": list(EPSILONS),
          "eps_ranks": ranks, "mean_eps_ranks": {v: ranks[v].mean(axis=1) for v in VARIANTS},
          "mean_token_share": {v: share[v].mean(axis=1) for v in VARIANTS},
          "relative_spectra_first_draw": {f"{v}/h={h}": s for (v, h), s in spectra.items()}}


def _draw(cfg, key):
  """One draw of the input (u_j) and the weights through every h and variant: per variant the
  eps-ranks [heads, D + 1, eps] and mean-token shares [heads, D + 1]; per (variant, h) the
  spectra relative to sigma_1 [D + 1, min(d, L)]."""
  key_x, key_w = jax.random.split(key)
  points = jnp.linspace(-X_MAX, X_MAX, cfg["length"])
  x = embeddings.chebyshev_embedding(points, cfg["rank"], cfg["d"], key_x, X_MAX)
  x = x / jnp.sqrt(jnp.mean(x ** 2))  # unit RMS per entry, T5's embedding-init scale
  weights = blocks.init_encoder_stack(key_w, cfg["depth"], cfg["d"], cfg["d_ff"], x.dtype)
  no_mlp = weights._replace(w_out_DxF=jnp.zeros_like(weights.w_out_DxF))
  scale = cfg["depth"] ** -0.5
  runs = {"full": (weights, scale), "attention_only": (no_mlp, scale),
          "t5_unscaled": (weights, 1.0)}
  ranks, share, spectra = {v: [] for v in VARIANTS}, {v: [] for v in VARIANTS}, {}
  for h in cfg["heads"]:
    for variant, (p, c) in runs.items():
      states = _encoder_stack(p, x, num_heads=h, residual_scale=c)
      r, s = _eps_ranks(states)
      ranks[variant].append(r)
      share[variant].append(_mean_token_share(states))
      spectra[(variant, h)] = s / s[:, :1]
  return ranks, share, spectra


PROXY = "random-init blocks, not trained Chronos"


def verdicts(results: dict, params: dict) -> common.Verdict:
  """Claims (a)-(c) of the docstring, and (b) on T5's unscaled residual."""
  tol = max(0.01 * params["d"], 1 / params["draws"])
  tol_reason = ("no drop beyond one singular value crossing the threshold in one draw "
                "(1/draws) or 1 % of d")
  mean = results["mean_eps_ranks"]
  verdict = common.Verdict()
  gain = min(float(np.min(mean[v][:, -1, :] - mean[v][:, 0, :])) for v in VARIANTS[:2])
  verdict.check("a_final_above_input", gain, ">", 0,
                "min over stacks, h, eps of mean eps-rank at layer D minus at layer 0",
                "section 4: the layers raise the rank of a low-rank input: strictly above",
                kind="proxy", proxy=PROXY)
  drop = max(float(np.max(mean[v][:, :-1, :] - mean[v][:, 1:, :])) for v in VARIANTS[:2])
  verdict.check("b_no_decrease_with_depth", drop, "<=", tol,
                "largest layer-to-layer drop of the mean eps-rank (full and attention-only, "
                "branches / sqrt(D))", tol_reason, kind="proxy", proxy=PROXY)
  t5 = mean["t5_unscaled"]
  t5_drop = float(np.max(t5[:, :-1, :] - t5[:, 1:, :]))
  verdict.check("b_no_decrease_with_depth_t5_unscaled", t5_drop, "<=", tol,
                "largest layer-to-layer drop of the mean eps-rank with T5's unscaled residual "
                "(the layout of the paper's Chronos, Fig. 5c)", tol_reason,
                kind="proxy", proxy=PROXY)
  final = mean["attention_only"][:, -1, :]  # [heads, eps]
  verdict.check("c_no_decrease_with_heads", float(np.max(final[:-1] - final[1:])), "<=", tol,
                "largest drop of the final mean eps-rank from h to 2h (attention only)",
                tol_reason, kind="proxy", proxy=PROXY)
  g = EPSILONS.index(GROWTH_EPS)
  per_draw = np.asarray(results["eps_ranks"]["attention_only"])[:, :, -1, g]  # [heads, draws]
  verdict.check("c_growth_with_heads", float(per_draw[-1].min() - per_draw[0].max()), ">", 0,
                f"final eps-rank at eps={GROWTH_EPS:g} (attention only): lowest draw at h_max "
                "minus highest draw at h=1", "more heads raise the rank: the growth must "
                "separate from the draw-to-draw spread (a sign test)", kind="proxy", proxy=PROXY)
  heads, rank = results["heads"], params["rank"]
  layer1 = mean["attention_only"][:, 1, -1]
  verdict.finding("heads_growth_vs_theorem4", {"final_h1": float(final[0, g]),
                                               "final_hmax": float(final[-1, g]),
                                               "layer1": layer1,
                                               "allowed_layer1": [rank * (h + 1) for h in heads]},
                  f"attention only, eps={GROWTH_EPS:g}: final rank {final[0, g]:.1f} (h=1) -> "
                  f"{final[-1, g]:.1f} (h={heads[-1]}), +{final[-1, g] - final[0, g]:.1f} at "
                  f"d = {params['d']}; after one layer {np.round(layer1, 1).tolist()} vs the "
                  f"rank(h+1) = {[rank * (h + 1) for h in heads]} that Theorem 4's eq. (26) "
                  "allows on a rank-" + str(rank) + " input (the bound permits (h+1)-fold per "
                  "layer)")
  full_final = mean["full"][:, -1, g]
  verdict.finding("mlp_erases_heads", full_final,
                  f"with the ReLU MLP the final eps={GROWTH_EPS:g}-rank is "
                  f"{full_final.min():.1f}..{full_final.max():.1f} for every h: h has no effect "
                  "once the MLP is in the block")
  verdict.finding("t5_unscaled_rank_falls", {"peak": t5[:, :, g].max(axis=1),
                                             "final": t5[:, -1, g]},
                  f"T5's unscaled residual: eps={GROWTH_EPS:g}-rank peaks at "
                  f"{t5[:, :, g].max(axis=1).mean():.1f} then ends at {t5[:, -1, g].mean():.1f} "
                  "(mean over h)"
                  + (": the rank falls with depth" if t5_drop > tol else "")
                  + "; the mean token takes a growing "
                  f"share of ||X||_F^2 ({results['mean_token_share']['t5_unscaled'][:, -1].mean():.2f}"
                  " at layer D)")
  return verdict


def headline(results: dict, params: dict) -> str:
  mean, g = results["mean_eps_ranks"], EPSILONS.index(GROWTH_EPS)
  final = mean["attention_only"][:, -1, :]  # [heads, eps]
  full_final = mean["full"][:, -1, g]
  t5 = mean["t5_unscaled"][:, :, g]
  return (f"eps={GROWTH_EPS:g}-rank {params['rank']} -> {full_final.min():.1f}..."
          f"{full_final.max():.1f} after {params['depth']} full blocks (all h); attention "
          f"only: {final[0, g]:.1f} (h=1) -> {final[-1, g]:.1f} (h={results['heads'][-1]}); T5 "
          f"unscaled peaks {t5.max(axis=1).mean():.1f} then ends {t5[:, -1].mean():.1f}")


_STYLES = ("-", "--", ":")  # line style per eps (EPSILONS) or per variant (VARIANTS)


def plot(results: dict, params: dict):
  """Top: mean eps-rank per layer for each variant; bottom: (c) final ranks vs h, the spectra
  per layer, the mean-token share."""
  layers = np.arange(params["depth"] + 1)
  colors = plt.cm.viridis(np.linspace(0, 0.9, len(results["heads"])))
  fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
  for ax, variant in zip(axes[0], VARIANTS):
    _plot_ranks_by_layer(ax, results, variant, layers, colors)
  _plot_final_vs_heads(axes[1, 0], results)
  _plot_layer_spectra(axes[1, 1], results, layers)
  _plot_mean_token_share(axes[1, 2], results, layers, colors)
  fig.tight_layout()
  return fig


def _plot_ranks_by_layer(ax, results, variant, layers, colors):
  titles = {"full": "(a, b) attention + ReLU MLP, branches / sqrt(D)",
            "attention_only": "(b, c) attention only (W_out = 0), branches / sqrt(D)",
            "t5_unscaled": "observation: T5 residual (branch scale 1)"}
  mean = results["mean_eps_ranks"][variant]
  for a, h in enumerate(results["heads"]):
    for e, eps in enumerate(EPSILONS):
      ax.plot(layers, mean[a, :, e], _STYLES[e], color=colors[a],
              label=f"h={h}" if e == 0 else None)
  ax.set(title=titles[variant], xlabel="layer l (input to layer l+1)",
         ylabel="eps-rank (mean over draws)")
  ax.legend(fontsize=7, title="solid 1e-2, dashed 1e-3, dotted 1e-4", title_fontsize=7)


def _plot_final_vs_heads(ax, results):
  heads = results["heads"]
  for variant, marker in zip(VARIANTS[:2], ("o", "s")):
    final = results["mean_eps_ranks"][variant][:, -1, :]
    for e, eps in enumerate(EPSILONS):
      ax.plot(heads, final[:, e], _STYLES[e], marker=marker, color=f"C{e}",
              label=f"{variant}, eps={eps:g}")
  ax.set_xscale("log", base=2)
  ax.set_xticks(heads, [str(h) for h in heads])
  ax.set(title="(c) final eps-rank vs heads", xlabel="heads h", ylabel="eps-rank at layer D")
  ax.legend(fontsize=7)


def _plot_layer_spectra(ax, results, layers):
  h_max = results["heads"][-1]
  spec = results["relative_spectra_first_draw"][f"full/h={h_max}"]
  shades = plt.cm.magma(np.linspace(0, 0.85, len(layers)))
  for l, row in enumerate(spec):
    ax.semilogy(np.arange(1, row.shape[0] + 1), np.maximum(row, 1e-18), color=shades[l],
                label=f"layer {l}" if l % 3 == 0 or l == len(layers) - 1 else None)
  for eps in EPSILONS:
    ax.axhline(eps, color="grey", lw=0.5, ls=":")
  ax.set(title=f"spectra of the input to each layer (full blocks, h={h_max}, draw 0)",
         xlabel="index j", ylabel="sigma_j / sigma_1", ylim=(1e-17, 2))
  ax.legend(fontsize=7)


def _plot_mean_token_share(ax, results, layers, colors):
  for variant, style in zip(VARIANTS, _STYLES):
    share = results["mean_token_share"][variant]
    for a, h in enumerate(results["heads"]):
      ax.plot(layers, share[a], style, color=colors[a], label=f"{variant}" if a == 0 else None)
  ax.set(title="share of ||X||_F^2 in the mean token (colour = h)", xlabel="layer",
         ylabel="||mean token||^2 L / ||X||_F^2")
  ax.legend(fontsize=7)


def _compute_with_params(size: str, seed: int):
  return compute(SIZES[size], seed), parameters(SIZES[size])


def main(argv=None) -> int:
  return common.run("depth", __doc__, argv, _compute_with_params, verdicts, plot,
                    lambda results, params: headline(results, params))


if __name__ == "__main__":
  sys.exit(main())
