"""Theorem 1 and Corollary 2: singular values of Psi = (phi_i(x_l)) [d x L] for smooth,
analytic and Time-MoE embeddings of [-1, 1], against the bounds; measured vs predicted decay.

Command: ``python -m experiments.thm1 [--seed S] [--out DIR] [--full | --smoke]``
Runtime: see the ``wall_time_s`` in figures/thm1.json (every run records its own).
Sizes: default d = 128, L = 2048 random points, 2048 quadrature nodes for the quasimatrix;
``--full`` d = 256, L = 4096, 4096 nodes. The paper has no figure for Theorem 1; sizes are ours.

All singular values are float64. A computed sigma_j is only meaningful above the rounding
floor sigma_1 max(d, L) eps, so each bound is checked as sigma_hat_{j+1} <= bound_j + floor.
The bounds' constants put them orders of magnitude above every spectrum here (finding
``bound_slack``), so the bound checks are recorded as "by construction" (implementation
self-checks, not evidence); the measured decay rates are the claims.

Claims checked:
  1. Theorem 1.1 (nu-smooth; phi_i = a_i (x - c_i)_+^nu / nu!, phi_i^(nu) of variation |a_i|):
     sigma_{j+1} <= 2V sqrt(dL) / (pi nu (j-1-nu)^nu) and s_{j+1} <= 4V sqrt(d) / (...) for
     nu + 1 < j <= d - 1, nu in {1, 2, 3}; measured algebraic decay rate >= nu.
  2. Theorem 1.2 (analytic; Cauchy kernels a/(z - x), real poles |z| >= 1.25, and a e^{bx}):
     sigma_{j+1} <= 2M sqrt(dL) rho^{-j+1} / (rho - 1) and the s-version, for 0 <= j <= d-1,
     with M(rho) the exact sup on E_rho, minimised over a grid of valid rho < rho*; measured
     geometric rate >= log rho* (rho* >= 2: the ellipse through the nearest pole).
  3. Corollary 2 (Time-MoE, phi_i = swish_beta(w_i x)(v_i x), |w_i|, |w_i v_i| <= 1) with the
     proven constant: sigma_{j+1} <= (4 beta/pi) a^2 sqrt(dL) rho^{-j+1}, rho = 1 + pi/(2 beta),
     a = (rho + 1/rho)/2 (<= (pi+2) sqrt(dL)(beta+1/beta) rho^{-j+1}); measured rate >= log rho.
  5. Theorem 1 over its range (any d, L >= 1, any points): both bounds (nu = 1, the slowest
     algebraic decay, and the analytic family) at L < d, L = d and L >> d, with sqrt(dL)
     varying over two orders of magnitude (``ranges``); the sqrt(dL) factor is the one the
     bound states, so sigma_1 / sqrt(dL) across the sizes is recorded as a finding.
  4. Corollary 2 beyond |w_i| <= 1 (erratum: the paper's closed form drops w_i from the
     exponent, and its proof needs |w_i| <= 1): with rho = 1 + pi/(2 beta max|w_i|) the bound
     holds (checked for max|w_i| up to 1e6, points clustered at 0). Recorded, not claimed: the
     ratio of sigma_{j+1} to the paper's O() expression grows with max|w_i| (evidence, limited
     by float64, that no universal constant exists without |w_i| <= 1).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from experiments import common
from experiments.thm1_plots import plot
from lowrank_ts import embeddings, spectral
from lowrank_ts.theory import embedding_bounds as bounds

# ranges: (d, L) pairs for claim 5: L < d, L = d, L >> d; sqrt(dL) from 32 to 1024 (default)
SIZES = {
    "smoke": dict(d=24, L=96, n_nodes=256, nus=(1, 2), betas=(0.5, 2.0), w_maxes=(1.0, 1e2),
                  ranges=((24, 12), (24, 24), (8, 512))),
    "default": dict(d=128, L=2048, n_nodes=2048, nus=(1, 2, 3), betas=(0.25, 0.5, 1.0, 2.0, 4.0),
                    w_maxes=(1.0, 1e1, 1e2, 1e3, 1e4, 1e6),
                    ranges=((128, 32), (128, 128), (32, 32), (16, 8192), (64, 16384))),
    "full": dict(d=256, L=4096, n_nodes=4096, nus=(1, 2, 3), betas=(0.25, 0.5, 1.0, 2.0, 4.0),
                 w_maxes=(1.0, 1e1, 1e2, 1e3, 1e4, 1e6),
                 ranges=((256, 16), (256, 256), (32, 32), (16, 16384), (256, 32768))),
}
POLE_MIN = 1.25  # nearest pole of the analytic family: rho* = 1.25 + sqrt(1.25^2 - 1) = 2
RATE_SLACK = 1.0  # claims: measured rate >= RATE_SLACK * predicted rate (no slack)
# Why each threshold (one line each; pinned in tests/test_experiments_thresholds.py):
# The bounds' constants leave them orders of magnitude above these spectra (finding
# bound_slack), so a bound check can fail only through an implementation error: by
# construction, recorded but not evidence. The decay rates are the evidence.
BOUND_REASON = ("the theorem's bound with its own constant, no slack (the rounding floor is "
                "added to the bound: a computed sigma below it has no digits); by construction: "
                "the bound is orders of magnitude above the spectrum")
RATE_REASON = ("the bound decays at this rate, so a spectrum obeying it for every j decays "
               "at least as fast: measured - predicted >= 0, no slack")


def _sigma(psi):
  with spectral.float64():
    return np.asarray(spectral.singular_values(np.asarray(psi, np.float64)))


def _measure(phi, x, d, L, n_nodes):
  """sigma_j(Psi), s_j(Xi) (quadrature) and the rounding floor of sigma."""
  sigma = _sigma(phi(x))
  s = bounds.quasimatrix_singular_values(phi, n_nodes)
  return sigma, s, bounds.rounding_floor(sigma[0], d, L), bounds.rounding_floor(s[0], d, n_nodes)


def _ratio(measured, floor, bound, j):
  """max_j (measured_{j+1} - floor) / bound_j: <= 1 means the bound holds."""
  j = j[j < len(measured)]
  return float(np.max((measured[j] - floor) / bound[: len(j)]))


def smooth_section(rng, x, p):
  d, L = p["d"], p["L"]
  out = []
  for nu in p["nus"]:
    a, c = rng.uniform(-1, 1, d), rng.uniform(-0.9, 0.9, d)
    phi = lambda t, a=a, c=c, nu=nu: (a[:, None] * np.maximum(t[None, :] - c[:, None], 0) ** nu
                                      / math.factorial(nu))
    V = float(np.abs(a).max())  # total variation of phi_i^(nu) = |a_i| H(x - c_i)
    sigma, s, floor, floor_s = _measure(phi, x, d, L, p["n_nodes"])
    j = np.arange(nu + 2, d)
    sigma_bound = bounds.theorem1_sigma_bound_smooth(V, nu, d, L, j)
    s_bound = bounds.theorem1_s_bound_smooth(V, nu, d, j)
    out.append(dict(nu=nu, V=V, j=j, sigma=sigma, s=s, floor=floor, sigma_bound=sigma_bound,
                    s_bound=s_bound, sigma_ratio=_ratio(sigma, floor, sigma_bound, j),
                    s_ratio=_ratio(s, floor_s, s_bound, j), predicted_rate=float(nu),
                    measured_rate=bounds.fitted_decay_rate(sigma, floor, True, nu + 2)))
  return out


def _analytic_family(rng, d):
  """Cauchy kernels a/(z - x) (real poles |z| in [POLE_MIN, 3]) and exponentials a e^{bx}:
  phi, the exact sup on the Bernstein ellipse E_rho, and rho*."""
  n_cauchy = d // 2
  a = rng.uniform(-1, 1, d)
  z = rng.choice([-1, 1], n_cauchy) * rng.uniform(POLE_MIN, 3.0, n_cauchy)
  b = rng.uniform(-3, 3, d - n_cauchy)

  def phi(t):
    return np.concatenate([a[:n_cauchy, None] / (z[:, None] - t[None, :]),
                           a[n_cauchy:, None] * np.exp(b[:, None] * t[None, :])])

  def sup_on_ellipse(rho):  # exact: nearest ellipse point to a real pole is the vertex
    semi_major = (rho + 1 / rho) / 2
    return max(np.max(np.abs(a[:n_cauchy]) / (np.abs(z) - semi_major)),
               np.max(np.abs(a[n_cauchy:]) * np.exp(np.abs(b) * semi_major)))

  return phi, sup_on_ellipse, float(np.min(bounds.bernstein_parameter(z)))


def _analytic_sigma_bound(sup_on_ellipse, rhos, d, L, j):
  """Theorem 1.2's sigma-bound minimised over the grid ``rhos`` of valid rho < rho*."""
  return np.min([bounds.theorem1_sigma_bound_analytic(sup_on_ellipse(r), r, d, L, j)
                 for r in rhos], axis=0)


