"""Rank allocation for post-hoc compression: which rank each attention matrix keeps, and how
the result is counted. Plain numpy on the matrices' singular values (no Flax, no model).

Two ways to count an attention size ratio, one per storage mode (:data:`MODES`):

- ``paper``: every matrix is truncated at its rank ``r`` and the ratio is the paper's Table 2
  "Ratio", the fraction of singular values kept, ``sum_W r_W / sum_W min(d_in, d_out)``. (The
  authors' ``compress_T5.py`` sets ``rank = int(min(d_in, d_out) * ratio)``, and their
  chronos-t5-base row at eps = 1e-3 has ratio 0.889, which a parameter count of factors,
  ``r (d_in + d_out) / (d_in d_out)`` ~ ``2 r / d``, could not give.)
- ``efficient``: what the checkpoint stores. A matrix is factorised only where the factors save
  work, ``r (d_in + d_out) < d_in d_out``; otherwise it keeps its dense (untruncated) weights.
  The ratio is stored attention parameters over the dense model's. A rank-``r`` factorisation of
  a square ``d x d`` matrix costs ``2 r d``, so a paper ratio ``x`` is an efficient ratio ``2 x``
  (0.24 -> 0.48) where every matrix is factorised.

Two allocations meet a target ratio ``R``:

- ``uniform``: one eps for every matrix (eq. 1, ``r = |{j : sigma_j > eps sigma_1}|``, at least
  1): the smallest eps whose ratio is <= R (:func:`uniform_eps`, exact: the ratio only changes
  at the relative singular values ``sigma_j / sigma_1``, which are searched by bisection).
- ``global``: the budget is spent where it removes the most relative error. Each matrix keeps
  at least rank 1; then singular values are taken across the whole model in decreasing order
  of ``sigma_j^2 / ||W||_F^2`` per unit of cost (1 per singular value in the paper count,
  ``d_in + d_out`` parameters in the efficient one) while the budget allows
  (:func:`global_ranks`). In the paper count this minimises ``sum_W ||W - W_r||_F^2 / ||W||_F^2``
  exactly (each matrix's gains decrease with ``j`` and every unit costs the same). Not in the
  paper. In efficient mode a matrix whose allocated rank no longer saves work is kept dense,
  which stores fewer parameters than its factors would, so the budget still holds; but the
  greedy does not plan that switch to dense (exact, and cheaper than factors near full rank),
  so there it can lose to one eps on its own objective (tests/test_compress.py shows a case at
  ratio 0.5); at low ratios, where every matrix is factorised, the two coincide.

A :class:`Request` (one eps, or a target ratio and an allocation, in one mode) gives the ranks
(:func:`ranks_for`) that :func:`lowrank_ts.models.posthoc.compress_to` applies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from lowrank_ts import checks

MODES = ("paper", "efficient")
ALLOCATIONS = ("uniform", "global")


@dataclasses.dataclass(frozen=True)
class Spectrum:
  """One attention matrix ``[d_in, d_out]`` and its singular values (float64, decreasing)."""
  name: str
  d_in: int
  d_out: int
  singular_values: np.ndarray

  @property
  def full_rank(self) -> int:
    return min(self.d_in, self.d_out)

  @property
  def relative(self) -> np.ndarray:
    """``sigma_j / sigma_1`` (zeros for a zero matrix)."""
    top = self.singular_values[0]
    return self.singular_values / top if top > 0 else np.zeros_like(self.singular_values)


def _check_spectra(spectra: Sequence[Spectrum]) -> tuple[Spectrum, ...]:
  spectra = tuple(spectra)
  if not spectra or not all(isinstance(s, Spectrum) for s in spectra):
    raise ValueError("spectra must be a non-empty sequence of Spectrum")
  return spectra


def check_mode(mode: str) -> str:
  if mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
  return mode


def check_eps(eps) -> float:
  """``eps`` as a float in [0, 1) (eps >= 1 would keep nothing; 0 keeps every nonzero value)."""
  if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) or not (
      0.0 <= float(eps) < 1.0):
    raise ValueError(f"eps must be a number in [0, 1), got {eps!r}")
  return float(eps)


def saves_work(rank: int, d_in: int, d_out: int) -> bool:
  """True when rank-``rank`` factors cost fewer multiply-adds (and parameters) than the dense
  matrix: ``rank (d_in + d_out) < d_in d_out``."""
  return rank * (d_in + d_out) < d_in * d_out


def eps_ranks(spectra: Sequence[Spectrum], eps: float) -> tuple[int, ...]:
  """Eq. (1)'s eps-rank of every matrix, at least 1 (a rank-0 factorisation does not exist)."""
  spectra = _check_spectra(spectra)
  eps = check_eps(eps)
  return tuple(max(int(np.sum(s.relative > eps)), 1) for s in spectra)


