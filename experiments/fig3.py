"""Figure 3 / Theorem 2: the residual-MLP patch embedding Phi(X) = W3 X + W2 relu(W1 X) maps
k-patches to a subspace whose numerical rank is governed by k, not d.

Command: ``python -m experiments.fig3 [--seed S] [--out DIR] [--full | --smoke] [--model [DIR]]``
Runtime: see the ``wall_time_s`` in figures/fig3.json (every run records its own).
Sizes: default = full: d = 768, d_f = 3072, k in {1, 2, ..., 64}, 2048 patches per k; angle
maps on 128 patches. One synthetic corpus and one network serve every k: the k-patches
are the first k values of fixed 64-value windows and go through the first k input columns of
the same MLP, so the spectra differ only through k.

The paper's Fig. 3 uses pretrained Chronos-Bolt models; here the MLP is at random
initialisation (LeCun normal, no biases -- Theorem 2's form; Bolt's block also has biases and
a 16-value mask input), which is what Theorem 2 covers for any weights.

``--model [DIR]``: the paper's own setting instead, on trained models (figures/fig3_model.*):
Chronos-Bolt trained with patch sizes k in {1, 2, 4, 8, 16} (experiments/sweeps.py k sweep:
the zero-shot recipe's data, d 64, 4 heads, 2+2 layers, context 64, 400 CPU steps each; DIR
is the sweeps' root, runs reused or trained). Each model's input patch embedding (Bolt's
residual MLP with its mask input, on instance-normalised patches) of the same synthetic
corpus; the angle maps use the k = 16 model. Checks (fixed before the runs; kind proxy:
CPU-trained models): claims 2-3 above on the trained models, and stabilisation -- the
eps-rank (eps 1e-2) of each model's embedding moves by <= 10 % over its last 3 checkpoints.
Precondition (experiments/precondition.py, on every model of the sweep): each forecasts
(validation relative WQL against Seasonal Naive <= 1.0) and uses its attention (>= 15 % lost
at rank 1); if one does not, the status is UNINFORMATIVE.

Claims checked:
  1. Theorem 2: |{j : sigma_j(Phi(X)) > eps ||W2||_2 ||W1 X||_2}| <= min(d, (1 + eps^-2) k),
     over the (k, eps) cells where it can fail: the bound is below d and the threshold
     eps ||W2|| ||W1 X|| below sigma_1 (elsewhere the count is 0 or the bound is d whatever
     the spectrum; those cells are counted, not checked). eps in {1, 0.5, 0.3, 0.2, 0.1, 0.05}.
  2. Fig. 3a (proxy: random-init MLP, the paper's Fig. 3 uses trained Chronos-Bolt models):
     the eps-rank of eq. (1) does not decrease as k grows and is larger at k_max than at k = 1
     (eps in {1e-1, 1e-2, 1e-3}).
  3. Fig. 3b (same proxy; sign tests: which of two is smaller): embedded sinusoid patches are
     more aligned (smaller mean angle, eq. 2) than embedded white-noise patches, and the
     embedded noise patches in R^768 are closer (in mean angle) to i.i.d. Gaussian vectors in
     R^16 than to i.i.d. Gaussian vectors in R^768.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import matplotlib.pyplot as plt
import numpy as np

from experiments import common, precondition, sweeps, trained
from lowrank_ts import embeddings, spectral
from lowrank_ts.theory import embedding_bounds

SIZES = {
    "smoke": dict(d=48, d_f=96, ks=(1, 2, 4, 8), n_patches=128, angle_k=8, angle_patches=32),
    "default": dict(d=768, d_f=3072, ks=(1, 2, 4, 8, 16, 32, 64), n_patches=2048, angle_k=16,
                    angle_patches=128),
    "full": dict(d=768, d_f=3072, ks=(1, 2, 4, 8, 16, 32, 64), n_patches=2048, angle_k=16,
                 angle_patches=128),
}
THEOREM2_EPS = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05)
RANK_EPS = (1e-1, 1e-2, 1e-3)
N_SERIES = 64  # series in the synthetic corpus the patches are cut from


def synthetic_corpus(rng: np.random.Generator, n_series: int, length: int) -> np.ndarray:
  """Diverse series (sinusoids, trends, exponentials, random walks, AR(1), white noise) of the
  kind the paper samples patches from, each standardised (Bolt's instance norm): [n, length]."""
  t = np.arange(length, dtype=np.float64)
  out = np.empty((n_series, length))
  for i in range(n_series):
    kind = i % 6
    if kind == 0:
      out[i] = np.sin(2 * np.pi * t / rng.uniform(4, 200) + rng.uniform(0, 2 * np.pi))
    elif kind == 1:
      out[i] = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * t / rng.uniform(4, 200)
                                                + rng.uniform(0, 2 * np.pi)) for _ in range(3))
    elif kind == 2:
      out[i] = np.exp(rng.uniform(-3, 3) * t / length) + 0.05 * rng.standard_normal(length)
    elif kind == 3:
      out[i] = np.cumsum(rng.standard_normal(length))
    elif kind == 4:
      phi, noise = rng.uniform(0.5, 0.99), rng.standard_normal(length)
      out[i, 0] = noise[0]
      for n in range(1, length):
        out[i, n] = phi * out[i, n - 1] + noise[n]
    else:
      out[i] = rng.standard_normal(length)
  out -= out.mean(axis=1, keepdims=True)
  return out / out.std(axis=1, keepdims=True)