def analytic_section(rng, x, p):
  d, L = p["d"], p["L"]
  phi, sup_on_ellipse, rho_star = _analytic_family(rng, d)
  rhos = 1 + (rho_star - 1) * np.linspace(0.02, 0.98, 49)
  sigma, s, floor, floor_s = _measure(phi, x, d, L, p["n_nodes"])
  j = np.arange(d)
  sigma_bound = _analytic_sigma_bound(sup_on_ellipse, rhos, d, L, j)
  s_bound = np.min([bounds.theorem1_s_bound_analytic(sup_on_ellipse(r), r, d, j) for r in rhos],
                   axis=0)
  # the sampled sup agrees with the closed form (a check on bernstein_ellipse_max)
  m_check = bounds.bernstein_ellipse_max(phi, float(rhos[24])) / sup_on_ellipse(rhos[24])
  return dict(rho_star=rho_star, rhos=rhos, j=j, sigma=sigma, s=s, floor=floor,
              sigma_bound=sigma_bound, s_bound=s_bound,
              sigma_ratio=_ratio(sigma, floor, sigma_bound, j),
              s_ratio=_ratio(s, floor_s, s_bound, j), sampled_over_exact_M=m_check,
              predicted_rate=math.log(rho_star),
              measured_rate=bounds.fitted_decay_rate(sigma, floor, False, 1))


