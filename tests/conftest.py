"""Under CI (``CI`` set, as ``.ci/run`` does) no test may be skipped: a skip — an
``importorskip`` of a missing package, at collection or inside a test — becomes a failure that
names what was skipped, so a missing install step cannot turn a cross-check green by silence.
Outside CI skips stay skips (a developer may lack the reference stack)."""

import os

import jax
import pytest

UNDER_CI = bool(os.environ.get("CI"))


def _as_failure(report, what: str) -> None:
  reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
  report.outcome = "failed"
  report.longrepr = f"{what} was skipped under CI (CI={os.environ.get('CI')}): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  report = outcome.get_result()
  if UNDER_CI and report.skipped and not hasattr(report, "wasxfail"):
    _as_failure(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
  outcome = yield
  report = outcome.get_result()
  if UNDER_CI and report.skipped:
    _as_failure(report, str(collector.nodeid))


@pytest.fixture(scope="module")
def compilation_cache(tmp_path_factory):
  """A module's persistent JAX compilation cache: every ``train()`` call builds a fresh jitted
  step, and identical ones then reuse the compiled program (modules use it through
  ``pytestmark = pytest.mark.usefixtures("compilation_cache")``)."""
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  saved = {name: getattr(jax.config, name) for name in names}
  jax.config.update(names[0], str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update(names[1], 0.0)
  jax.config.update(names[2], -1)
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