def stored_as_factors(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str
                      ) -> tuple[bool, ...]:
  """Per matrix, whether it is stored as factors. Both modes factorise exactly where that saves
  work; they differ in what a matrix that is not factorised holds (module docstring)."""
  check_mode(mode)
  return tuple(saves_work(r, s.d_in, s.d_out) for s, r in zip(spectra, ranks, strict=True))


def truncation_ranks(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str
                     ) -> tuple[int, ...]:
  """The rank each matrix is really truncated to: the allocated one in paper mode; in efficient
  mode a matrix kept dense keeps all its singular values."""
  factors = stored_as_factors(spectra, ranks, mode)
  return tuple(min(r, s.full_rank) if mode == "paper" or f else s.full_rank
               for s, r, f in zip(spectra, ranks, factors))


def stored_parameters(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str) -> int:
  """Attention parameters the checkpoint holds (factors ``r (d_in + d_out)``, dense
  ``d_in d_out``)."""
  factors = stored_as_factors(spectra, ranks, mode)
  return sum(r * (s.d_in + s.d_out) if f else s.d_in * s.d_out
             for s, r, f in zip(spectra, ranks, factors))


def rank_ratio(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str) -> float:
  """The paper's Table 2 "Ratio": singular values kept over all of them."""
  spectra = _check_spectra(spectra)
  kept = truncation_ranks(spectra, ranks, mode)
  return sum(kept) / sum(s.full_rank for s in spectra)


def parameter_ratio(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str) -> float:
  """Stored attention parameters over the dense model's."""
  spectra = _check_spectra(spectra)
  return stored_parameters(spectra, ranks, mode) / sum(s.d_in * s.d_out for s in spectra)


def size_ratio(spectra: Sequence[Spectrum], ranks: Sequence[int], mode: str) -> float:
  """The attention size ratio ``mode`` counts: :func:`rank_ratio` (paper) or
  :func:`parameter_ratio` (efficient)."""
  check_mode(mode)
  fn = rank_ratio if mode == "paper" else parameter_ratio
  return fn(spectra, ranks, mode)


def _check_target(ratio: float) -> float:
  ratio = checks.positive_float(ratio, "ratio")
  if ratio > 1.0:
    raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
  return ratio


def uniform_eps(spectra: Sequence[Spectrum], ratio: float, mode: str) -> float:
  """The smallest eps (the least truncation) whose :func:`size_ratio` is <= ``ratio``. The
  ratio is a non-increasing step function of eps that only changes at the matrices' relative
  singular values, so the answer is one of them (or 0), found by bisection over the sorted
  list; a ValueError naming ``ratio`` when even rank 1 everywhere is larger."""
  spectra, ratio = _check_spectra(spectra), _check_target(ratio)
  check_mode(mode)
  candidates = np.unique(np.concatenate([[0.0], *[s.relative[s.relative < 1.0] for s in spectra]]))
  def fits(i):
    return size_ratio(spectra, eps_ranks(spectra, float(candidates[i])), mode) <= ratio
  if not fits(len(candidates) - 1):
    floor = size_ratio(spectra, (1,) * len(spectra), mode)
    raise ValueError(f"ratio {ratio} is below the smallest attention size ratio this model "
                     f"reaches in {mode} mode ({floor:.4g}, rank 1 everywhere)")
  lo, hi = 0, len(candidates) - 1  # invariant: fits(hi); answer is the first i that fits
  if fits(lo):
    return float(candidates[lo])
  while hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (lo, mid) if fits(mid) else (mid, hi)
  return float(candidates[hi])