def range_section(rng, p):
  """Claim 5: Theorem 1.1 (nu = 1) and 1.2 at every (d, L) of ``p['ranges']``, fresh random
  points and functions for each size."""
  # numpy's LAPACK SVD (float64): one jit compilation per shape would dominate the runtime
  sv = lambda m: np.linalg.svd(m, compute_uv=False)
  out = []
  for d, L in p["ranges"]:
    x = rng.uniform(-1, 1, L)
    a, c = rng.uniform(-1, 1, d), rng.uniform(-0.9, 0.9, d)
    smooth = sv(a[:, None] * np.maximum(x[None, :] - c[:, None], 0))
    j_s = np.arange(3, d)  # nu = 1: nu + 1 < j <= d - 1
    smooth_bound = bounds.theorem1_sigma_bound_smooth(float(np.abs(a).max()), 1, d, L, j_s)
    floor_s = bounds.rounding_floor(smooth[0], d, L)
    phi, sup_on_ellipse, rho_star = _analytic_family(rng, d)
    analytic = sv(phi(x))
    j_a = np.arange(d)
    rhos = 1 + (rho_star - 1) * np.linspace(0.02, 0.98, 49)
    analytic_bound = _analytic_sigma_bound(sup_on_ellipse, rhos, d, L, j_a)
    floor_a = bounds.rounding_floor(analytic[0], d, L)
    out.append(dict(d=d, L=L, sqrt_dL=float(np.sqrt(d * L)),
                    smooth_ratio=_ratio(smooth, floor_s, smooth_bound, j_s),
                    analytic_ratio=_ratio(analytic, floor_a, analytic_bound, j_a),
                    smooth_sigma1_over_sqrt_dL=float(smooth[0] / np.sqrt(d * L)),
                    analytic_sigma1_over_sqrt_dL=float(analytic[0] / np.sqrt(d * L))))
  return out


