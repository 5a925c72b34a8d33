"""Checkpoint integrity: checksums recorded for every file of a checkpoint and checked on restore,
the fall-back to the newest intact checkpoint, stray step folders, and when a run's config is
recorded."""

import dataclasses
import json
import os
import shutil

import jax
import numpy as np
import pytest

from lowrank_ts.training import checkpoints, loop
from lowrank_ts.training.config import TRAIN_CONFIGS

# Checkpoints at steps 2 and 4; a resume from step 2 redoes steps 3 and 4.
FAST = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], learning_rate=3e-2, log_every=1, steps=4,
                           checkpoint_every=2, keep_checkpoints=3)


# Every train() call builds a fresh jitted step; identical ones reuse the compiled program.
pytestmark = pytest.mark.usefixtures("compilation_cache")


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves({k: state[k] for k in ("params", "opt_state")})]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished FAST run (checkpoints 2 and 4) and its final params and AdamW state."""
  workdir = tmp_path_factory.mktemp("finished")
  return workdir, _leaves(loop.train(FAST, str(workdir), progress=False))


def _copy(finished, tmp_path):
  shutil.copytree(finished[0], tmp_path / "run")
  return tmp_path / "run"


def _largest_file(folder):
  files = [os.path.join(root, n) for root, _, names in os.walk(folder) for n in names]
  return max(files, key=os.path.getsize)


def _warnings(capfd) -> list[str]:
  return [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("damage", ["flip one bit", "overwrite 4 KiB"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(finished, tmp_path, capfd,
                                                                     damage):
  run = _copy(finished, tmp_path)
  path = _largest_file(run / "checkpoints" / "4")  # the parameters and AdamW moments
  with open(path, "r+b") as f:
    middle = os.path.getsize(path) // 2
    f.seek(middle)
    old = f.read(4096 if damage == "overwrite 4 KiB" else 1)
    f.seek(middle)
    f.write(bytes(b ^ 0xFF for b in old) if len(old) > 1 else bytes([old[0] ^ 1]))
  capfd.readouterr()
  resumed = loop.train(FAST, str(run), progress=False)
  (line,) = _warnings(capfd)
  relative = os.path.relpath(path, run / "checkpoints" / "4")
  assert (f"checkpoint {run / 'checkpoints' / '4'} cannot be restored (corrupt: {relative} "
          f"differs from its recorded SHA-256); resuming from step 2 instead") in line, line
  assert str(run / "discarded_checkpoints" / "4") in line
  # Steps 3 and 4 were redone from checkpoint 2: the same state as the uninterrupted run.
  for a, b in zip(finished[1], _leaves(resumed), strict=True):
    assert np.array_equal(a, b)
  assert checkpoints.checkpoint_steps(str(run)) == [2, 4]
  assert checkpoints.verify(str(run / "checkpoints" / "4")) is None


def _damage(folder, kind):
  path = _largest_file(folder)
  relative = os.path.relpath(path, folder)
  if kind == "bit flip":
    with open(path, "r+b") as f:
      byte = f.read(1)
      f.seek(0)
      f.write(bytes([byte[0] ^ 0x80]))
    return f"{relative} differs from its recorded SHA-256"
  if kind == "truncated":
    size = os.path.getsize(path)
    os.truncate(path, size // 2)
    return f"{relative} has {size // 2} bytes, {size} recorded"
  if kind == "missing":
    os.remove(path)
    return f"1 recorded file(s) missing, e.g. {relative}"
  if kind == "added":
    (folder / "state" / "extra").write_bytes(b"x")
    return f"1 file(s) not in checksums.json, e.g. {os.path.join('state', 'extra')}"
  (folder / checkpoints.MANIFEST).write_text("{not json")
  return "unreadable checksums.json (JSONDecodeError)"


@pytest.mark.parametrize("kind", ["bit flip", "truncated", "missing", "added", "bad manifest"])
def test_verify_names_what_differs_from_the_recorded_checksums(finished, tmp_path, kind):
  folder = tmp_path / "4"
  shutil.copytree(finished[0] / "checkpoints" / "4", folder)
  recorded = json.loads((folder / checkpoints.MANIFEST).read_text())["files"]
  # Every file Orbax wrote is recorded (the manifest covers the whole step folder).
  assert sorted(recorded) == sorted(
      os.path.relpath(os.path.join(r, n), folder) for r, _, names in os.walk(folder)
      for n in names if n != checkpoints.MANIFEST)
  assert checkpoints.verify(str(folder)) is None
  expected = _damage(folder, kind)
  assert checkpoints.verify(str(folder)) == expected


def test_stray_step_folders_are_set_aside_and_the_run_resumes(finished, tmp_path, capfd):
  run = _copy(finished, tmp_path)
  shutil.rmtree(run / "checkpoints" / "4")  # killed after step 3, say
  (run / "checkpoints" / "3").mkdir()  # an empty stray folder
  (run / "checkpoints" / "4" / "state").mkdir(parents=True)  # unfinished: no Orbax metadata
  (run / "checkpoints" / "4" / "state" / "_METADATA").write_text("{}")
  assert checkpoints.checkpoint_steps(str(run)) == [2]
  capfd.readouterr()
  resumed = loop.train(FAST, str(run), progress=False)
  (line,) = _warnings(capfd)  # the empty folder goes without a word
  assert (f"step folder {run / 'checkpoints' / '4'} is not a finished checkpoint" in line
          and "resuming from step 2 instead" in line), line
  for a, b in zip(finished[1], _leaves(resumed), strict=True):
    assert np.array_equal(a, b)
  assert sorted(os.listdir(run / "checkpoints")) == ["2", "4"]
  assert os.listdir(run / "discarded_checkpoints") == ["4"]


def test_a_checkpoint_without_checksums_is_restored_with_a_warning(finished, tmp_path, capfd):
  run = _copy(finished, tmp_path)
  os.remove(run / "checkpoints" / "4" / checkpoints.MANIFEST)  # as Orbax alone leaves it
  capfd.readouterr()
  resumed = loop.train(FAST, str(run), progress=False)
  (line,) = _warnings(capfd)
  assert f"checkpoint {run / 'checkpoints' / '4'} has no checksums.json" in line, line
  for a, b in zip(finished[1], _leaves(resumed), strict=True):
    assert np.array_equal(a, b)


def test_no_restorable_checkpoint_is_refused_naming_each(finished, tmp_path):
  run = _copy(finished, tmp_path)
  for step in ("2", "4"):
    os.truncate(_largest_file(run / "checkpoints" / step), 10)
  with pytest.raises(ValueError, match=r"no checkpoint in .* can be restored: checkpoint "
                                       r".*/4 cannot be restored \(corrupt: .*; checkpoint "
                                       r".*/2 cannot be restored"):
    loop.train(FAST, str(run), progress=False)
  assert sorted(os.listdir(run / "checkpoints")) == ["2", "4"]  # nothing moved


def test_checkpoints_without_their_config_are_refused(finished, tmp_path):
  run = _copy(finished, tmp_path)
  os.remove(run / "train_config.json")
  with pytest.raises(ValueError, match=r"holds checkpoints but no train_config\.json"):
    loop.train(dataclasses.replace(FAST, learning_rate=1e-2), str(run), progress=False)
  assert not (run / "train_config.json").exists()


def test_a_run_that_fails_at_start_records_no_config(tmp_path):
  bad = dataclasses.replace(FAST, kernel_synth_path=str(tmp_path / "missing.npy"))
  with pytest.raises(ValueError, match="kernel_synth_path .*missing.npy"):
    loop.train(bad, str(tmp_path / "run"), progress=False)
  assert not (tmp_path / "run" / "train_config.json").exists()
  # The corrected command is not refused as a changed config.
  loop.train(FAST, str(tmp_path / "run"), progress=False, stop_after=1)
  assert checkpoints.read_config(str(tmp_path / "run")) == FAST
