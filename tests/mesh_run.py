"""One short training run of ``cpu-test`` on a given mesh, saved for the mesh-equivalence tests.

``python tests/mesh_run.py D,F OUT.npz`` saves the first batch (as the mesh assembles it), the
loss and gradients of that batch at initialisation, the losses of a 3-step run and its final
parameters. ``tests/test_train.py`` runs it on an 8-device (2, 4) mesh and on (1, 1);
``tests/test_train_multihost.py`` calls :func:`run` in two processes joined by
``jax.distributed``. :func:`assert_same_training` is what both tests require of two runs.
"""

import dataclasses
import os
import sys
import tempfile

import jax
import numpy as np
from jax.experimental import multihost_utils

from lowrank_ts.training import data, loop
from lowrank_ts.training.config import TRAIN_CONFIGS
from lowrank_ts.training.trainer import Trainer

STEPS = 3


def _gather(tree):
  """Host copies of a (possibly multi-process) sharded pytree's leaves, in leaf order."""
  if jax.process_count() > 1:  # a collective: every process calls it
    tree = multihost_utils.process_allgather(tree, tiled=True)
  return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def run(mesh_shape: tuple[int, int], workdir: str | None = None) -> dict[str, np.ndarray]:
  """The run's arrays (every process returns them; ``workdir`` must be shared by the processes
  of a multi-process run). Each process feeds only its devices' rows of every batch."""
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], learning_rate=3e-2, log_every=1,
                               mesh_shape=mesh_shape)
  trainer = Trainer(config)
  state, rest = trainer.init()
  pipe = data.make_pipeline(config)
  if jax.process_count() > 1:
    pipe.set_rows(trainer.local_rows())
  batch = trainer.shard_batch(trainer.abstract_model.training_batch(next(pipe)))
  loss0, grads = jax.jit(jax.value_and_grad(trainer.loss))(state["params"], rest, batch)
  with tempfile.TemporaryDirectory() as tmp:
    d = workdir or tmp
    final = loop.train(config, d, progress=False, stop_after=STEPS)
    losses = (np.loadtxt(os.path.join(d, "metrics.csv"), delimiter=",", skiprows=1, usecols=1,
                         ndmin=1) if jax.process_index() == 0 else np.zeros(0))
  specs = [str(p.sharding.spec) for p in jax.tree.leaves(final["params"])]
  out = {"loss0": np.asarray(loss0), "losses": losses, "rows": np.asarray(trainer.local_rows()),
         "fsdp_sharded": np.asarray(any("fsdp" in s for s in specs))}
  for name, tree in (("batch", batch), ("init", state["params"]), ("grad", grads),
                     ("final", final["params"])):
    for i, leaf in enumerate(_gather(tree)):
      out[f"{name}_{i}"] = leaf
  return out


LOSS_RTOL = 1e-6  # one fp32 mean over the batch's 2 048 tokens, summed in another order (~2 ulp)
GRAD_TOL = 4e-6  # of the leaf's scale: ~eps * sqrt(2048) = 2.7e-6 for reordered fp32 sums
MOVE_TOL = 1e-3  # of the displacement: AdamW's g / sqrt(v) amplifies round-off where g ~ 0


def assert_same_training(one: dict, other: dict) -> dict[str, float]:
  """Asserts that ``other`` trained as ``one`` did, up to fp32 summation order; returns each
  bound's worst measured fraction of itself (1.0 = at the bound).

  Compared: the batch the mesh assembled (bit-identical: data, not arithmetic), the initial
  parameters (bit-identical: the same program on the same key), the losses, each gradient leaf
  relative to the leaf's largest entry, and each leaf's distance from the same run's final
  parameters relative to the distance it moved. A dropped, doubled or misplaced shard of the
  batch changes the batch by O(1) and the loss, gradients and update by O(1) of themselves.
  Parameters after AdamW steps are never compared elementwise at an absolute tolerance: the
  update divides each element by sqrt(v), so where a gradient is ~0 its round-off is scaled up
  to ~lr, and such a test passes or fails with the machine's summation order.
  """
  assert sorted(one) == sorted(other)
  worst = {"loss": 0.0, "grad": 0.0, "move": 0.0}
  for i in range(sum(k.startswith("batch_") for k in one)):
    np.testing.assert_array_equal(other[f"batch_{i}"], one[f"batch_{i}"], err_msg=f"batch {i}")
  for key in ("losses", "loss0"):
    np.testing.assert_allclose(other[key], one[key], rtol=LOSS_RTOL, err_msg=key)
    rel = np.abs(other[key] - one[key]) / np.abs(one[key])
    worst["loss"] = max(worst["loss"], float(rel.max()) / LOSS_RTOL)
  for i in range(sum(k.startswith("grad_") for k in one)):
    assert np.array_equal(other[f"init_{i}"], one[f"init_{i}"]), f"init {i}"
    g1, g2 = one[f"grad_{i}"], other[f"grad_{i}"]
    grad = np.abs(g2 - g1).max() / np.abs(g1).max()
    assert grad <= GRAD_TOL, f"gradient {i}: {grad:.3g} of its scale > {GRAD_TOL}"
    moved = np.linalg.norm(one[f"final_{i}"] - one[f"init_{i}"])
    diff = np.linalg.norm(other[f"final_{i}"] - one[f"final_{i}"])
    assert diff <= MOVE_TOL * moved, f"final {i}: {diff:.3g} off after moving {moved:.3g}"
    worst["grad"] = max(worst["grad"], float(grad) / GRAD_TOL)
    worst["move"] = max(worst["move"], float(diff / moved) / MOVE_TOL)
  return worst


if __name__ == "__main__":
  shape = tuple(int(n) for n in sys.argv[1].split(","))
  assert jax.device_count() == shape[0] * shape[1], jax.device_count()
  np.savez(sys.argv[2], **run(shape))
