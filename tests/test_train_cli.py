"""The training CLIs' user errors: one line on stderr naming the argument (exit 2) or the file
(exit 1), no traceback."""

import dataclasses
import os
import shutil
import socket
import subprocess
import sys

import pytest

from lowrank_ts.cli import learning_curve, train
from lowrank_ts.training import checkpoints, loop, workdir_lock
from lowrank_ts.training.config import TRAIN_CONFIGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ["--config", "cpu-test", "--steps", "2", "--checkpoint_every=1"]


def _fails(main, argv, capsys) -> tuple[int, str]:
  """``main(argv)``'s exit code and the last line it wrote to stderr."""
  with pytest.raises(SystemExit) as exit_info:
    main(argv)
  lines = capsys.readouterr().err.strip().splitlines()
  return exit_info.value.code, lines[-1]


@pytest.mark.parametrize("args, named", [
    (["--config", "nonexistent"], "config must be one of"),
    (["--config", "cpu-test", "--steps", "-5"], "steps must be >= 1, got -5"),
    (["--config", "cpu-test", "--steps", "x"], "argument --steps: invalid int value"),
    (["--config", "cpu-test", "--learning_rate=fast"], "learning_rate: cannot parse 'fast'"),
    (["--config", "cpu-test", "--batch_size=0"], "batch_size must be >= 1"),
    (["--config", "cpu-test", "--stepz=3"], "unknown config field 'stepz'"),
    (["--config", "cpu-test", "steps=3"], "overrides must look like --field=value"),
    (["--config", "cpu-test", "--attention=lowrank"], "attention must be 'dense'"),
    (["--config", "cpu-test", "--attention=shared_sketch:power:1"],
     "attention 'shared_sketch:power:1'"),
    (["--config", "cpu-test", "--mesh_shape=2,4"], "mesh_shape (2, 4) has 8 devices"),
])
def test_bad_arguments_exit_2_naming_the_argument(tmp_path, capsys, args, named):
  code, line = _fails(train.main, [*args, "--workdir", str(tmp_path / "run")], capsys)
  assert code == 2 and named in line, line
  assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_workdir_of_another_run_exits_1_naming_its_config_file(tmp_path, capsys):
  checkpoints.record_config(str(tmp_path), TRAIN_CONFIGS["cpu-test"])  # a run of 20 steps
  code, line = _fails(train.main, [*RUN, "--workdir", str(tmp_path)], capsys)
  assert code == 1, line
  assert f"{tmp_path / 'train_config.json'} records a run with a different config" in line
  assert "steps: 20 -> 2" in line and "checkpoint_every" not in line  # a resumable change


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not a readable JSON file"), ("[1, 2]", "must hold a JSON object"),
    ('{"steps": -1}', "steps must be >= 1"), ('{"stepz": 1}', "unknown fields ['stepz']")])
def test_a_corrupt_config_file_exits_1_naming_it(tmp_path, capsys, content, problem):
  (tmp_path / "train_config.json").write_text(content)
  code, line = _fails(train.main, [*RUN, "--workdir", str(tmp_path)], capsys)
  assert code == 1 and str(tmp_path / "train_config.json") in line and problem in line, line


# Every train() call builds a fresh jitted step; identical ones reuse the compiled program.
pytestmark = pytest.mark.usefixtures("compilation_cache")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A finished 2-step run with checkpoints at steps 1 and 2 (the CLI's RUN settings)."""
  workdir = tmp_path_factory.mktemp("trained")
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], steps=2, checkpoint_every=1)
  loop.train(config, str(workdir), progress=False)
  return workdir


