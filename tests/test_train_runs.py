"""Whole training runs: SIGKILL and resume, the recorded config, metrics files, TensorBoard,
checkpoint loading and the learning curve."""

import csv
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from flax import nnx
from tensorboard.backend.event_processing import event_accumulator

from lowrank_ts import evaluation
from lowrank_ts.cli import learning_curve
from lowrank_ts.evaluation import checkpoint_scores as curve
from lowrank_ts.training import checkpoints, data, loop
from lowrank_ts.training.config import TRAIN_CONFIGS, TrainConfig

FAST = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], learning_rate=3e-2, log_every=1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The CLI, with every batch delayed by 50 ms when SLOW is set, so that a kill lands mid-run.
CHILD = textwrap.dedent("""
    import os, sys, time
    from lowrank_ts.cli import train
    from lowrank_ts.training import data
    if os.environ.get("SLOW"):
      make = data.make_pipeline
      def slow_pipeline(config):
        pipe = make(config)
        nxt = type(pipe).__next__
        type(pipe).__next__ = lambda self: (time.sleep(0.05), nxt(self))[1]
        return pipe
      data.make_pipeline = slow_pipeline
    train.main(sys.argv[1:])
""")


def _cli(workdir, slow=False):
  args = ["--config", "cpu-test", "--workdir", str(workdir), "--steps", "60",
          "--checkpoint_every=7", "--log_every=1", "--keep_checkpoints=2"]
  env = {**os.environ, "SLOW": "1" if slow else "", "PYTHONPATH": ROOT}
  return subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


@pytest.mark.slow  # over 15 s: CI's second step
def test_sigkill_mid_training_then_rerun_gives_identical_parameters(tmp_path):
  reference = _cli(tmp_path / "reference")
  killed = _cli(tmp_path / "killed", slow=True)
  deadline = time.monotonic() + 300

  def past_a_checkpoint():  # a checkpoint at step >= 14 and 2 unsaved steps logged after it
    kept = checkpoints.checkpoint_steps(tmp_path / "killed")
    path = tmp_path / "killed" / "metrics.csv"
    if not kept or kept[-1] < 14 or not path.exists():
      return False
    logged = [int(r["step"]) for r in _rows(path)]
    return bool(logged) and logged[-1] >= kept[-1] + 2

  while not past_a_checkpoint():
    assert killed.poll() is None, killed.stderr.read().decode()[-2000:]
    assert time.monotonic() < deadline, "no checkpoint within 300 s"
    time.sleep(0.01)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert killed.returncode == -signal.SIGKILL
  assert checkpoints.checkpoint_steps(tmp_path / "killed")[-1] < 60, \
      "the run finished before the kill"
  resumed = _cli(tmp_path / "killed")  # the same command, rerun
  assert resumed.wait() == 0, resumed.stderr.read().decode()[-2000:]
  assert reference.wait() == 0, reference.stderr.read().decode()[-2000:]
  a = checkpoints.load_model(str(tmp_path / "reference"))
  b = checkpoints.load_model(str(tmp_path / "killed"))
  leaves_a, leaves_b = (jax.tree.leaves(nnx.state(m, nnx.Param)) for m in (a, b))
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b, strict=True):
    assert np.array_equal(np.asarray(x), np.asarray(y))
  # The metrics file has each step once (rows past the restored checkpoint were dropped), the
  # same losses as the uninterrupted run, and a non-decreasing cumulative wall time.
  ref_rows = _rows(tmp_path / "reference" / "metrics.csv")
  rows = _rows(tmp_path / "killed" / "metrics.csv")
  assert [int(r["step"]) for r in rows] == list(range(1, 61))
  assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]
  elapsed = [float(r["elapsed_s"]) for r in rows]
  assert all(b >= a for a, b in itertools.pairwise(elapsed))


def test_resume_with_a_different_config_is_refused(tmp_path):
  config = dataclasses.replace(FAST, steps=2)
  loop.train(config, str(tmp_path), progress=False)
  assert checkpoints.read_config(str(tmp_path)) == config
  with pytest.raises(ValueError, match="learning_rate: 0.03 -> 0.01"):
    loop.train(dataclasses.replace(config, learning_rate=1e-2), str(tmp_path), progress=False)
  with pytest.raises(ValueError, match="steps: 2 -> 4"):
    loop.train(dataclasses.replace(config, steps=4), str(tmp_path), progress=False)
  # Logging and checkpoint cadence do not change the steps: allowed.
  loop.train(dataclasses.replace(config, log_every=2), str(tmp_path), progress=False)


def test_tensorboard_scalars_equal_the_csv(tmp_path):
  loop.train(dataclasses.replace(FAST, steps=6), str(tmp_path), progress=False)
  acc = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  acc.Reload()
  rows = _rows(tmp_path / "metrics.csv")
  for name in ("loss", "grad_norm", "lr", "elapsed_s"):
    events = acc.Scalars(f"train/{name}")
    assert [e.step for e in events] == [int(r["step"]) for r in rows]
    # TensorBoard stores float32: equal after rounding the CSV's float64 text.
    np.testing.assert_array_equal([e.value for e in events],
                                  np.float32([float(r[name]) for r in rows]))


