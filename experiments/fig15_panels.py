"""The panels of Figure 15 / appendix J.1 (Theorem 3), computed; experiments/fig15.py runs them
and checks them (its docstring gives the sizes, the weights' scalings, the claims and their
pass bands).

(a) :func:`left_panel`: ||Y - Y~||_F against sigma_{d~+1} for the reduced layer
W~ = W U_d~ U_d~^T (the eq. (19) shared sketch) on a log-uniform vocabulary spectrum;
(b) :func:`right_panel`: the same error against d at fixed d~ (slope 1/2);
(c) :func:`lower_bound_panel` / :func:`lower_bound_range`: Theorem 3's lower-bound
construction, every rank-d~ W~_V against sigma_{d~+1}/4 (erratum 16's log weight);
(d) :func:`repeated_token_panel`: erratum 15, eq. (3)'s missing sqrt(L).
The reduced layer is evaluated in the basis' coordinates (:func:`reduced_error`) and compiled
without YNNPACK fusions (``common.cpu_jit``). experiments/fig15.py sets one OpenBLAS thread
before numpy loads; import this module through it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import common
from lowrank_ts import attention, spectral
from lowrank_ts.theory import compression

LOWER_RANDOM = 3  # random rank-d~ W~_V (perturbed optima) per d~ checked against the bound
RANK_BUCKET = 64  # basis widths 64, 128, ...: 8 compilations for d = 512


def log_uniform_spectrum(count):
  """sigma_j from e^0 down to e^-5, uniformly spaced on a log scale (appendix J.1)."""
  return jnp.exp(jnp.linspace(0.0, -5.0, count))


def random_layer(key, d):
  """W_Q, W_K with N(0, 1/sqrt(d)) entries, W_V with N(0, 1) entries (see the docstring)."""
  key_q, key_k, key_v = jax.random.split(key, 3)
  scale = d ** -0.25
  return (jax.random.normal(key_q, (d, d)) * scale, jax.random.normal(key_k, (d, d)) * scale,
          jax.random.normal(key_v, (d, d)))


@common.cpu_jit
def reduced_error(u, w_q, w_k, w_v, y, basis, rank):
  """||Y - Y~||_F and the largest per-token error for W~ = W U_r U_r^T, r = ``rank``.

  ``basis`` holds R >= r columns; the columns from r on are zeroed, which leaves U_r U_r^T
  unchanged and lets one compilation serve every rank up to R. Evaluated in the basis'
  coordinates: with the eq. (19) sketches W U_r, U_r^T and Z = U_r^T U [R, L], the reduced
  layer is Y~ = (W_V U_r) Attention(Z; C^T, I, I) with C = (W_Q U_r)^T (W_K U_r) and the
  scale 1/sqrt(d) (attention is linear in W_V), so its scores and output cost R L^2 each
  instead of d L^2. Equal to the dense layer to round-off (checked in :func:`left_panel`).
  """
  basis = basis * (jnp.arange(basis.shape[1]) < rank)
  comp = compression.compress_attention(w_q, w_k, w_v, basis)
  z = comp.w_q.w2 @ u  # Z = U_r^T U: the shared sketch applied to U
  core = comp.w_q.w1.T @ comp.w_k.w1
  eye = jnp.eye(basis.shape[1], dtype=core.dtype)
  mixed = attention.multi_head_attention(z, core.T, eye, eye, num_heads=1,
                                         scale=u.shape[0] ** -0.5)
  diff = y - comp.w_v.w1 @ mixed
  return jnp.linalg.norm(diff), jnp.max(jnp.linalg.norm(diff, axis=0))


@common.cpu_jit
def dense_reduced_error(u, w_q, w_k, w_v, y, basis, rank):
  """:func:`reduced_error` the direct way: the sketches multiplied out, attention at full d."""
  basis = basis * (jnp.arange(basis.shape[1]) < rank)
  comp = compression.compress_attention(w_q, w_k, w_v, basis)
  diff = y - attention.attention(u, *(attention.to_dense(w) for w in comp[:3]))
  return jnp.linalg.norm(diff), jnp.max(jnp.linalg.norm(diff, axis=0))


dense_attention = common.cpu_jit(attention.attention)
attention_weights = common.cpu_jit(attention.attention_weights)


def rank_bucket(rank, limit, width=RANK_BUCKET):
  """The basis width used for ``rank``: ``rank`` rounded up to a multiple of ``width``, at
  most ``limit``. Static shapes (one compilation per bucket) at a cost ~ the rank."""
  return min(-(-rank // width) * width, limit)


def slope(x, y):
  return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def left_panel(key, p):
  d, n = p["d"], p["n"]
  s = log_uniform_spectrum(d)
  key_x, key_w = jax.random.split(key)
  x = spectral.matrix_with_spectrum(key_x, s, d, n)
  weights = random_layer(key_w, d)
  c = compression.compression_hypothesis_constant(x, *weights)
  y = dense_attention(x, *weights)
  # Every d~ = 1..d-1, as Fig. 15 plots: the fit is over exactly the figure's points.
  ranks = np.arange(1, d)
  basis = compression.vocabulary_basis(x, d - 1)
  s_np = np.asarray(s)
  sigma = s_np[ranks]
  tail = np.sqrt(np.cumsum(s_np[::-1] ** 2)[::-1])[ranks]  # ||(I - P) X||_F
  errs, token_errs = map(np.array, zip(*(
      [float(e) for e in reduced_error(x, *weights, y, basis[:, :rank_bucket(r, d - 1)], r)]
      for r in ranks)))
  # The fast evaluation against the sketches multiplied out, at the first, middle, last d~.
  checked = ranks[[0, len(ranks) // 2, -1]]
  dense = np.array([float(dense_reduced_error(x, *weights, y, basis, r)[0]) for r in checked])
  fast_gap = float(np.max(np.abs(errs[[0, len(ranks) // 2, -1]] / dense - 1)))
  bound = np.array([compression.compression_error_bound(c, d, v, n) for v in sigma])
  token_bound = np.array([compression.compression_token_error_bound(c, d, v) for v in sigma])
  bulk = ranks <= 7 * d // 8
  return dict(ranks=ranks, sigma_next=sigma, tail_frobenius=tail, error_f=errs,
              error_token_max=token_errs, bound_f=bound, bound_token=token_bound,
              hypothesis_c=c, bulk=bulk, slope_bulk=slope(sigma[bulk], errs[bulk]),
              slope_all=slope(sigma, errs), slope_vs_tail=slope(tail, errs),
              fast_vs_dense_ranks=checked, fast_vs_dense_gap=fast_gap)


def right_panel(key, p):
  held = log_uniform_spectrum(p["held"])
  r, n = p["rank_d"], p["right_n"]
  errs, cs = [], []
  for rep in range(p["reps"]):
    key_x, key_rep = jax.random.split(jax.random.fold_in(key, rep))
    row_e, row_c = [], []
    for d in p["ds"]:
      # Same key_x for every d: X shares its right singular vectors (common random numbers).
      x = spectral.matrix_with_spectrum(key_x, held, d, n)
      weights = random_layer(jax.random.fold_in(key_rep, d), d)
      row_c.append(compression.compression_hypothesis_constant(x, *weights))
      y = dense_attention(x, *weights)
      basis = compression.vocabulary_basis(x, r)
      row_e.append(float(reduced_error(x, *weights, y, basis, r)[0]))
    errs.append(row_e)
    cs.append(row_c)
  errs, cs = np.array(errs), np.array(cs)
  mean = np.exp(np.log(errs).mean(axis=0))
  sigma = float(held[r])
  bounds = [compression.compression_error_bound(cs[:, i].max(), d, sigma, n)
            for i, d in enumerate(p["ds"])]
  return dict(ds=np.array(p["ds"]), rank=r, sigma_next=sigma, held_spectrum=held,
              error_f=errs, error_f_geomean=mean, hypothesis_c=cs, bound_f=np.array(bounds),
              slope=slope(np.array(p["ds"]), mean))


def _lower_spectrum(d, kind):
  if kind == "log-uniform":
    return log_uniform_spectrum(d)
  if kind == "geometric 0.9":
    return 0.9 ** jnp.arange(d, dtype=jnp.float64)
  raise ValueError(f"spectrum kind {kind!r} unknown")


def lower_bound_range(key, p, seed):
  """(c) at the other (d, spectrum) pairs of ``p['lb_range']``: Theorem 3's lower bound is
  stated for every d, every L >= d and every 1 >= sigma_1 >= ... >= sigma_d > 0."""
  return [dict(lower_bound_panel(jax.random.fold_in(key, i), p, seed + 1 + i, d, kind),
               spectrum=kind) for i, (d, kind) in enumerate(p["lb_range"])]


def lower_bound_panel(key, p, seed, d=None, spectrum="log-uniform"):
  d = p["lb_d"] if d is None else d
  s = _lower_spectrum(d, spectrum)
  w_v = spectral.matrix_with_spectrum(key, jnp.ones(d), d, d)  # Haar orthogonal
  rng = np.random.default_rng(seed)
  check_ranks = np.unique(np.round(np.geomspace(1, d - 1, 8)).astype(int))
  out = {}
  cases = [(f"L={f}d" + ("+1" if f == 4 else ""), f * d + (f == 4), None)
           for f in p["lb_factors"]]
  cases.append((f"L={p['lb_factors'][-1]}d, paper log(4d)", p["lb_factors"][-1] * d,
                math.log(4 * d)))
  for name, seq_len, log_weight in cases:
    con = compression.incompressible_attention(s, seq_len, log_weight)
    y = dense_attention(con.u, con.w_q, con.w_k, w_v)
    g = attention_weights(con.u, con.w_q, con.w_k)[0]
    # Attention(U; W_Q, W_K, W) = W (U G) is linear in W: one G serves every W~_V.
    ug = con.u @ g
    linear_gap = float(jnp.max(jnp.abs(y - w_v @ ug)))
    # Eckart–Young: no rank-r W~_V errs by less than sigma_{r+1}(Y), for every r at once.
    best = np.asarray(spectral.singular_values(y))[1:d]
    checked, random_ratio = [], []
    for r in check_ranks:
      w_best = compression.best_value_approximation(con.u, con.w_q, con.w_k, w_v, int(r))
      checked.append(float(jnp.linalg.norm((w_v - w_best) @ ug, ord=2)) / float(s[r]))
      for _ in range(LOWER_RANDOM):
        # A random rank-r W~_V near the optimum: perturb it and truncate back to rank r.
        noisy = w_best + rng.normal(scale=0.3 / math.sqrt(d), size=(d, d))
        w_rand = jnp.matmul(*spectral.truncated_svd(noisy, rank=int(r)))
        random_ratio.append((int(r), float(jnp.linalg.norm((w_v - w_rand) @ ug, ord=2))
                             / float(s[r])))
    out[name] = dict(seq_len=seq_len, log_weight=con.log_weight,
                     best_ratio=best / np.asarray(s[1:d]), best_ratio_checked=checked,
                     random_ratio=random_ratio, linear_gap=linear_gap,
                     min_diagonal_weight=float(jnp.min(jnp.diag(g)[:d])))
  return dict(d=d, ranks=np.arange(1, d), check_ranks=check_ranks, cases=out)


def repeated_token_panel(p):
  """Erratum of eq. (3): Xi = diag(sigma), W_V = sqrt(d) I (C = 1), U = x_{r+1} repeated."""
  d = p["lb_d"]
  r = d // 4
  s = log_uniform_spectrum(d)
  vocab = jnp.diag(s)
  w_qk = d ** 0.25 * jnp.eye(d)
  w_v = math.sqrt(d) * jnp.eye(d)
  c = compression.compression_hypothesis_constant(vocab, w_qk, w_qk, w_v)
  basis = compression.vocabulary_basis(vocab, r)
  errs = []
  for seq_len in p["repeat_ls"]:
    u = jnp.repeat(vocab[:, r:r + 1], seq_len, axis=1)
    y = dense_attention(u, w_qk, w_qk, w_v)
    errs.append(float(reduced_error(u, w_qk, w_qk, w_v, y, basis, r)[0]))
  scale = math.sqrt(d) * float(s[r])
  return dict(d=d, rank=r, hypothesis_c=c, seq_lens=np.array(p["repeat_ls"]),
              error_f=np.array(errs), error_over_sqrt_d_sigma=np.array(errs) / scale,
              paper_form_constant=compression.compression_error_constant(c),
              slope=slope(np.array(p["repeat_ls"]), np.array(errs)))
