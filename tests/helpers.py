"""Helpers shared by the test files (importable as ``tests.helpers``: pytest's ``pythonpath``
puts the repository root on the path)."""

import numpy as np


def max_abs_diff(a, b) -> float:
  """``max |a - b|`` in float64 (what the reference-equivalence tests report and bound)."""
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