def test_a_corrupt_checkpoint_is_named_and_resume_falls_back(trained, tmp_path, capsys):
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir)
  (workdir / "checkpoints" / "2" / "state" / "_METADATA").write_text("garbage")
  with pytest.raises(ValueError, match="cannot be restored"):  # loading it as a model
    checkpoints.load_model(str(workdir))
  assert checkpoints.load_model(str(workdir), step=1) is not None  # the intact one loads
  train.main([*RUN, "--workdir", str(workdir)])  # resumes from step 1, redoes step 2
  warnings = [w for w in capsys.readouterr().err.splitlines() if w.startswith("warning:")]
  assert len(warnings) == 1, warnings
  assert (f"checkpoint {workdir / 'checkpoints' / '2'} cannot be restored (corrupt: "
          f"state/_METADATA has 7 bytes" in warnings[0]
          and "resuming from step 1 instead" in warnings[0]), warnings[0]
  assert checkpoints.load_model(str(workdir)) is not None


def test_no_intact_checkpoint_exits_1_naming_each(trained, tmp_path, capsys):
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir)
  for step in ("1", "2"):
    os.remove(workdir / "checkpoints" / step / "state" / "_METADATA")
  code, line = _fails(train.main, [*RUN, "--workdir", str(workdir)], capsys)
  assert code == 1, line
  assert (f"no checkpoint in {workdir / 'checkpoints'} can be restored: checkpoint "
          f"{workdir / 'checkpoints' / '2'} cannot be restored (corrupt: 1 recorded file(s) "
          f"missing, e.g. state/_METADATA); checkpoint {workdir / 'checkpoints' / '1'}") in line


def test_a_workdir_in_use_exits_1_naming_the_holder(tmp_path, capsys):
  held = workdir_lock.WorkdirLock(str(tmp_path))
  try:
    code, line = _fails(train.main, [*RUN, "--workdir", str(tmp_path)], capsys)
  finally:
    held.release()
  assert code == 1, line
  assert (f"workdir {str(tmp_path)!r} is in use by process {os.getpid()} on host "
          f"{socket.gethostname()} (lock file {tmp_path / 'train.lock'})") in line, line
  assert os.listdir(tmp_path) == []  # nothing written; the holder's lock file removed


def test_learning_curve_errors_name_the_workdir(tmp_path, capsys):
  code, line = _fails(learning_curve.main, ["--workdir", str(tmp_path)], capsys)
  assert code == 1 and "has no train_config.json" in line, line
  checkpoints.record_config(str(tmp_path), TRAIN_CONFIGS["cpu-test"])
  code, line = _fails(learning_curve.main, ["--workdir", str(tmp_path)], capsys)
  assert code == 1 and "has no checkpoints" in line, line
  code, line = _fails(learning_curve.main, ["--workdir", str(tmp_path), "--seed", "-1"],
                      capsys)
  assert code == 2 and "--seed must be >= 0" in line, line


@pytest.mark.parametrize("args, code, named", [
    (["--config", "nonexistent", "--workdir", "{tmp}"], 2, "config must be one of"),
    ([*RUN, "--workdir", "{tmp}"], 1, "train_config.json is not a readable JSON file")])
def test_the_real_command_prints_one_line_and_no_traceback(tmp_path, args, code, named):
  (tmp_path / "train_config.json").write_text("{not json")
  out = subprocess.run([sys.executable, "-m", "lowrank_ts", "train",
                        *[a.format(tmp=tmp_path) for a in args]],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True,
                       text=True, timeout=300, check=False)
  assert out.returncode == code, out.stderr[-3000:]
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  assert lines[0].startswith("lowrank-ts train: error: ") and named in lines[0]


def test_nan_loss_ends_the_cli_with_one_line(tmp_path, capsys, monkeypatch):
  import jax.numpy as jnp

  from lowrank_ts.models import Chronos
  real_loss = Chronos.loss
  monkeypatch.setattr(Chronos, "loss", lambda model, batch: real_loss(model, batch) * jnp.nan)
  code, line = _fails(train.main, [*RUN, "--workdir", str(tmp_path)], capsys)
  assert code == 1 and "loss is nan at step 1" in line, line
