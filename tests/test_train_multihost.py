"""Multi-host training, for real: two CPU processes joined by jax.distributed (gloo collectives),
each feeding only the batch rows its devices hold, against one process with the same mesh."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests import mesh_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# argv: process, processes, port, workdir, rows: "own" (the rows its devices hold) or a mutation
# of the assignment that the comparison must catch: "swap" (each host feeds the other's rows) or
# "first" (both feed the first host's rows: the second host's shard is dropped, the first's
# doubled).
CHILD = textwrap.dedent("""
    import os, sys
    process, processes, port, workdir, rows = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                               sys.argv[4], sys.argv[5])
    import jax
    if processes > 1:
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
      jax.distributed.initialize(f"localhost:{port}", num_processes=processes,
                                 process_id=process)
    import numpy as np
    from lowrank_ts.training.trainer import Trainer
    sys.path.insert(0, "tests")  # mesh_run by path: an installed package may also be 'tests'
    import mesh_run
    own = Trainer.local_rows
    def mutated(self):
      n = len(own(self))
      host = 0 if rows == "first" else 1 - jax.process_index()
      return list(range(n * host, n * (host + 1)))
    if rows != "own":
      Trainer.local_rows = mutated
    out = mesh_run.run((2, 2), workdir)
    print("rows", out["rows"].tolist(), flush=True)
    if process == 0:
      np.savez(os.path.join(workdir, "run.npz"), **out)
""")


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _spawn(process, processes, port, workdir, devices, rows="own"):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  return subprocess.Popen([sys.executable, "-c", CHILD, str(process), str(processes), str(port),
                           str(workdir), rows], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(proc):
  out, err = proc.communicate(timeout=400)
  assert proc.returncode == 0, err[-3000:]
  return out


def _runs(tmp_path, rows):
  """(one process on 4 devices, two processes on 2 each, the two hosts' stdout)."""
  port = _free_port()
  hosts = [_spawn(i, 2, port, tmp_path / "two", devices=2, rows=rows) for i in range(2)]
  single = _spawn(0, 1, port, tmp_path / "one", devices=4)
  outs = [_finish(p) for p in hosts]
  _finish(single)
  with np.load(tmp_path / "one" / "run.npz") as one, np.load(tmp_path / "two" / "run.npz") as two:
    return dict(one), dict(two), outs


@pytest.mark.slow  # over 15 s: CI's second step
def test_two_processes_equal_one_process_with_the_same_mesh(tmp_path):
  one, two, outs = _runs(tmp_path, "own")
  # The batch axis spans both hosts: each feeds its own half of the 8 rows.
  assert "rows [0, 1, 2, 3]" in outs[0] and "rows [4, 5, 6, 7]" in outs[1], outs
  # Bounds and reasons in mesh_run; measured worst fraction of each bound (2 CPU cores): loss
  # 0 (bit-identical), gradient 0.045, displacement 0.016.
  print(mesh_run.assert_same_training(one, two))
  # One process writes the run's files.
  with open(tmp_path / "two" / "metrics.csv") as f:
    assert [line.split(",")[0] for line in f.read().split()[1:]] == ["1", "2", "3"]


@pytest.mark.slow  # two more two-process runs
@pytest.mark.parametrize("rows", ["swap", "first"])
def test_a_wrong_row_assignment_fails_the_comparison(tmp_path, rows):
  """The mutation check of the test above: with the hosts' rows swapped, or one host's shard
  dropped, the assembled batch differs from the one-process batch by O(1). A dropped shard also
  fails the loss / gradient / update bounds; a swap cannot, as the loss is a mean over rows (a
  permutation of them is an exact symmetry of loss, gradients and update)."""
  one, two, _ = _runs(tmp_path, rows)
  with pytest.raises(AssertionError, match="batch"):
    mesh_run.assert_same_training(one, two)
  if rows == "first":
    def arithmetic(run):
      return {k: v for k, v in run.items() if not k.startswith("batch_")}
    with pytest.raises(AssertionError, match="losses"):
      mesh_run.assert_same_training(arithmetic(one), arithmetic(two))
