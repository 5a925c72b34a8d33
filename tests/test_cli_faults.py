"""Fault injection: ``forecast`` and ``compress`` killed at random moments (SIGKILL and SIGTERM),
half of them while the output is being written. Whatever the moment, the output under the name
asked for is absent or byte-identical to an uninterrupted run's, never partial; a SIGTERM ends
with one line and exit 143 and leaves no temporary file."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES, HORIZON = 40, 8
# Seconds each CSV row / each side of the checkpoint write is held back: a few seconds of
# writing, so that a kill aimed at the writing lands in it.
SLOW = {"forecast": 0.01, "compress": 0.5}
WRITING = {"forecast": (1 + SERIES * HORIZON) * SLOW["forecast"], "compress": 2 * SLOW["compress"]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  folder = tmp_path_factory.mktemp("inputs")
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), folder / "bolt")
  values = np.random.default_rng(0).normal(size=(60, SERIES)).cumsum(0) + 50
  lines = [",".join(f"s{i}" for i in range(SERIES))]
  lines += [",".join(f"{v:.4f}" for v in row) for row in values]
  (folder / "series.csv").write_text("\n".join(lines) + "\n")
  return folder


def _args(kind, inputs, out):
  if kind == "forecast":
    return ["forecast", "--model", str(inputs / "bolt"), "--input", str(inputs / "series.csv"),
            "--horizon", str(HORIZON), "--quiet", "--out", str(out)]
  return ["compress", "--model", str(inputs / "bolt"), "--eps", "0.1", "--out", str(out)]


def _snapshot(out):
  """The output's bytes (a file) or its files' bytes (a folder); None when absent."""
  if not os.path.exists(out):
    return None
  if os.path.isdir(out):
    return {name: (out / name).read_bytes() for name in sorted(os.listdir(out))}
  return out.read_bytes()


def _spawn(args, env):
  return subprocess.Popen([sys.executable, "tests/cli_child.py", *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kills(kind, inputs, tmp_path, seeds):
  env = {**os.environ, "PYTHONPATH": ROOT, "TQDM_DISABLE": "1",
         "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
         "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
  suffix = ".csv" if kind == "forecast" else ""
  start = time.monotonic()
  reference = _spawn(_args(kind, inputs, tmp_path / f"reference{suffix}"), env)
  err = reference.communicate(timeout=600)[1]
  assert reference.returncode == 0, err[-3000:]
  whole, duration = _snapshot(tmp_path / f"reference{suffix}"), time.monotonic() - start
  assert whole
  env["SLOW"] = str(SLOW[kind])
  during_writing = 0
  for seed in seeds:
    rng = np.random.default_rng(seed)
    for sig in (signal.SIGKILL, signal.SIGTERM):
      folder = tmp_path / f"{seed}-{sig.name}"
      folder.mkdir()
      out, mark = folder / f"out{suffix}", tmp_path / f"mark-{seed}-{sig.name}"
      aim_at_writing = seed % 2 == 0  # else anywhere after Python has started
      run = _spawn(_args(kind, inputs, out), {**env, "MARK": str(mark)})
      if aim_at_writing:
        ready, delay = mark.exists, rng.uniform(0, 0.9 * WRITING[kind])
      else:
        ready, delay = (lambda: True), rng.uniform(1.0, duration)
      err, writing = helpers.interrupt(run, sig, ready, delay, observe=mark.exists)
      left = _snapshot(out)
      assert left in (None, whole), f"{kind} {sig.name} seed {seed}: a partial output"
      if run.returncode == 0:  # it finished first
        assert left == whole
        continue
      assert "Traceback" not in err, err[-3000:]
      if left is not None:
        # The signal landed after the complete output was renamed into place, while the
        # process was ending: a whole output is the right result; nothing else may be left.
        assert os.listdir(folder) == [out.name]
        continue
      during_writing += writing
      if sig == signal.SIGKILL:
        assert run.returncode == -signal.SIGKILL, err[-3000:]
      else:
        assert run.returncode == 143, err[-3000:]
        assert err.strip().splitlines() == [f"lowrank-ts {kind}: interrupted by SIGTERM"], err
        assert os.listdir(folder) == []  # no temporary left behind
  assert during_writing >= len(seeds) // 2  # the kills aimed at the writing did land in it


@pytest.mark.slow  # ~20 s per command: CI's second step (with the ten-seed run)
@pytest.mark.parametrize("kind", ["forecast", "compress"])
def test_a_few_kills_never_leave_a_partial_output(inputs, tmp_path, kind):
  _kills(kind, inputs, tmp_path, seeds=[0, 1])


@pytest.mark.slow  # minutes: CI's second step
@pytest.mark.parametrize("kind", ["forecast", "compress"])
def test_ten_seeds_of_kills_never_leave_a_partial_output(inputs, tmp_path, kind):
  _kills(kind, inputs, tmp_path, seeds=range(10))
