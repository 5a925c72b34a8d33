"""What the statistical baselines' fits share: the selected model (:class:`Fit`) and the fitting
context (one BLAS thread, statsmodels' fitting notices silenced), and quantiles from central
intervals. The fits: :mod:`.statistical_ets`, :mod:`.statistical_theta`,
:mod:`.statistical_arima`; their runner: :mod:`.statistical`."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import threadpoolctl
from statsmodels.tools.sm_exceptions import ModelWarning


@dataclasses.dataclass(frozen=True)
class Fit:
  """A selected model: ``spec`` names it (``"MAdM"``, ``"ARIMA(0,1,1)(0,1,1)[12]"``, ``"theta
  mul"``), ``quantiles(horizon, levels)`` gives its predictive quantiles [len(levels), horizon],
  ``result`` is statsmodels' fitted results (ARIMA: of the differenced series; None when the
  differenced history is constant)."""
  spec: str
  quantiles: Callable[[int, Sequence[float]], np.ndarray]
  result: object = None


@functools.cache
def _blas() -> threadpoolctl.ThreadpoolController:
  """This process's BLAS libraries (found once: ~2 ms, against ~30 us for a limit)."""
  return threadpoolctl.ThreadpoolController()


@contextlib.contextmanager
def fitting():
  """One BLAS thread (OpenBLAS's threads made L-BFGS-B 3x and SARIMAX fits up to 20x slower on
  the shared 2-core machine) and statsmodels' fitting notices silenced (convergence, start
  parameters, KPSS table bounds, overflow in a diverging multiplicative fit): candidates are
  compared by AICc and the output is checked for finiteness."""
  with _blas().limit(limits=1), warnings.catch_warnings():
    warnings.simplefilter("ignore", ModelWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.filterwarnings("ignore", "kpss currently returns", FutureWarning)
    yield


def quantiles_from_intervals(interval, median, levels) -> np.ndarray:
  """Quantiles [Q, H] from central intervals: level q < 0.5 is the lower end of the interval
  of coverage 1 - 2q (``interval(alpha=2q) -> (lower, upper)``), 1 - q its upper end."""
  out = np.empty((len(levels), len(median)))
  for i, q in enumerate(levels):
    if abs(q - 0.5) < 1e-12:
      out[i] = median
    elif q < 0.5:
      lower, upper = interval(2 * q)
      out[i], out[len(levels) - 1 - i] = lower, upper
  return out
