"""The shipped reference model (``lowrank_ts/pretrained/cpu-reference``) against the acceptance
checks of :mod:`experiments.reference_model` that run in seconds: clean cycles and the
held-out synthetic families. Its benchmark scores are reproduced by tests/test_pretrained.py."""

import pytest

from experiments import reference_model
from lowrank_ts.interop import resolve


@pytest.fixture(scope="module")
def model():
  return resolve.load_model("cpu-reference")


@pytest.mark.xfail(strict=True, reason="the shipped reference model damps and shifts clean "
                   "cycles: error / amplitude 0.23 (period 12) and 0.49 (period 24), measured "
                   "2026-12-07, against the 0.10 fixed before its run")
def test_it_continues_a_clean_cycle(model):
  errors = reference_model.periodic_errors(model)
  assert max(errors.values()) <= reference_model.PERIODIC_ERROR, errors


def test_what_it_beats_among_held_out_families(model):
  families = reference_model.family_comparison(model)
  beaten = {name for name, f in families.items() if f["beats_seasonal_naive"]}
  # Seasonal Naive is exact on clean cycles, so nothing beats it there (by construction); the
  # model beats it on trends, random walks and intermittent demand (README, "The reference
  # model").
  assert beaten == {"trend", "random-walk", "intermittent"}
  assert all(families[f"clean-p{p}"]["naive_wql"] == 0 for p in (4, 7, 12, 24))
  assert families["trend"]["relative_wql"] < 0.5  # measured 0.23: a clear margin, not noise