def global_ranks(spectra: Sequence[Spectrum], ratio: float, mode: str) -> tuple[int, ...]:
  """Ranks spending the budget ``ratio`` (in ``mode``'s count) greedily by relative energy per
  unit of cost, ``sigma_j^2 / (||W||_F^2 cost_W)`` (module docstring); every matrix >= 1."""
  spectra, ratio = _check_spectra(spectra), _check_target(ratio)
  check_mode(mode)
  if mode == "paper":
    costs = [1] * len(spectra)
    budget = ratio * sum(s.full_rank for s in spectra)
  else:
    costs = [s.d_in + s.d_out for s in spectra]
    budget = ratio * sum(s.d_in * s.d_out for s in spectra)
  spent = sum(costs)
  if spent > budget * (1 + 1e-12):  # the slack absorbs the float product above
    floor = size_ratio(spectra, (1,) * len(spectra), mode)
    raise ValueError(f"ratio {ratio} is below the smallest attention size ratio this model "
                     f"reaches in {mode} mode ({floor:.4g}, rank 1 everywhere)")
  scores, owners = [], []
  for i, (s, cost) in enumerate(zip(spectra, costs)):
    energy = float(np.sum(s.singular_values ** 2))
    gains = s.singular_values[1:] ** 2 / energy if energy > 0 else np.zeros(s.full_rank - 1)
    scores.append(gains / cost)
    owners.append(np.full(gains.shape, i))
  scores, owners = np.concatenate(scores), np.concatenate(owners)
  # Stable sort: ties keep matrix order, and within a matrix the gains are non-increasing, so
  # every matrix's kept values are a prefix of its spectrum.
  order = np.argsort(-scores, kind="stable")
  ranks = [1] * len(spectra)
  for i in owners[order]:
    if spent + costs[i] > budget * (1 + 1e-12):
      continue  # a cheaper matrix's value may still fit; this matrix's later ones cannot
    spent += costs[i]
    ranks[i] += 1
  return tuple(ranks)


def frobenius_error(spectrum: Spectrum, rank: int) -> float:
  """``||W - W_r||_F / ||W||_F`` of the rank-``rank`` truncation."""
  s = spectrum.singular_values
  total = float(np.sum(s ** 2))
  return math.sqrt(float(np.sum(s[rank:] ** 2)) / total) if total > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Request:
  """What to compress to: exactly one of ``eps`` / ``ratio``; ``allocation`` global needs a
  ratio."""
  eps: float | None = None
  ratio: float | None = None
  allocation: str = "uniform"
  mode: str = "efficient"

  def __post_init__(self):
    if (self.eps is None) == (self.ratio is None):
      raise ValueError("eps and ratio: give exactly one")
    if self.allocation not in ALLOCATIONS:
      raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {self.allocation!r}")
    check_mode(self.mode)
    if self.eps is not None:
      check_eps(self.eps)
      if self.allocation == "global":
        raise ValueError("allocation global spends a budget: give a ratio, not eps")
    else:
      if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not (
          0.0 < float(self.ratio) <= 1.0):
        raise ValueError(f"ratio must be a number in (0, 1], got {self.ratio!r}")


def ranks_for(spectra: Sequence[Spectrum], request: Request
              ) -> tuple[tuple[int, ...], float | None]:
  """``(ranks, eps)`` that ``request`` asks for (``eps`` None for a global allocation)."""
  if request.eps is not None:
    return eps_ranks(spectra, request.eps), float(request.eps)
  if request.allocation == "uniform":
    eps = uniform_eps(spectra, request.ratio, request.mode)
    return eps_ranks(spectra, eps), eps
  return global_ranks(spectra, request.ratio, request.mode), None
