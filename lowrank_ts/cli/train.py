"""Pretraining of Chronos / Chronos-Bolt (and their low-rank variants) with exact resume.

``lowrank-ts train --config NAME --workdir DIR [--steps N] [--field=value ...]``

``NAME`` is a recipe of :data:`lowrank_ts.training.config.TRAIN_CONFIGS` or a model config name;
``--field=value`` overrides any :class:`~lowrank_ts.training.config.TrainConfig` field (e.g.
``--mesh_shape=2,4``, ``--attention=reduced_head_size:power:4,0.3``). Rerunning the same command
resumes from the latest checkpoint in ``DIR/checkpoints`` (:func:`lowrank_ts.training.loop.train`);
a resume with settings that change the training steps is refused. Metrics go to
``DIR/metrics.csv`` and ``DIR/tensorboard``; the loss curve to ``DIR/loss_curve.png``. A bad
argument exits with status 2, an unreadable workdir file (its config, a checkpoint) with 1, each
with one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import jax

from lowrank_ts import sharding
from lowrank_ts.cli import exits
from lowrank_ts.training import config as train_config
from lowrank_ts.training import loop, metrics


def parse_config(name: str, overrides: list[str], steps: int | None) -> train_config.TrainConfig:
  """The :class:`TrainConfig` named ``name`` with ``--field=value`` ``overrides`` (and
  ``steps``) applied; a ValueError naming the argument otherwise."""
  values = {}
  for item in overrides:
    if not item.startswith("--") or "=" not in item:
      raise ValueError(f"overrides must look like --field=value, got {item!r}")
    key, value = item[2:].split("=", 1)
    values[key] = value
  if steps is not None:
    values["steps"] = str(steps)
  return train_config.with_overrides(train_config.named_train_config(name), values)


@exits.interruptible("lowrank-ts train")
def main(argv=None):
  parser = argparse.ArgumentParser(prog="lowrank-ts train",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--config", required=True, help="a TRAIN_CONFIGS or model config name")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--steps", type=int, default=None)
  parser.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() first (multi-host TPU/GPU)")
  args, extra = parser.parse_known_args(argv)
  # Every field is set as --field=value (and --steps), so a message names it that way.
  flags = {field.name: f"--{field.name}" for field in dataclasses.fields(train_config.TrainConfig)}
  with exits.on_error(parser, exits.USAGE, flags=flags):
    config = parse_config(args.config, extra, args.steps)
  if args.distributed:  # pragma: no cover (multi-host)
    jax.distributed.initialize()
  with exits.on_error(parser, exits.USAGE):  # the mesh against this machine's devices
    sharding.make_mesh(config.mesh_shape)
  with exits.on_error(parser, exits.DATA, FloatingPointError):  # a NaN loss stops the run
    state = loop.train(config, args.workdir)
  if jax.process_index() == 0:
    metrics.plot_loss_curve(os.path.join(args.workdir, "metrics.csv"),
                            os.path.join(args.workdir, "loss_curve.png"))
  print(f"trained to step {int(state['step'])}; checkpoints in {args.workdir}/checkpoints")


if __name__ == "__main__":
  main()
