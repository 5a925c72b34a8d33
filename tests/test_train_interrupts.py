"""SIGINT / SIGTERM end ``train`` with one line and exit 130 / 143, keeping the checkpoints; and
a fault-injection run: ``train`` killed at random moments (SIGKILL and SIGTERM) and rerun ends
bit-identical to an uninterrupted run."""

import csv
import itertools
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.cli import train
from lowrank_ts.data import pipeline
from lowrank_ts.training import checkpoints, metrics
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = "lowrank-ts train"


# Every train() call builds a fresh jitted step; identical ones reuse the compiled program.
pytestmark = pytest.mark.usefixtures("compilation_cache")


def _args(workdir, steps):
  return ["--config", "cpu-test", "--workdir", str(workdir), "--steps", str(steps),
          "--checkpoint_every=2", "--keep_checkpoints=3", "--log_every=1"]


def _params(workdir):
  model = checkpoints.load_model(str(workdir))
  return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.csv"), newline="") as f:
    return [(int(r["step"]), r["loss"]) for r in csv.DictReader(f)]


def _checksums_hold(workdir):
  """Every checkpoint that records checksums matches them (a kill never leaves one that looks
  finished but is partial)."""
  folder = os.path.join(workdir, "checkpoints")
  for name in os.listdir(folder) if os.path.isdir(folder) else []:
    if os.path.exists(os.path.join(folder, name, checkpoints.MANIFEST)):
      assert checkpoints.verify(os.path.join(folder, name)) is None, name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted 6-step run of the CLI."""
  workdir = tmp_path_factory.mktemp("reference")
  train.main(_args(workdir, 6))
  return workdir


@pytest.mark.parametrize("sig, moment", [
    (signal.SIGTERM, "writing checkpoint 2"), (signal.SIGINT, "between steps")],
    ids=["SIGTERM-writing-checkpoint", "SIGINT-between-steps"])
def test_a_signal_mid_run_ends_it_with_one_line_and_the_rerun_is_exact(
    reference, tmp_path, capsys, monkeypatch, sig, moment):
  handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  batch_at, write_manifest = pipeline.InputPipeline.batch_at, checkpoints.write_manifest

  def signalling_batch(self, step, rows=None):  # made in the prefetch thread during step 4
    if step == 4:
      os.kill(os.getpid(), sig)
    return batch_at(self, step, rows)

  def signalling_manifest(folder):  # inside the checkpoint write: it finishes first
    if folder.endswith(f"{os.sep}2"):
      os.kill(os.getpid(), sig)
    write_manifest(folder)

  if moment == "between steps":
    monkeypatch.setattr(pipeline.InputPipeline, "batch_at", signalling_batch)
  else:
    monkeypatch.setattr(checkpoints, "write_manifest", signalling_manifest)
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    train.main(_args(tmp_path / "run", 6))
  err = capsys.readouterr().err
  assert exit_info.value.code == 128 + sig and "Traceback" not in err, err[-3000:]
  kept = checkpoints.checkpoint_steps(str(tmp_path / "run"))
  # Checkpoint 2 written whole; between steps, the signal lands in step 4 or 5.
  assert kept in ([[2]] if moment == "writing checkpoint 2" else [[2], [2, 4]]), kept
  assert err.strip().splitlines()[-1] == (
      f"{PROG}: interrupted by {sig.name}; rerun to resume from step {kept[-1]} "
      f"({tmp_path / 'run' / 'checkpoints'})")
  assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored
  assert not (tmp_path / "run" / "train.lock").exists()
  _checksums_hold(tmp_path / "run")
  monkeypatch.undo()
  train.main(_args(tmp_path / "run", 6))  # the same command, rerun
  for a, b in zip(_params(reference), _params(tmp_path / "run"), strict=True):
    assert np.array_equal(a, b)
  assert _losses(tmp_path / "run") == _losses(reference)


def _spawn(workdir, env):
  return subprocess.Popen([sys.executable, "tests/train_child.py", *_args(workdir, STEPS)],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)


def _logged_step(workdir) -> int:
  try:
    return max((step for step, _ in _losses(workdir)), default=0)
  except (OSError, ValueError, KeyError):  # being rewritten
    return 0


def _holder(lock) -> int | None:
  """The pid in the lock file (a stale one names a killed run): this run's once it trains."""
  try:
    return json.loads(lock.read_text())["pid"]
  except (OSError, ValueError, KeyError):
    return None


