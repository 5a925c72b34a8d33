"""Data-parallel forecasting on a mesh of 8 forced CPU devices equals one device
(``tests/forecast_mesh_run.py``; XLA_FLAGS must be set before jax is imported, hence the
subprocess)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests import forecast_mesh_run


# ~30 s (a subprocess with 8 forced devices): CI's second step.
@pytest.mark.slow
def test_eight_device_forecast_equals_one_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  script = os.path.join(os.path.dirname(__file__), "forecast_mesh_run.py")
  out = subprocess.run([sys.executable, script, str(tmp_path / "eight.npz")], env=env,
                       capture_output=True, text=True, timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  one = forecast_mesh_run.run(data_parallel=False)
  with np.load(tmp_path / "eight.npz") as f:
    eight = dict(f)
  # The 8-device run split every batch's rows over all 8 devices; the other ran on one.
  assert eight["devices_bolt"].size and set(eight["devices_bolt"]) == {8}
  assert eight["devices_chronos"].size and set(eight["devices_chronos"]) == {8}
  assert set(one["devices_bolt"]) == set(one["devices_chronos"]) == {1}
  assert str(eight["indivisible_error"]).startswith(
      "rows: a batch of (3,) rows cannot be split over the 8 data-parallel devices")
  # Greedy Chronos: the same tokens, so the same values.
  np.testing.assert_array_equal(eight["greedy"], one["greedy"])
  # Bolt: 1e-5, fp32 matmuls of 1-row shards vs an 8-row batch (values of order 30).
  diff = np.max(np.abs(eight["bolt"] - one["bolt"]))
  print(f"bolt on 8 devices vs 1: max-abs-diff {diff:.2e}")
  np.testing.assert_allclose(eight["bolt"], one["bolt"], rtol=1e-5, atol=1e-5)