def time_moe_section(rng, x, p):
  d, L = p["d"], p["L"]
  out = []
  j = np.arange(d)
  for beta in p["betas"]:
    w, v = rng.uniform(-1, 1, d), rng.uniform(-1, 1, d)
    with spectral.float64():
      sigma = _sigma(embeddings.time_moe_embedding(x, w, v, beta))
    floor = bounds.rounding_floor(sigma[0], d, L)
    bound = bounds.corollary2_bound(beta, d, L, j)
    paper = bounds.corollary2_paper_form(beta, d, L, j)
    out.append(dict(beta=beta, sigma=sigma, floor=floor, bound=bound,
                    ratio=_ratio(sigma, floor, bound, j),
                    bound_over_paper_form=float(np.max(bound / paper)),
                    predicted_rate=math.log(bounds.corollary2_rho(beta)),
                    pole_rate=math.log(float(bounds.bernstein_parameter(1j * math.pi / beta))),
                    measured_rate=bounds.fitted_decay_rate(sigma, floor, False, 1)))
  return out


def erratum_section(rng, p, beta=1.0):
  """Corollary 2 with |w_i| up to W: points clustered at 0 (Theorem 1 allows any points) where
  swish_beta(w x) turns over on the scale 1/(beta W)."""
  d, L = p["d"], p["L"]
  u = np.linspace(0, 8, L // 2)
  x = np.concatenate([10.0 ** -u, -(10.0 ** -u)])
  j = np.arange(d)
  out = []
  for w_max in p["w_maxes"]:
    if w_max > 1:
      w = np.exp(rng.uniform(0, np.log(w_max), d)) * rng.choice([-1, 1], d)
      v = 1 / w  # |w v| = 1
    else:
      w, v = rng.uniform(-1, 1, d), rng.uniform(-1, 1, d)
    with spectral.float64():
      sigma = _sigma(embeddings.time_moe_embedding(x, w, v, beta))
    floor = bounds.rounding_floor(sigma[0], d, len(x))
    corrected = bounds.corollary2_bound(beta, d, len(x), j, w_max=max(1.0, w_max))
    paper = bounds.corollary2_paper_form(beta, d, len(x), j)
    above = sigma > 1e3 * floor  # well above rounding noise
    out.append(dict(w_max=w_max, sigma=sigma, floor=floor,
                    corrected_ratio=_ratio(sigma, floor, corrected, j),
                    max_ratio_to_paper_form=float(np.max(sigma[above] / paper[above])),
                    n_above_floor=int(above.sum()),
                    pole_rho=float(bounds.bernstein_parameter(1j * math.pi / (beta * w_max))),
                    paper_rho=bounds.corollary2_rho(beta)))
  return out


def parameters(size: str) -> dict:
  """The json's ``params``: the sizes of ``size`` and what the sections hold fixed."""
  return dict(SIZES[size], pole_min=POLE_MIN, points="uniform random in [-1, 1]",
              dtype="float64")


def compute(p: dict, seed: int) -> dict:
  """Every section on one rng stream (the order of the calls fixes the draws)."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1, 1, p["L"])
  smooth = smooth_section(rng, x, p)
  analytic = analytic_section(rng, x, p)
  moe = time_moe_section(rng, x, p)
  erratum = erratum_section(rng, p)
  ranges = range_section(rng, p)
  return dict(smooth=smooth, analytic=analytic, time_moe=moe, erratum=erratum, ranges=ranges,
              corollary2_constant=bounds.COROLLARY2_CONSTANT)


def verdicts(results: dict, p: dict) -> common.Verdict:
  """Claims 1-5 of the docstring (Theorem 1.1, Theorem 1.2, Corollary 2 and its erratum,
  Theorem 1 over its range)."""
  smooth, analytic = results["smooth"], results["analytic"]
  moe, erratum, ranges = results["time_moe"], results["erratum"], results["ranges"]
  verdict = common.Verdict()

  def bound(name, ratio, description, reason=BOUND_REASON):
    verdict.check(name, ratio, "<=", 1, description, reason, kind="construction")
  bound("thm1_smooth_sigma_ratio_max", max(r["sigma_ratio"] for r in smooth),
        "max over nu, j of (sigma_{j+1} - floor) / Theorem 1.1 bound")
  bound("thm1_smooth_s_ratio_max", max(r["s_ratio"] for r in smooth),
        "max over nu, j of (s_{j+1} - floor) / Theorem 1.1 quasimatrix bound")
  verdict.check("thm1_smooth_rate_margin", min(r["measured_rate"] - RATE_SLACK * r["nu"]
                                               for r in smooth), ">=", 0,
                "min over nu of measured algebraic decay rate - nu", RATE_REASON)
  bound("thm1_analytic_sigma_ratio", analytic["sigma_ratio"],
        "max over j of (sigma_{j+1} - floor) / Theorem 1.2 bound (best rho < rho*)")
  bound("thm1_analytic_s_ratio", analytic["s_ratio"],
        "max over j of (s_{j+1} - floor) / Theorem 1.2 quasimatrix bound")
  verdict.check("thm1_analytic_rate_margin",
                analytic["measured_rate"] - RATE_SLACK * analytic["predicted_rate"], ">=", 0,
                "measured geometric decay rate - log rho*", RATE_REASON)
  bound("thm1_range_smooth_ratio_max", max(r["smooth_ratio"] for r in ranges),
        "max over (d, L) in L<d, L=d, L>>d and j of (sigma_{j+1} - floor) / Thm 1.1 bound, "
        "nu = 1", BOUND_REASON + "; the theorem is stated for every d, L >= 1")
  bound("thm1_range_analytic_ratio_max", max(r["analytic_ratio"] for r in ranges),
        "max over (d, L) in L<d, L=d, L>>d and j of (sigma_{j+1} - floor) / Thm 1.2 bound",
        BOUND_REASON + "; the theorem is stated for every d, L >= 1")
  bound("cor2_ratio_max", max(r["ratio"] for r in moe),
        "max over beta, j of (sigma_{j+1} - floor) / Corollary 2 bound (its constant)",
        BOUND_REASON + " (the constant proven in lowrank_ts.theory, erratum 2)")
  verdict.check("cor2_rate_margin", min(r["measured_rate"] - RATE_SLACK * r["predicted_rate"]
                                        for r in moe), ">=", 0,
                "min over beta of measured rate - log(1 + pi/(2 beta))", RATE_REASON)
  bound("cor2_corrected_ratio_max", max(r["corrected_ratio"] for r in erratum),
        "max over max|w_i|, j of sigma_{j+1} / Cor. 2 bound with beta max|w_i|",
        BOUND_REASON + " (our corrected bound, erratum 2)")
  slack = {"thm1.1": max(r["sigma_ratio"] for r in smooth), "thm1.2": analytic["sigma_ratio"],
           "cor2": max(r["ratio"] for r in moe)}
  verdict.finding("bound_slack", slack,
                  "largest sigma_{j+1}/bound: " + ", ".join(f"{k} {v:.2g}" for k, v in slack.items())
                  + f" (at least {-np.log10(max(slack.values())):.1f} orders of magnitude to spare)")
  spread = [r["analytic_sigma1_over_sqrt_dL"] for r in ranges]
  verdict.finding("sigma1_over_sqrt_dL", {f"d={r['d']},L={r['L']}":
                                          r["analytic_sigma1_over_sqrt_dL"] for r in ranges},
                  f"analytic family: sigma_1/sqrt(dL) in [{min(spread):.3g}, {max(spread):.3g}] "
                  f"over (d, L) with sqrt(dL) from {min(r['sqrt_dL'] for r in ranges):.0f} to "
                  f"{max(r['sqrt_dL'] for r in ranges):.0f}: the sqrt(dL) scale of the bound is "
                  "the scale of sigma_1 itself")
  return verdict


def headline(results: dict) -> str:
  smooth, analytic, moe = results["smooth"], results["analytic"], results["time_moe"]
  return ("rates measured/predicted: "
          + ", ".join(f"nu={r['nu']}: {r['measured_rate']:.2f}/{r['nu']}" for r in smooth)
          + f"; analytic {analytic['measured_rate']:.2f}/{analytic['predicted_rate']:.2f}; "
          + ", ".join(f"beta={r['beta']}: {r['measured_rate']:.2f}/{r['predicted_rate']:.2f}"
                      for r in moe)
          + f"; max sigma/bound: Thm1.1 {max(r['sigma_ratio'] for r in smooth):.2g}, "
          f"Thm1.2 {analytic['sigma_ratio']:.2g}, Cor2 {max(r['ratio'] for r in moe):.2g}")


def _compute_with_params(size: str, seed: int):
  params = parameters(size)
  return compute(params, seed), params


def main(argv=None) -> int:
  return common.run("thm1", __doc__, argv, _compute_with_params, verdicts, plot,
                    lambda results, params: headline(results))


if __name__ == "__main__":
  sys.exit(main())
