"""One short training run of ``cpu-test`` on a given mesh, saved for the mesh-equivalence test.

``python tests/mesh_run.py D,F OUT.npz`` saves the loss and gradients of the
first batch at initialisation, the losses of a 3-step run and its final parameters. The test
runs it once on an 8-device (2, 4) mesh in a subprocess and once in-process on (1, 1).
"""

import dataclasses
import sys
import tempfile

import jax
import numpy as np

from lowrank_ts.training import data, loop
from lowrank_ts.training.config import TRAIN_CONFIGS
from lowrank_ts.training.trainer import Trainer

STEPS = 3


def run(mesh_shape: tuple[int, int]) -> dict[str, np.ndarray]:
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], learning_rate=3e-2, log_every=1,
                               mesh_shape=mesh_shape)
  trainer = Trainer(config)
  state, rest = trainer.init()
  batch = trainer.shard_batch(trainer.abstract_model.training_batch(next(data.make_pipeline(config))))
  loss0, grads = jax.jit(jax.value_and_grad(trainer.loss))(state["params"], rest, batch)
  with tempfile.TemporaryDirectory() as d:
    final = loop.train(config, d, progress=False, stop_after=STEPS)
    losses = np.loadtxt(f"{d}/metrics.csv", delimiter=",", skiprows=1, usecols=1, ndmin=1)
  specs = [str(p.sharding.spec) for p in jax.tree.leaves(final["params"])]
  out = {"loss0": np.asarray(loss0), "losses": losses,
         "fsdp_sharded": np.asarray(any("fsdp" in s for s in specs))}
  for name, tree in (("init", state["params"]), ("grad", grads), ("final", final["params"])):
    for i, leaf in enumerate(jax.tree.leaves(tree)):
      out[f"{name}_{i}"] = np.asarray(leaf)
  return out


if __name__ == "__main__":
  shape = tuple(int(n) for n in sys.argv[1].split(","))
  assert jax.device_count() == shape[0] * shape[1], jax.device_count()
  np.savez(sys.argv[2], **run(shape))
