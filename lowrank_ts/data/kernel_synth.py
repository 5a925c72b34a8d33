"""KernelSynth (Chronos, Ansari et al. 2024, App. A): synthetic series drawn from GP priors whose
kernel is a random composition of a fixed 33-entry kernel bank.

Recipe (as the reference ``scripts/kernel-synth.py``): ``x = linspace(0, 1, length)``; draw
``j ~ U{1, max_kernels}`` bank entries with replacement; fold them left with ``+`` or ``*`` chosen
with probability 1/2 each; draw one sample of the zero-mean GP prior with that kernel. The bank
uses scikit-learn's kernel definitions and default hyper-parameters (length scale 1, constant 1):

- ExpSineSquared ``exp(-2 sin^2(pi |x - x'| / p))`` with period ``p = P / length`` for the 21
  periods ``P`` in :data:`PERIODS` (4 appears three times, as in the reference);
- DotProduct ``sigma0^2 + x x'`` (sigma0 in 0, 1, 10); RBF ``exp(-|x - x'|^2 / (2 l^2))``
  (l in 0.1, 1, 10); RationalQuadratic ``(1 + |x - x'|^2 / (2 alpha))^-alpha`` (alpha in 0.1, 1,
  10); White ``noise * [x = x']`` (0.1, 1); Constant ``1``.

The reference samples through an SVD of the Gram matrix (``GaussianProcessRegressor.sample_y``);
here the sample is ``L z`` with ``L`` the float64 Cholesky factor of
``K + jitter * mean(diag K) I``, the jitter climbing :data:`JITTER_LADDER` when the
factorisation fails and the kernel redrawn (the reference's retry) when even the largest
jitter fails.

Why it is fast: on a regular grid every bank kernel except DotProduct is Toeplitz (a function of
the lag ``|i - j|``), and DotProduct is ``sigma0^2 + P`` with ``P = x x'`` of rank one. Elementwise
sums and products of such matrices stay in the form ``sum_k T(c_k) * P^k`` (``T(c)`` the Toeplitz
matrix of lag vector ``c``, ``P^k = x^k (x^k)'`` elementwise), so a composition is folded on a few
length-``length`` vectors and only the final Gram matrix is formed (one Toeplitz copy when no
DotProduct is drawn). The float64 LAPACK Cholesky (``dpotrf``) is the floor: XLA's CPU Cholesky
was ~10x slower here, and float32 needed jitter up to 1e-3 where float64 succeeds at 1e-10.

Determinism: series ``i`` uses only the numpy stream ``default_rng([seed, i])``, so it does
not depend on ``num_series`` or ``workers``, and the same seed gives bit-identical output (BLAS
is pinned to one thread; with OpenBLAS's default two threads results moved at the 1e-5 relative
level: the Gram matrices are ill-conditioned).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import itertools
import multiprocessing
import time

import numpy as np
import threadpoolctl
from numpy.lib.stride_tricks import sliding_window_view
from scipy.linalg import blas, lapack

from lowrank_ts import checks

PERIODS = (24, 48, 96, 168, 336, 672, 7, 14, 30, 60, 365, 730, 4, 26, 52, 4, 6, 12, 4, 40, 10)
JITTER_LADDER = (1e-10, 1e-8, 1e-6, 1e-4)  # relative to mean(diag K); float64 Cholesky


@dataclasses.dataclass(frozen=True)
class BankKernel:
  """One kernel of the bank: ``kind`` in exp_sine_squared (``param`` = period in time steps),
  dot_product (sigma0), rbf (length scale), rational_quadratic (alpha), white (noise level),
  constant (value)."""
  kind: str
  param: float


KERNEL_BANK: tuple[BankKernel, ...] = (
    tuple(BankKernel("exp_sine_squared", float(p)) for p in PERIODS)
    + tuple(BankKernel("dot_product", s) for s in (0.0, 1.0, 10.0))
    + tuple(BankKernel("rbf", s) for s in (0.1, 1.0, 10.0))
    + tuple(BankKernel("rational_quadratic", a) for a in (0.1, 1.0, 10.0))
    + tuple(BankKernel("white", s) for s in (0.1, 1.0))
    + (BankKernel("constant", 1.0),))


def _stationary_profile(kernel: BankKernel, length: int) -> np.ndarray:
  """k(lag) for lags 0..length-1 on linspace(0, 1, length); float64."""
  d = np.arange(length) / (length - 1)
  if kernel.kind == "exp_sine_squared":
    return np.exp(-2.0 * np.sin(np.pi * d / (kernel.param / length)) ** 2)
  if kernel.kind == "rbf":
    return np.exp(-0.5 * (d / kernel.param) ** 2)
  if kernel.kind == "rational_quadratic":
    return (1.0 + d ** 2 / (2.0 * kernel.param)) ** -kernel.param
  if kernel.kind == "white":
    return np.where(np.arange(length) == 0, kernel.param, 0.0)
  if kernel.kind == "constant":
    return np.full(length, kernel.param)
  raise ValueError(f"kernel.kind {kernel.kind!r} is not stationary")


def lag_polynomial(kernel: BankKernel, length: int, max_degree: int) -> np.ndarray:
  """Coefficients ``c`` [max_degree + 1, length] with ``K = sum_k T(c[k]) * (x^k x^k')``."""
  coef = np.zeros((max_degree + 1, length))
  if kernel.kind == "dot_product":
    coef[0] = kernel.param ** 2
    coef[1] = 1.0
  else:
    coef[0] = _stationary_profile(kernel, length)
  return coef


def kernel_matrix(kernel: BankKernel, length: int) -> np.ndarray:
  """Dense Gram matrix [length, length] of one bank kernel on linspace(0, 1, length) (float64).

  Written directly from the kernel formulas, independently of the lag representation.
  """
  if not isinstance(kernel, BankKernel):
    raise ValueError(f"kernel must be a BankKernel, got {type(kernel).__name__}")
  length = checks.positive_int(length, "length")
  x = np.linspace(0.0, 1.0, length)
  d = np.abs(x[:, None] - x[None, :])
  if kernel.kind == "exp_sine_squared":
    return np.exp(-2.0 * np.sin(np.pi * d / (kernel.param / length)) ** 2)
  if kernel.kind == "dot_product":
    return kernel.param ** 2 + x[:, None] * x[None, :]
  if kernel.kind == "rbf":
    return np.exp(-d ** 2 / (2.0 * kernel.param ** 2))
  if kernel.kind == "rational_quadratic":
    return (1.0 + d ** 2 / (2.0 * kernel.param)) ** -kernel.param
  if kernel.kind == "white":
    return kernel.param * np.eye(length)
  if kernel.kind == "constant":
    return np.full((length, length), kernel.param)
  raise ValueError(f"kernel.kind must be one of the bank's kinds, got {kernel.kind!r}")


@dataclasses.dataclass(frozen=True)
class Composition:
  """A random kernel: bank indices folded left with ``ops`` (True = product, False = sum)."""
  kernels: tuple[int, ...]
  products: tuple[bool, ...]

  @property
  def degree(self) -> int:
    """Upper bound on the power of ``P = x x'`` in the composed Gram matrix."""
    return sum(KERNEL_BANK[k].kind == "dot_product" for k in self.kernels)


def draw_composition(rng: np.random.Generator, max_kernels: int) -> Composition:
  """1..max_kernels bank indices with replacement and a + / * choice per fold step."""
  count = int(rng.integers(1, max_kernels + 1))
  kernels = tuple(int(k) for k in rng.integers(0, len(KERNEL_BANK), size=count))
  products = tuple(bool(b) for b in rng.integers(0, 2, size=count - 1))
  return Composition(kernels, products)


def composed_lag_polynomial(comp: Composition, length: int, max_degree: int) -> np.ndarray:
  """Folds a composition in the lag-polynomial representation; [max_degree + 1, length]."""
  acc = lag_polynomial(KERNEL_BANK[comp.kernels[0]], length, max_degree)
  for k, product in zip(comp.kernels[1:], comp.products):
    other = lag_polynomial(KERNEL_BANK[k], length, max_degree)
    if product:
      # (sum_i T(a_i) P^i) * (sum_j T(b_j) P^j) = sum_k T(sum_{i+j=k} a_i b_j) P^k
      out = np.zeros_like(acc)
      for i in range(max_degree + 1):
        out[i:] += acc[i] * other[:max_degree + 1 - i]
      acc = out
    else:
      acc = acc + other
  return acc


def composed_kernel_matrix(comp: Composition, length: int) -> np.ndarray:
  """Dense Gram matrix of a composition from :func:`kernel_matrix` (float64 reference)."""
  acc = kernel_matrix(KERNEL_BANK[comp.kernels[0]], length)
  for k, product in zip(comp.kernels[1:], comp.products):
    other = kernel_matrix(KERNEL_BANK[k], length)
    acc = acc * other if product else acc + other
  return acc


def toeplitz_view(lags: np.ndarray) -> np.ndarray:
  """Read-only symmetric Toeplitz view ``T[i, j] = lags[|i - j|]`` of a lag vector (no copy)."""
  wide = np.concatenate([lags[::-1], lags[1:]])
  return sliding_window_view(wide, lags.shape[0])[::-1]


def composed_gram(coef: np.ndarray) -> np.ndarray:
  """``sum_k T(coef[k]) * (x^k x^k')`` on linspace(0, 1, n), float64 [n, n]."""
  n = coef.shape[-1]
  x = np.linspace(0.0, 1.0, n)
  gram = np.array(toeplitz_view(coef[0]))
  for k in range(1, coef.shape[0]):
    if np.any(coef[k]):
      xk = x ** k
      gram += toeplitz_view(coef[k]) * (xk[:, None] * xk[None, :])
  return gram


def _prior_sample(coef: np.ndarray, z: np.ndarray, jitter: float) -> np.ndarray | None:
  """``L z`` with ``L L' = K + jitter * mean(diag K) I``; None when the factorisation fails."""
  gram = composed_gram(coef)
  gram[np.diag_indices_from(gram)] += jitter * np.mean(np.diagonal(gram))
  # gram.T is the same symmetric matrix in Fortran order: LAPACK factorises it in place.
  chol, info = lapack.dpotrf(gram.T, lower=1, overwrite_a=1, clean=0)
  if info != 0:
    return None
  return blas.dtrmv(chol, z, lower=1)


def _one_series(index: int, seed: int, length: int, max_kernels: int):
  rng = np.random.default_rng([seed, index])
  redraws = 0
  while True:
    comp = draw_composition(rng, max_kernels)
    z = rng.standard_normal(length)
    coef = composed_lag_polynomial(comp, length, comp.degree)
    for jitter in JITTER_LADDER:
      sample = _prior_sample(coef, z, jitter)
      if sample is not None:
        return sample, jitter, redraws, comp
    redraws += 1  # the reference's retry: a fresh kernel from the same stream


def _series_range(start: int, stop: int, seed: int, length: int, max_kernels: int):
  """Series ``start..stop-1`` with one BLAS thread: OpenBLAS's threads spin against other
  processes on the same cores (a 1024 Cholesky ran ~20x slower with 2 threads), and a fixed
  thread count keeps the output bit-identical across machines' defaults and workers."""
  out = np.empty((stop - start, length), np.float32)
  jitter = np.empty(stop - start)
  redraws = np.zeros(stop - start, np.int64)
  comps = []
  with threadpoolctl.threadpool_limits(1):
    for row, i in enumerate(range(start, stop)):
      out[row], jitter[row], redraws[row], comp = _one_series(i, seed, length, max_kernels)
      comps.append(comp)
  return out, jitter, redraws, comps


def kernel_synth(num_series: int, seed: int, *, length: int = 1024, max_kernels: int = 5,
                 workers: int = 1, return_info: bool = False):
  """``num_series`` KernelSynth series, float32 [num_series, length].

  ``workers`` > 1 splits the series over that many spawned processes (the output does not
  change: series i depends only on ``(seed, i)``, and BLAS runs single-threaded everywhere).
  With ``return_info`` also returns a dict of per-series ``jitter`` (the relative jitter that
  succeeded), ``redraws`` (kernel redraws after the whole ladder failed) and ``compositions``.
  """
  num_series = checks.positive_int(num_series, "num_series")
  seed = checks.positive_int(seed, "seed", allow_zero=True)
  length = checks.positive_int(length, "length")
  if length < 2:
    raise ValueError(f"length must be >= 2, got {length}")
  max_kernels = checks.positive_int(max_kernels, "max_kernels")
  workers = checks.positive_int(workers, "workers")
  bounds = np.linspace(0, num_series, min(workers, num_series) + 1).astype(int)
  tasks = [(int(a), int(b), seed, length, max_kernels) for a, b in itertools.pairwise(bounds)]
  if len(tasks) == 1:
    parts = [_series_range(*tasks[0])]
  else:
    # spawn, not fork: the parent may hold JAX's threads, which fork would copy half-alive.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(tasks), mp_context=context) as pool:
      parts = list(pool.map(_series_range, *zip(*tasks)))
  out = np.concatenate([p[0] for p in parts])
  if return_info:
    return out, {"jitter": np.concatenate([p[1] for p in parts]),
                 "redraws": np.concatenate([p[2] for p in parts]),
                 "compositions": [c for p in parts for c in p[3]]}
  return out


def main(argv=None):
  """Throughput: ``python -m lowrank_ts.data.kernel_synth --num-series 10000 [--workers 2]
  [--out F.npy]``."""
  parser = argparse.ArgumentParser(description=main.__doc__)
  parser.add_argument("--num-series", type=int, default=1000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--length", type=int, default=1024)
  parser.add_argument("--workers", type=int, default=1)
  parser.add_argument("--out", default=None, help="optional .npy path for the series")
  args = parser.parse_args(argv)
  wall = time.perf_counter()
  series, info = kernel_synth(args.num_series, args.seed, length=args.length,
                              workers=args.workers, return_info=True)
  wall = time.perf_counter() - wall
  rungs, counts = np.unique(info["jitter"], return_counts=True)
  print(f"{args.num_series} series of length {args.length}, {args.workers} worker(s): "
        f"{wall:.1f} s ({args.num_series / wall:.1f} series/s); jitter used "
        f"{dict(zip(rungs.tolist(), counts.tolist()))}; redraws {int(info['redraws'].sum())}")
  if args.out:
    np.save(args.out, series)


if __name__ == "__main__":
  main()
