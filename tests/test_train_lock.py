"""The workdir lock: one ``train`` per workdir, the holder named to a second one, a stale lock
(its process dead) taken over."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from lowrank_ts.training import workdir_lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = socket.gethostname()


def _dead_pid() -> int:
  child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True)
  return int(child.stdout)


@pytest.mark.parametrize("content", ["dead process", "empty"])
def test_a_stale_lock_is_taken_over_and_then_names_its_new_holder(tmp_path, content):
  path = tmp_path / workdir_lock.LOCK_FILE
  path.write_text(json.dumps({"pid": _dead_pid(), "host": HOST}) if content != "empty" else "")
  lock = workdir_lock.WorkdirLock(str(tmp_path))
  assert json.loads(path.read_text()) == {"pid": os.getpid(), "host": HOST}
  with pytest.raises(ValueError, match=(
      rf"^workdir '{tmp_path}' is in use by process {os.getpid()} on host {HOST} \(lock file "
      rf"{path}\): wait for that run to end or use another --workdir$")):
    workdir_lock.WorkdirLock(str(tmp_path))
  lock.release()
  assert not path.exists()
  workdir_lock.WorkdirLock(str(tmp_path)).release()  # free again


@pytest.mark.slow  # over 15 s: CI's second step
def test_two_runs_started_together_one_trains_and_the_other_names_it(tmp_path):
  gate = tmp_path / "gate"  # holds the winner at its first batch until the loser has ended
  env = {**os.environ, "PYTHONPATH": ROOT, "GATE": str(gate), "TQDM_DISABLE": "1"}
  args = ["--config", "cpu-test", "--workdir", str(tmp_path / "run"), "--steps", "2"]
  runs = [subprocess.Popen([sys.executable, "tests/train_child.py", *args], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
  try:
    deadline = time.monotonic() + 300
    while all(r.poll() is None for r in runs):
      assert time.monotonic() < deadline, "neither run ended within 300 s"
      time.sleep(0.05)
    loser = next(r for r in runs if r.poll() is not None)
    winner = next(r for r in runs if r is not loser)
    gate.touch()
    assert winner.wait(timeout=300) == 0, winner.stderr.read()[-3000:]
  finally:  # a failed check leaves no run behind
    for r in runs:
      if r.poll() is None:
        r.kill()
        r.wait()
  err = loser.stderr.read()
  assert loser.returncode == 1 and "Traceback" not in err, err[-3000:]
  (line,) = err.strip().splitlines()
  assert line == (f"lowrank-ts train: error: workdir '{tmp_path / 'run'}' is in use by "
                  f"process {winner.pid} on host {HOST} (lock file "
                  f"{tmp_path / 'run' / 'train.lock'}): wait for that run to end or use another "
                  f"--workdir"), line
  assert not (tmp_path / "run" / "train.lock").exists()
