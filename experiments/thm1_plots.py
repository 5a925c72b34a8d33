"""The panels of Theorem 1 / Corollary 2's figure (``python -m experiments.thm1``): spectra
against Theorem 1.1 / 1.2's bounds, Corollary 2 (Time-MoE), the decay rates, erratum 2
(|w_i| > 1) and Corollary 2's O() constant."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lowrank_ts.theory import embedding_bounds as bounds


def plot(results: dict, p: dict):
  """Panels (a)-(c): spectra against the bounds; (d) decay rates; (e), (f) Corollary 2."""
  fig, axes = plt.subplots(2, 3, figsize=(17, 10))
  fig.subplots_adjust(hspace=0.32, wspace=0.28)
  _plot_smooth(axes[0, 0], results["smooth"], p)
  _plot_analytic(axes[0, 1], results["analytic"], p)
  _plot_time_moe(axes[0, 2], results["time_moe"], p)
  _plot_rates(axes[1, 0], results)
  _plot_erratum(axes[1, 1], results["erratum"])
  _plot_constant(axes[1, 2], results["time_moe"], p)
  return fig


def _moe_colors(moe):
  return plt.cm.plasma(np.linspace(0, 0.85, len(moe)))


def _plot_smooth(ax, smooth, p):
  colors = plt.cm.viridis(np.linspace(0, 0.8, len(smooth)))
  for r, color in zip(smooth, colors):
    idx = np.arange(1, len(r["sigma"]))  # sigma_{j+1} at j
    ax.loglog(idx, r["sigma"][1:], color=color, label=f"σ_(j+1)(Ψ), ν={r['nu']}")
    ax.loglog(r["j"], r["sigma_bound"], "--", color=color, label=f"Thm 1.1 bound, ν={r['nu']}")
    ax.loglog(idx, r["s"][1:], ":", color=color, lw=1)
  ax.axhline(max(r["floor"] for r in smooth), color="gray", lw=0.8, ls="-.",
             label="rounding floor")
  ax.set_xlabel("j")
  ax.set_ylabel("singular value")
  ax.set_title(f"(a) ν-smooth φ_i = a_i(x−c_i)₊^ν/ν!, d={p['d']}, L={p['L']}\n"
               "solid σ_(j+1)(Ψ), dashed bound, dotted s_(j+1)(Ξ)", fontsize=9.5)
  ax.legend(fontsize=7, ncol=2)


def _plot_analytic(ax, analytic, p):
  idx = np.arange(1, p["d"])
  ax.semilogy(idx, analytic["sigma"][1:], "C0", label="σ_(j+1)(Ψ)")
  ax.semilogy(analytic["j"], analytic["sigma_bound"], "C0--", label="Thm 1.2 bound, best ρ")
  ax.semilogy(idx, analytic["s"][1:], "C1", lw=1, label="s_(j+1)(Ξ) (quadrature)")
  ax.semilogy(analytic["j"], analytic["s_bound"], "C1--", lw=1, label="Thm 1.2 s-bound")
  ax.semilogy(idx, analytic["sigma"][1] * analytic["rho_star"] ** -(idx - 1.0), "k:", lw=1,
              label=f"slope ρ*^(-j), ρ*={analytic['rho_star']:.2f}")
  ax.axhline(analytic["floor"], color="gray", lw=0.8, ls="-.", label="rounding floor")
  ax.set_ylim(analytic["floor"] * 1e-3, analytic["sigma"][0] * 10)
  ax.set_xlabel("j")
  ax.set_ylabel("singular value")
  ax.set_title("(b) analytic: Cauchy kernels a/(z−x), |z| ≥ 1.25,\nand exponentials a·e^(bx)",
               fontsize=9.5)
  ax.legend(fontsize=7)


def _plot_time_moe(ax, moe, p):
  d = p["d"]
  idx = np.arange(1, d)
  for r, color in zip(moe, _moe_colors(moe)):
    ax.semilogy(idx, r["sigma"][1:], color=color, label=f"σ_(j+1), β={r['beta']}")
    ax.semilogy(np.arange(d), r["bound"], "--", color=color, lw=1)
  ax.axhline(max(r["floor"] for r in moe), color="gray", lw=0.8, ls="-.", label="rounding floor")
  ax.set_ylim(max(r["floor"] for r in moe) * 1e-3, max(r["sigma"][0] for r in moe) * 1e3)
  ax.set_xlim(0, 40)
  ax.set_xlabel("j")
  ax.set_ylabel("singular value")
  ax.set_title("(c) Time-MoE φ_i = swish_β(w_i x)(v_i x), |w_i|, |v_i| ≤ 1\n"
               "solid σ_(j+1)(Ψ), dashed Cor. 2 bound (proven constant)", fontsize=9.5)
  ax.legend(fontsize=7)


def _plot_rates(ax, results):
  smooth, analytic, moe = results["smooth"], results["analytic"], results["time_moe"]
  names = ([f"ν={r['nu']}" for r in smooth] + ["analytic"] + [f"β={r['beta']}" for r in moe])
  predicted = ([r["predicted_rate"] for r in smooth] + [analytic["predicted_rate"]]
               + [r["predicted_rate"] for r in moe])
  measured = ([r["measured_rate"] for r in smooth] + [analytic["measured_rate"]]
              + [r["measured_rate"] for r in moe])
  pos = np.arange(len(names))
  ax.bar(pos - 0.2, predicted, 0.4, label="predicted (bound's rate)")
  ax.bar(pos + 0.2, measured, 0.4, label="measured (least-squares fit)")
  ax.set_xticks(pos, names, rotation=30, fontsize=8)
  ax.set_yscale("log")
  ax.set_ylabel("decay rate: p in j^(-p) (ν) / log ρ in ρ^(-j)")
  ax.set_title("(d) decay rates: measured ≥ predicted", fontsize=9.5)
  ax.legend(fontsize=8)


def _plot_erratum(ax, erratum):
  ws = [r["w_max"] for r in erratum]
  ax.loglog(ws, [r["max_ratio_to_paper_form"] for r in erratum], "o-",
            label="max_j σ_(j+1) / [√(dL)(β+1/β)(1+π/2β)^(−j+1)]")
  ax.loglog(ws, [r["corrected_ratio"] for r in erratum], "s-",
            label="max_j σ_(j+1) / corrected bound (β·max|w|)")
  ax.axhline(bounds.COROLLARY2_CONSTANT, color="k", ls="--", lw=1, label="π + 2")
  ax.set_xlabel("max |w_i|  (|w_i v_i| = 1, β = 1)")
  ax.set_ylabel("ratio")
  ax.set_title("(e) |w_i| > 1 (outside the proof): ratio to the paper's form grows\n"
               "with max|w_i|; the corrected bound (β·max|w_i|) holds", fontsize=9.5)
  ax.legend(fontsize=7)


def _plot_constant(ax, moe, p):
  d, L = p["d"], p["L"]
  j = np.arange(d)
  for r, color in zip(moe, _moe_colors(moe)):
    ax.semilogy(j, r["bound"] / bounds.corollary2_paper_form(r["beta"], d, L, j), color=color,
                label=f"β={r['beta']}")
  ax.axhline(bounds.COROLLARY2_CONSTANT, color="k", ls="--", lw=1, label="π + 2")
  ax.set_xlabel("j")
  ax.set_ylabel("Cor. 2 bound / paper's O() expression")
  ax.set_title("(f) the O() constant: proven bound ≤ (π+2)·paper form", fontsize=9.5)
  ax.legend(fontsize=7)