def _finished_before(run, sig, workdir, lock) -> bool:
  """Whether a SIGTERM found the run already done: its last step logged and checkpointed, the
  lock released and the command's handlers restored, so the signal's default action ended the
  interpreter on its way out (-15). A SIGTERM that lands earlier meets the handler (143)."""
  return (sig == signal.SIGTERM and run.returncode == -signal.SIGTERM
          and _logged_step(workdir) == STEPS and not lock.exists()
          and checkpoints.checkpoint_steps(str(workdir))[-1:] == [STEPS])


STEPS, KILLS = 24, 10  # KILLS alternate SIGKILL and SIGTERM, at moments drawn from seed 0


@pytest.mark.slow  # minutes: CI's second step
def test_random_kills_and_reruns_end_bit_identical_to_an_uninterrupted_run(tmp_path):
  cache = tmp_path / "jax_cache"  # filled by the reference run: the killed runs only read it
  env = {**os.environ, "PYTHONPATH": ROOT, "TQDM_DISABLE": "1", "SLOW": "0.1",
         "JAX_COMPILATION_CACHE_DIR": str(cache),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
         "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
  reference = _spawn(tmp_path / "reference", env)
  assert reference.wait(timeout=600) == 0, reference.stderr.read()[-3000:]
  rng = np.random.default_rng(0)
  workdir, lock = tmp_path / "run", tmp_path / "run" / "train.lock"
  interrupted = 0
  for sig in itertools.islice(itertools.cycle([signal.SIGKILL, signal.SIGTERM]), KILLS):
    # A third of the kills land while the run starts (restoring, compiling), the rest after a
    # random step, at a random moment inside the following one (perhaps a checkpoint write).
    # The steps a killed run logged past its checkpoint are dropped and logged again.
    during_start = rng.random() < 1 / 3
    target = _logged_step(workdir) + int(rng.integers(1, 5))
    delay = float(rng.uniform(0, 2.0 if during_start else 0.25))
    run = _spawn(workdir, env)
    def ready(pid=run.pid, during_start=during_start, target=target):
      return _holder(lock) == pid and (during_start or _logged_step(workdir) >= target)

    err, _ = helpers.interrupt(run, sig, ready, delay)
    if run.returncode == 0 or _finished_before(run, sig, workdir, lock):
      continue
    interrupted += 1
    if sig == signal.SIGKILL:
      assert run.returncode == -signal.SIGKILL, err[-3000:]
    else:
      lines = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
      assert run.returncode == 143 and "Traceback" not in err, err[-3000:]
      assert len(lines) == 1 and lines[0].startswith(f"{PROG}: interrupted by SIGTERM"), err
      assert not lock.exists()
    _checksums_hold(workdir)
  assert interrupted > KILLS // 2  # the run was not over before most kills
  last = _spawn(workdir, env)
  assert last.wait(timeout=600) == 0, last.stderr.read()[-3000:]
  for a, b in zip(_params(tmp_path / "reference"), _params(workdir), strict=True):
    assert np.array_equal(a, b)
  assert _losses(workdir) == _losses(tmp_path / "reference")
  assert [step for step, _ in _losses(workdir)] == list(range(1, STEPS + 1))


def test_a_metrics_row_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
  path = tmp_path / "metrics.csv"
  with open(path, "w", newline="") as f:
    f.write("step,loss,grad_norm,lr,steps_per_s,elapsed_s\r\n1,2.5,0.1,0.001,3.0,0.3\r\n2,2.4")
  metrics.MetricsCSV(str(path), resume_step=4).close()  # "2,2.4": cut off mid-row
  with open(path, newline="") as f:
    assert [r["step"] for r in csv.DictReader(f)] == ["1"]