@pytest.mark.slow  # over 15 s: CI's second step
def test_learning_curve_scores_every_checkpoint_like_evaluate(tmp_path):
  config = dataclasses.replace(FAST, model="chronos-bolt-cpu-h16", steps=8, checkpoint_every=4,
                               context_length=None, prediction_length=None, min_past=16)
  loop.train(config, str(tmp_path / "run"), progress=False)
  rows = curve.learning_curve(str(tmp_path / "run"), progress=False)
  assert [int(r["step"]) for r in rows] == [4, 8]
  # Scoring is resumable: a second call finds both steps done and evaluates nothing.
  again = curve.learning_curve(str(tmp_path / "run"), progress=False)
  assert [float(r["relative_wql"]) for r in again] == [float(r["relative_wql"]) for r in rows]
  # The latest checkpoint exported to a HF folder scores the same through evaluate's CLI path.
  learning_curve.main(["--workdir", str(tmp_path / "run"), "--export", str(tmp_path / "hf")])
  scores = evaluation.run(str(tmp_path / "hf"), "real", tmp_path / "eval")
  # rtol 1e-6: the same float32 forecasts; only the summation order of the scores may differ.
  np.testing.assert_allclose(float(rows[-1]["relative_wql"]), scores["wql"], rtol=1e-6)
  np.testing.assert_allclose(float(rows[-1]["relative_mase"]), scores["mase"], rtol=1e-6)
  assert (tmp_path / "run" / "learning_curve_real.png").read_bytes()[:4] == b"\x89PNG"


def test_load_model_errors_name_the_problem(tmp_path):
  with pytest.raises(ValueError, match="no train_config.json"):
    checkpoints.load_model(str(tmp_path))
  loop.train(dataclasses.replace(FAST, steps=2, checkpoint_every=1, keep_checkpoints=5),
              str(tmp_path), progress=False)
  with pytest.raises(ValueError, match=r"step must be one of the kept checkpoints \[1, 2\]"):
    checkpoints.load_model(str(tmp_path), step=3)


def test_learning_curve_without_checkpoints_names_the_workdir(tmp_path):
  with pytest.raises(ValueError, match="has no checkpoints"):
    curve.learning_curve(str(tmp_path))


@pytest.mark.parametrize("rows", [[], [0, 0], [8], [-1]])
def test_pipeline_rows_must_be_distinct_indices_of_the_batch(rows):
  pipe = data.make_pipeline(FAST)  # batch_size 8
  with pytest.raises(ValueError, match="rows"):
    pipe.set_rows(rows)
  pipe.set_rows([1, 3])  # a valid subset gives exactly those rows of the full batch
  part, full = pipe.batch_at(0, [1, 3]), pipe.batch_at(0)
  for key in full:
    np.testing.assert_array_equal(part[key], full[key][[1, 3]])


def test_dataset_weighting_gives_each_real_series_a_dataset_share():
  config = dataclasses.replace(FAST, real_series=True, tsmixup_weighting="dataset")
  pipe = data.make_pipeline(config)
  pool = config.kernel_synth_series
  weights = pipe._weights  # the draw probabilities are the point of the test
  num_real = len(weights) - pool
  # The KernelSynth pool is one dataset, each real series another: equal shares.
  np.testing.assert_allclose(weights[:pool].sum(), 1 / (num_real + 1), rtol=1e-12)
  np.testing.assert_allclose(weights[pool:], 1 / (num_real + 1), rtol=1e-12)
  with pytest.raises(ValueError, match="tsmixup_weighting"):
    TrainConfig(tsmixup_weighting="by-length")


@pytest.mark.slow  # over 15 s: CI's second step
def test_low_rank_attention_trains_and_reloads(tmp_path):
  from lowrank_ts.models import lowrank

  config = dataclasses.replace(FAST, steps=3, checkpoint_every=3,
                               attention="reduced_head_size:power:2,0.5")
  t5 = config.model_config.t5
  # Flow-of-ranks: d_i = ceil(2 (1 + i)^0.5) per attention index (encoder 0, 1; cross 2, 3).
  assert [s.d_kv for s in t5.encoder_attention] == [2, 3]
  assert [s.d_kv for s in t5.decoder_cross_attention] == [4, 4]
  assert lowrank.attention_size_ratio(t5) < 0.5
  state = loop.train(config, str(tmp_path), progress=False)
  model = checkpoints.load_model(str(tmp_path))
  assert model.config.t5 == t5  # the checkpoint is rebuilt with the low-rank layout
  # The reloaded parameters are the trained ones, bit for bit (a checkpoint is a copy).
  trained = jax.tree.leaves(state["params"])
  reloaded = jax.tree.leaves(nnx.state(model, nnx.Param))
  assert len(trained) == len(reloaded) > 0
  for a, b in zip(trained, reloaded):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  losses = [float(r["loss"]) for r in _rows(tmp_path / "metrics.csv")]
  assert len(losses) == 3 and np.isfinite(losses).all()


@pytest.mark.parametrize("spec, message", [
    ("authors:3", "D0,BETA"), ("shared_sketch:power:1", "power takes 2"),
    ("head_sketch:cubic:2", "schedule must be one of"), ("lowrank", "attention must be"),
    ("reduced_head_size:uniform:x", "attention 'reduced_head_size:uniform:x'")])
def test_bad_attention_spec_names_the_field(spec, message):
  with pytest.raises(ValueError, match=message):
    TrainConfig(attention=spec)
