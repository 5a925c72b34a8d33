"""Helpers shared by the test files (importable as ``tests.helpers``: pytest's ``pythonpath``
puts the repository root on the path)."""

import time

import numpy as np


def max_abs_diff(a, b) -> float:
  """``max |a - b|`` in float64 (what the reference-equivalence tests report and bound)."""
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# fp32 unit round-off u = 2^-24 (round to nearest).
FP32_U = 2.0 ** -24


def rel_diff(ours, ref) -> float:
  """``max |ours - ref| / max |ref|`` in float64: the error relative to the output's scale."""
  ref = np.asarray(ref, np.float64)
  scale = float(np.max(np.abs(ref)))
  if not scale > 0:
    raise ValueError("rel_diff: the reference is all zero; compare absolute differences")
  return max_abs_diff(ours, ref) / scale


def fp32_tol(ref32, ref64, floor=FP32_U) -> float:
  """Relative tolerance for ours-vs-reference in fp32, from the reference's own round-off.

  ``ref64`` is the same reference network run in float64 (``model.double()``), so
  ``e = rel_diff(ref32, ref64)`` is the error of one fp32 evaluation of exactly this
  computation at these sizes. Ours is a second fp32 evaluation with another summation order:
  its error is of the same order, so ``|ours - ref32| <= |ours - exact| + |ref32 - exact|``
  is about ``2e``; the tolerance is ``4 max(e, u)`` (2x for the other order's spread). A 1 %
  change of any weight moves the outputs by ~1e-3, far above it (e ~ 3e-7 here)."""
  return 4 * max(rel_diff(ref32, ref64), floor)


def interrupt(run, sig, ready, delay, observe=None, timeout=600):
  """Waits until ``ready()`` holds or ``run`` (a Popen) ends, sleeps ``delay`` s, sends ``sig``
  and collects the run; returns ``(stderr, observe())`` with ``observe`` evaluated just before
  the signal. A run still alive afterwards (a failed check) is killed and reaped."""
  try:
    deadline = time.monotonic() + timeout
    while run.poll() is None and not ready():
      assert time.monotonic() < deadline, f"no progress within {timeout} s"
      time.sleep(0.005)
    time.sleep(delay)
    observed = observe() if observe is not None else None
    run.send_signal(sig)
    return run.communicate(timeout=timeout)[1], observed
  finally:
    if run.poll() is None:
      run.kill()
      run.wait()