def nested_patches(corpus: np.ndarray, k: int, k_max: int) -> np.ndarray:
  """Patch l of each series is x[l k_max : l k_max + k]: the same anchor points for every k, so
  the k-patches are the first k rows of the k_max-patches. Returns [k, n_series * length/k_max]."""
  windows = embeddings.patch_series(corpus.astype(np.float32), k_max)  # [n, k_max, per_series]
  return np.concatenate(list(np.asarray(windows[:, :k, :])), axis=1)


def parameters(size: str) -> dict:
  """The json's ``params``: the sizes of ``size`` and what every k shares."""
  return dict(SIZES[size], theorem2_eps=THEOREM2_EPS, rank_eps=RANK_EPS,
              activation="relu", init="LeCun normal N(0, 1/fan_in), no biases; one network "
              "for all k (first k input columns)", patches="nested: first k of 64-windows",
              n_series=N_SERIES, dtype="float32")


def compute(params: dict, seed: int) -> dict:
  """Theorem 2's counts and eq. (1)'s eps-ranks for every k, and the angle maps (eq. 2)."""
  rng = np.random.default_rng(seed)
  key = jax.random.key(seed)
  # One corpus and one network for every k: patch size k sees the first k values of the same
  # windows, through the first k input columns of the same MLP (rescaled to keep N(0, 1/k)),
  # so the spectra differ only through k.
  k_max = max(params["ks"])
  corpus = synthetic_corpus(rng, N_SERIES, k_max * (params["n_patches"] // N_SERIES))
  network = embeddings.init_residual_mlp(key, k_max, params["d_f"], params["d"])
  per_k = [_patch_size(corpus, network, k, k_max, params["d"]) for k in params["ks"]]
  angles = _angle_maps(rng, key, params)
  return {"per_k": per_k,
          "mean_angles_rad": {name: float(np.nanmean(a)) for name, a in angles.items()},
          # 1e-4 rad (0.006 degrees) is far below what the heatmap shows; keeps the json small
          "angle_maps_rad": {name: np.round(a, 4) for name, a in angles.items()}}


def _patch_size(corpus, network, k, k_max, d):
  """Spectrum of Phi(X) for the k-patches, Theorem 2's counts and bounds, eq. (1)'s ranks."""
  w1_full, w2, w3_full = network
  x_KxL = nested_patches(corpus, k, k_max)
  w1 = w1_full[:, :k] * np.sqrt(k_max / k)
  w3 = w3_full[:, :k] * np.sqrt(k_max / k)
  phi_DxL = embeddings.residual_mlp_embedding(x_KxL, w1, w2, w3)
  s = spectral.singular_values(phi_DxL)
  counts, bounds = [], []
  for eps in THEOREM2_EPS:
    threshold = embedding_bounds.theorem2_threshold(x_KxL, w1, w2, eps)
    counts.append(int(embedding_bounds.count_above(s, threshold)))
    bounds.append(embedding_bounds.theorem2_bound(d, k, eps))
  ranks = [int(spectral.eps_rank_from_singular_values(s, eps)) for eps in RANK_EPS]
  scale = embedding_bounds.theorem2_threshold(x_KxL, w1, w2, 1.0)  # ||W2|| ||W1 X||
  # A cell can fail only if the bound is below d and some sigma_j exceeds the threshold.
  informative = [bool(b < d and eps * float(scale) < float(s[0]))
                 for eps, b in zip(THEOREM2_EPS, bounds)]
  return dict(k=k, singular_values=np.asarray(s), theorem2_counts=counts,
              theorem2_bounds=bounds, theorem2_informative=informative, eps_ranks=ranks,
              sigma1_over_norm_product=float(s[0] / scale))


def _theorem2_excess(per_k, informative_only=True):
  """max over (k, eps) cells of Theorem 2's measured count minus its bound (<= 0: it holds);
  NaN when no cell can fail."""
  excess = [c - b for r in per_k for c, b, ok in zip(r["theorem2_counts"], r["theorem2_bounds"],
                                                     r["theorem2_informative"])
            if ok or not informative_only]
  return max(excess) if excess else float("nan")


PROXY = "random-init residual MLP, not trained Chronos-Bolt"


def verdicts(results: dict, params: dict) -> common.Verdict:
  """Claims 1-3 of the docstring (Theorem 2, Fig. 3a, Fig. 3b)."""
  per_k, means = results["per_k"], results["mean_angles_rad"]
  verdict = common.Verdict()
  cells = [ok for r in per_k for ok in r["theorem2_informative"]]
  verdict.check("theorem2_count_minus_bound_max", _theorem2_excess(per_k), "<=", 0,
                "max over the (k, eps) cells that can fail of measured count - "
                "min(d, (1+eps^-2)k)", "Theorem 2 as stated: the count never exceeds the bound "
                "(integers, no slack)")
  verdict.finding("theorem2_cells", {"informative": sum(cells), "total": len(cells)},
                  f"{sum(cells)} of {len(cells)} (k, eps) cells can fail (bound < d and "
                  "threshold < sigma_1); the others hold whatever the spectrum: sigma_1 / "
                  f"(||W2|| ||W1 X||) is only "
                  f"{max(r['sigma1_over_norm_product'] for r in per_k):.2f}, so eps >= that "
                  "counts 0")
  figure_checks(verdict, per_k, means, "eq. (1) eps-rank", PROXY)
  verdict.finding("mean_angles_deg", {n: float(np.degrees(v)) for n, v in means.items()},
                  "mean angles (deg): " + ", ".join(f"{n} {np.degrees(v):.1f}"
                                                    for n, v in means.items()))
  return verdict


def figure_checks(verdict: common.Verdict, per_k: list, means: dict, rank_name: str,
                  proxy: str) -> None:
  """Fig. 3's four checks, shared by both modes: the eps-rank (``rank_name``) grows with k
  (3a) and the embedded patches' angles (3b)."""
  decreases = sum(int(b["eps_ranks"][e] < a["eps_ranks"][e]) for e in range(len(RANK_EPS))
                  for a, b in zip(per_k, per_k[1:]))
  verdict.check("eps_rank_decreases_with_k", decreases, "<=", 0,
                f"number of (eps, consecutive k) where the {rank_name} decreases",
                "Fig. 3a: the rank grows with k, so no decrease at all (integer ranks)",
                kind="proxy", proxy=proxy)
  growth = min(per_k[-1]["eps_ranks"][e] - per_k[0]["eps_ranks"][e] for e in range(len(RANK_EPS)))
  verdict.check("eps_rank_growth_k_max_over_k1", growth, ">", 0,
                "min over eps of eps-rank at k_max minus at k = 1",
                "Fig. 3a: 'the numerical rank increases with the patch size': strictly larger",
                kind="proxy", proxy=proxy)
  verdict.check("mean_angle_sinusoid_minus_noise", means["sinusoid"] - means["noise"], "<", 0,
                "mean angle (rad) of embedded sinusoid patches minus embedded noise patches",
                "Fig. 3b: sinusoid patches are more aligned than noise: a sign test",
                kind="proxy", proxy=proxy)
  closeness = (abs(means["noise"] - means["gauss_k"]) - abs(means["noise"] - means["gauss_d"]))
  verdict.check("noise_closer_to_gauss_k_than_gauss_d", closeness, "<", 0,
                "|mean angle(embedded noise) - Gaussian R^k| - |... - Gaussian R^d|",
                "Fig. 3b: Phi(noise) looks like the image of R^k, not R^d: nearer of the two "
                "(a sign test)", kind="proxy", proxy=proxy)


def headline(results: dict) -> str:
  per_k, means = results["per_k"], results["mean_angles_rad"]
  k_mid = per_k[min(4, len(per_k) - 1)]
  cells = sum(ok for r in per_k for ok in r["theorem2_informative"])
  return (f"Thm 2 count <= bound on the {cells} informative (k, eps) cells (max excess "
          f"{_theorem2_excess(per_k)}); "
          "eps-rank(1e-2) by k: "
          + ", ".join(f"{r['k']}:{r['eps_ranks'][1]}" for r in per_k)
          + f"; k={k_mid['k']}, eps=0.5: count {k_mid['theorem2_counts'][1]} vs bound "
          f"{k_mid['theorem2_bounds'][1]:.0f}; mean angles (deg) sin "
          f"{np.degrees(means['sinusoid']):.1f}, noise {np.degrees(means['noise']):.1f}, "
          f"G^k {np.degrees(means['gauss_k']):.1f}, G^d {np.degrees(means['gauss_d']):.1f}; "
          f"sigma_1 / (||W2|| ||W1 X||) in "
          f"[{min(r['sigma1_over_norm_product'] for r in per_k):.2f}, "
          f"{max(r['sigma1_over_norm_product'] for r in per_k):.2f}]")


def _angle_maps(rng, key, params):
  """Angles (eq. 2) between embedded patches of a sinusoid and of white noise (k = angle_k),
  and between i.i.d. Gaussian vectors in R^k and R^d (the comparison of Fig. 3b)."""
  k, n, d = params["angle_k"], params["angle_patches"], params["d"]
  w1, w2, w3 = embeddings.init_residual_mlp(jax.random.fold_in(key, 10_000 + k), k,
                                            params["d_f"], d)
  t = np.arange(k * n)
  sinusoid = np.sin(2 * np.pi * t / 37.3).astype(np.float32)  # period not a multiple of k
  noise = rng.standard_normal(k * n).astype(np.float32)
  out = {}
  for name, series in (("sinusoid", sinusoid), ("noise", noise)):
    phi_DxL = embeddings.residual_mlp_embedding(embeddings.patch_series(series, k), w1, w2, w3)
    out[name] = np.asarray(spectral.column_angles(phi_DxL))
  out["gauss_k"] = np.asarray(spectral.column_angles(rng.standard_normal((k, n))))
  out["gauss_d"] = np.asarray(spectral.column_angles(rng.standard_normal((d, n))))
  return out


def plot(results: dict, params: dict):
  """(a) spectra per k; (b) Theorem 2's counts vs bounds; (c) eps-ranks; bottom: angle maps."""
  per_k = results["per_k"]
  fig = plt.figure(figsize=(17, 8.5))
  grid = fig.add_gridspec(2, 4, height_ratios=[1.1, 1], hspace=0.35, wspace=0.35)
  _plot_spectra(fig.add_subplot(grid[0, :2]), per_k, params)
  _plot_theorem2(fig.add_subplot(grid[0, 2]), per_k, params)
  _plot_ranks(fig.add_subplot(grid[0, 3]), per_k, params)
  plot_angle_maps(fig, grid, results, params)
  return fig


def _plot_spectra(ax, per_k, params):
  colors = plt.cm.viridis(np.linspace(0, 0.9, len(per_k)))
  for r, color in zip(per_k, colors):
    s = r["singular_values"]
    ax.loglog(np.arange(1, len(s) + 1), s / s[0], color=color, label=f"k = {r['k']}")
  for eps in RANK_EPS:
    ax.axhline(eps, color="gray", ls=":", lw=0.8)
  ax.set_ylim(1e-7, 1.5)
  ax.set_xlabel("index j")
  ax.set_ylabel("σ_j(Φ(X)) / σ_1")
  ax.set_title(f"(a) Singular values, random-init residual MLP "
               f"(d={params['d']}, d_f={params['d_f']}, {params['n_patches']} patches)",
               fontsize=10)
  ax.legend(ncol=2, fontsize=8)


def _plot_theorem2(ax, per_k, params):
  ks = np.array([r["k"] for r in per_k])
  eps_colors = plt.cm.autumn(np.linspace(0, 0.8, len(THEOREM2_EPS)))
  for e, (eps, color) in enumerate(zip(THEOREM2_EPS, eps_colors)):
    ax.plot(ks, [r["theorem2_counts"][e] for r in per_k], "o-", color=color,
            label=f"measured, ε={eps}")
    ax.plot(ks, [r["theorem2_bounds"][e] for r in per_k], "--", color=color,
            label=f"bound, ε={eps}")
  ax.axhline(params["d"], color="k", lw=0.8, ls=":")
  ax.set_xscale("log", base=2)
  ax.set_yscale("symlog", linthresh=1)  # counts of 0 stay visible
  ax.set_ylim(0, 1.5 * params["d"])
  ax.set_xlabel("patch size k")
  ax.set_ylabel("|{j : σ_j > ε‖W₂‖₂‖W₁X‖₂}|")
  ax.set_title("(b) Theorem 2: count vs min(d, (1+ε⁻²)k)", fontsize=10)
  ax.legend(fontsize=6.5, ncol=2)


def _plot_ranks(ax, per_k, params):
  ks = np.array([r["k"] for r in per_k])
  rank_colors = plt.cm.cool(np.linspace(0, 0.9, len(RANK_EPS)))
  for e, (eps, color) in enumerate(zip(RANK_EPS, rank_colors)):
    ax.loglog(ks, [r["eps_ranks"][e] for r in per_k], "s-", color=color, label=f"ε = {eps:g}")
  ax.loglog(ks, ks, "k--", lw=0.8, label="= k")
  ax.axhline(params["d"], color="k", lw=0.8, ls=":")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("patch size k")
  ax.set_ylabel("rank_ε(Φ(X)), eq. (1)")
  ax.set_title("(c) numerical rank grows with k", fontsize=10)
  ax.legend(fontsize=7)


def plot_angle_maps(fig, grid, results, params):
  """Fig. 3b: the angle maps (stored to 1e-4 rad) of the bottom row."""
  angles, means = results["angle_maps_rad"], results["mean_angles_rad"]
  titles = {"sinusoid": f"Φ(sinusoid patches) ⊂ R^{params['d']}",
            "noise": f"Φ(white-noise patches) ⊂ R^{params['d']}",
            "gauss_k": f"i.i.d. Gaussian in R^{params['angle_k']}",
            "gauss_d": f"i.i.d. Gaussian in R^{params['d']}"}
  for i, name in enumerate(("sinusoid", "noise", "gauss_k", "gauss_d")):
    ax = fig.add_subplot(grid[1, i])
    image = ax.imshow(angles[name], vmin=0, vmax=np.pi / 2, cmap="inferno")
    ax.set_title(f"{titles[name]}\nmean {np.degrees(means[name]):.1f}°", fontsize=9)
    ax.set_xlabel("patch j")
    if i == 0:
      ax.set_ylabel("patch i")
  fig.colorbar(image, ax=fig.axes[-4:], label="angle θ (rad), eq. (2)", fraction=0.02)


# -- the --model mode: trained Chronos-Bolt models (figures/fig3_model.*) ------------------
PROXY_TRAINED = "d-64 Chronos-Bolt trained 400 CPU steps per patch size"
MODEL_SIZES = {"smoke": dict(n_series=12, length=256, angle_patches=16),
               "default": dict(n_series=N_SERIES, length=1024, angle_patches=128)}


def trained_embedding(model, corpus: np.ndarray) -> np.ndarray:
  """Bolt's input patch embedding of every whole k-patch of each series: ``[d, patches]``."""
  return trained.bolt_patch_embedding(model, [row.astype(np.float32) for row in corpus])


def compute_trained(size: str, seed: int, root: str):
  """Per k: the spectrum and eq. (1) eps-ranks of the trained embedding at every checkpoint;
  the angle maps of the largest-k model."""
  if size == "full":
    raise ValueError("--full: the paper's Chronos-Bolt base models need accelerators; the "
                     "configs are experiments.sweeps.FULL (not run here)")
  p = MODEL_SIZES[size]
  rng = np.random.default_rng(seed)
  corpus = synthetic_corpus(rng, p["n_series"], p["length"])
  per_k, last_model, workdirs = [], None, {}
  for run in sweeps.k_sweep(size):
    workdir = workdirs[run.name] = sweeps.ensure_trained(run, root)
    history = []
    for step, model in sweeps.checkpoint_models(workdir):
      s = spectral.singular_values(trained_embedding(model, corpus))
      history.append(dict(step=step, eps_ranks=[int(spectral.eps_rank_from_singular_values(
          s, eps)) for eps in RANK_EPS], singular_values=np.asarray(s)))
    per_k.append(dict(k=run.value, run=run.name, eps_ranks=history[-1]["eps_ranks"],
                      singular_values=history[-1]["singular_values"],
                      history=[dict(step=h["step"], eps_ranks=h["eps_ranks"]) for h in history]))
    last_model = model
  k = per_k[-1]["k"]
  t = np.arange(k * p["angle_patches"])
  sinusoid = np.sin(2 * np.pi * t / 37.3).astype(np.float32)  # period not a multiple of k
  noise = rng.standard_normal(k * p["angle_patches"]).astype(np.float32)
  angles = {name: np.asarray(spectral.column_angles(trained_embedding(last_model, series[None])))
            for name, series in (("sinusoid", sinusoid), ("noise", noise))}
  d = last_model.config.t5.d_model
  for name, dim in (("gauss_k", k), ("gauss_d", d)):
    gaussian = rng.standard_normal((dim, p["angle_patches"]))
    angles[name] = np.asarray(spectral.column_angles(gaussian))
  params = dict(p, root=root, rank_eps=RANK_EPS, d=d, angle_k=k,
                runs={r["run"]: r["history"][-1]["step"] for r in per_k},
                model="Chronos-Bolt k sweep (experiments.sweeps.k_sweep)")
  return ({"per_k": per_k,
           "mean_angles_rad": {name: float(np.nanmean(a)) for name, a in angles.items()},
           "angle_maps_rad": {name: np.round(a, 4) for name, a in angles.items()},
           "precondition": precondition.measure_workdirs(workdirs, size, seed)}, params)


def verdicts_trained(results: dict, params: dict) -> common.Verdict:
  per_k, means = results["per_k"], results["mean_angles_rad"]
  verdict = common.Verdict()
  figure_checks(verdict, per_k, means, "trained embedding's eps-rank", PROXY_TRAINED)
  e = RANK_EPS.index(1e-2)
  changes = {r["run"]: sweeps.relative_change_last([h["eps_ranks"][e] for h in r["history"]])
             for r in per_k}
  worst = max(changes, key=changes.get)
  verdict.check("k_sweep_stabilised", changes[worst], "<=", sweeps.STABLE_TOLERANCE,
                f"max over runs of the relative change of the embedding's eps-rank (eps 1e-2) "
                f"over the last {sweeps.STABLE_LAST} checkpoints (worst: {worst})",
                "a conclusion needs a statistic that has settled; 10 % is the most a "
                "settled rank may still move", kind="proxy", proxy=PROXY_TRAINED)
  verdict.finding("relative_change_last", changes, "relative change over the last "
                  "checkpoints: " + ", ".join(f"{k} {v:.3f}" for k, v in changes.items()))
  verdict.finding("mean_angles_deg", {n: float(np.degrees(v)) for n, v in means.items()},
                  "mean angles (deg): " + ", ".join(f"{n} {np.degrees(v):.1f}"
                                                    for n, v in means.items()))
  precondition.record_all(verdict, results["precondition"])
  return verdict


def headline_trained(results: dict, params: dict) -> str:
  means = results["mean_angles_rad"]
  return ("trained Bolt embedding eps-rank (1e-1/1e-2/1e-3) by k: "
          + ", ".join(f"{r['k']}:{'/'.join(map(str, r['eps_ranks']))}" for r in results["per_k"])
          + f"; mean angles (deg) sin {np.degrees(means['sinusoid']):.1f}, noise "
          f"{np.degrees(means['noise']):.1f}, G^k {np.degrees(means['gauss_k']):.1f}, G^d "
          f"{np.degrees(means['gauss_d']):.1f}")


def plot_trained(results: dict, params: dict):
  per_k = results["per_k"]
  fig = plt.figure(figsize=(17, 8.5))
  grid = fig.add_gridspec(2, 4, height_ratios=[1.1, 1], hspace=0.35, wspace=0.35)
  ax = fig.add_subplot(grid[0, :2])
  colors = plt.cm.viridis(np.linspace(0, 0.9, len(per_k)))
  for r, color in zip(per_k, colors):
    s = np.asarray(r["singular_values"])
    ax.semilogy(np.arange(1, len(s) + 1), s / s[0], color=color, label=f"k = {r['k']}")
  for eps in RANK_EPS:
    ax.axhline(eps, color="gray", ls=":", lw=0.8)
  ax.set_xlabel("index j")
  ax.set_ylabel("σ_j(Φ(X)) / σ_1")
  ax.set_title(f"(a) trained Chronos-Bolt patch embeddings (d={params['d']}, CPU proxies)",
               fontsize=10)
  ax.legend(fontsize=8)
  ax = fig.add_subplot(grid[0, 2])
  ks = [r["k"] for r in per_k]
  for e, eps in enumerate(RANK_EPS):
    ax.plot(ks, [r["eps_ranks"][e] for r in per_k], "s-", label=f"ε = {eps:g}")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("patch size k")
  ax.set_ylabel("rank_ε(Φ(X))")
  ax.set_title("(c) numerical rank vs k", fontsize=10)
  ax.legend(fontsize=7)
  ax = fig.add_subplot(grid[0, 3])
  e = RANK_EPS.index(1e-2)
  for r, color in zip(per_k, colors):
    ax.plot([h["step"] for h in r["history"]], [h["eps_ranks"][e] for h in r["history"]], "o-",
            ms=3, color=color, label=f"k = {r['k']}")
  ax.set_xlabel("training step")
  ax.set_ylabel("rank_ε (ε = 1e-2)")
  ax.set_title("over training (stabilisation)", fontsize=10)
  plot_angle_maps(fig, grid, results, params)
  return fig


def _compute_with_params(size: str, seed: int):
  params = parameters(size)
  return compute(params, seed), params


def main(argv=None) -> int:
  extra = argparse.ArgumentParser(add_help=False)
  extra.add_argument("--model", nargs="?", const="", default=None,
                     help="trained Chronos-Bolt k sweep (its root; default runs/sweeps/SIZE)")
  known, rest = extra.parse_known_args(argv)
  if known.model is None:
    return common.run("fig3", __doc__, rest, _compute_with_params, verdicts, plot,
                      lambda results, params: headline(results))
  args = common.parse_args(__doc__, rest)
  args.argv = list(sys.argv[1:] if argv is None else argv)
  root = known.model or f"{sweeps.DEFAULT_ROOT}/{args.size}"
  start = time.time()
  results, params = compute_trained(args.size, args.seed, root)
  verdict = verdicts_trained(results, params)
  return common.finish("fig3_model", args, plot_trained(results, params), results, params,
                       verdict, start, headline_trained(results, params), script="fig3")


if __name__ == "__main__":
  sys.exit(main())
