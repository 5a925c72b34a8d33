"""A run's checkpoints and recorded configuration in its workdir.

``WORKDIR/checkpoints``: an Orbax ``CheckpointManager`` (``args=`` API, keep-N) of the train
state ``{params, opt_state, step}`` beside the input pipeline's ``{seed, step}``, restored into
the abstract sharded target. ``WORKDIR/train_config.json``: the :class:`TrainConfig` the run was
started with; resuming with settings that change the training steps is refused. Unreadable
files raise a ``ValueError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from lowrank_ts.training.config import TrainConfig
from lowrank_ts.training.trainer import Trainer

CONFIG_FILE = "train_config.json"
# Fields a resumed run may change: they do not alter the sequence of training steps.
RESUMABLE_CHANGES = ("mesh_shape", "log_every", "checkpoint_every", "keep_checkpoints")


# -- the Orbax manager --------------------------------------------------------------------------
def checkpoint_manager(workdir: str, config: TrainConfig) -> ocp.CheckpointManager:
  """The manager of ``workdir/checkpoints`` keeping the last ``config.keep_checkpoints``."""
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                               options=options)


def save(mngr: ocp.CheckpointManager, step: int, state: Any, data_state: Any) -> None:
  """Saves the train ``state`` and the input pipeline's ``data_state`` as checkpoint ``step``."""
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                          data=ocp.args.StandardSave(data_state)))


def _restore(mngr: ocp.CheckpointManager, step: int, **items) -> dict:
  """Checkpoint ``step``'s ``items`` (name -> abstract target); a ValueError naming the
  checkpoint's folder if it cannot be read."""
  try:
    return mngr.restore(step, args=ocp.args.Composite(
        **{name: ocp.args.StandardRestore(target) for name, target in items.items()}))
  except Exception as err:  # Orbax and TensorStore raise many types on unreadable files
    folder = os.path.join(str(mngr.directory), str(step))
    # One line: TensorStore's messages run over several, and Orbax appends a method's repr.
    reason = (str(err).strip().splitlines() or [""])[0].split(" See full TensorStore")[0]
    reason = reason if len(reason) <= 200 else reason[:200] + " ..."
    raise ValueError(f"checkpoint {folder} cannot be restored ({type(err).__name__}: "
                     f"{reason})") from err


def restore_latest(mngr: ocp.CheckpointManager, trainer: Trainer,
                   data_state: Any) -> tuple[Any, Any] | None:
  """``(state, data_state)`` of the latest checkpoint, restored sharded; None if there is none."""
  step = mngr.latest_step()
  if step is None:
    return None
  restored = _restore(mngr, step, state=trainer.abstract_state, data=data_state)
  return restored["state"], restored["data"]


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of the checkpoints kept in ``workdir`` (ascending)."""
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


# -- the run's recorded configuration -----------------------------------------------------------
def read_config(workdir: str) -> TrainConfig:
  """The :class:`TrainConfig` a run in ``workdir`` was started with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise ValueError(f"workdir {workdir!r} has no {CONFIG_FILE} (not a lowrank-ts train run)")
  try:
    with open(path) as f:
      raw = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
    raise ValueError(f"{path} is not a readable JSON file ({err})") from None
  if not isinstance(raw, dict):
    raise ValueError(  # noqa: TRY004 (a bad file, not a bad argument)
        f"{path} must hold a JSON object of TrainConfig fields, got {type(raw).__name__}")
  fields = {f.name for f in dataclasses.fields(TrainConfig)}
  if set(raw) - fields:
    raise ValueError(f"{path} has unknown fields {sorted(set(raw) - fields)}")
  try:
    return TrainConfig(**{**raw, "mesh_shape": tuple(raw.get("mesh_shape", (1, 1)))})
  except (TypeError, ValueError) as err:
    raise ValueError(f"{path}: {err}") from None


def config_differences(recorded: TrainConfig, config: TrainConfig,
                       ignore: tuple[str, ...] = ()) -> list[str]:
  """``"field: recorded -> new"`` for each TrainConfig field (outside ``ignore``) where
  ``config`` differs from the ``recorded`` one."""
  for name, value in (("recorded", recorded), ("config", config)):
    if not isinstance(value, TrainConfig):
      raise ValueError(f"{name} must be a TrainConfig, got {type(value).__name__}")  # noqa: TRY004
  return [f"{f.name}: {getattr(recorded, f.name)!r} -> {getattr(config, f.name)!r}"
          for f in dataclasses.fields(TrainConfig) if f.name not in ignore
          and getattr(recorded, f.name) != getattr(config, f.name)]


def check_reusable(workdir: str, config: TrainConfig, ignore: tuple[str, ...] = ()) -> None:
  """A ValueError naming each differing field when ``workdir`` records a run of another config
  (nothing when it records none): what an experiment calls before reusing a finished run."""
  if not isinstance(config, TrainConfig):
    raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")  # noqa: TRY004
  if not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
    return
  diffs = config_differences(read_config(workdir), config, ignore)
  if diffs:
    raise ValueError(f"run {workdir!r} was trained with other settings (recorded -> wanted: "
                     + "; ".join(diffs) + "): use another --workdir")


def record_config(workdir: str, config: TrainConfig, write: bool = True) -> None:
  """Writes ``config`` to ``workdir`` (when ``write``); refuses to resume a run whose steps it
  would change (a ValueError naming the recorded file and each changed field)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    diffs = config_differences(read_config(workdir), config, ignore=RESUMABLE_CHANGES)
    if diffs:
      raise ValueError(f"{path} records a run with a different config (" + "; ".join(diffs)
                       + "): resume with the same settings or use a new --workdir")
  if not write:
    return
  with open(path + ".tmp", "w") as f:
    json.dump(dataclasses.asdict(config), f, indent=1)
  os.replace(path + ".tmp", path)


# -- finished models ----------------------------------------------------------------------------
def checkpoint_loader(workdir: str):
  """``load(step=None)`` -> the model of ``workdir``'s checkpoint at ``step`` (default: the
  latest). The model structure and non-parameter state are built once, so loading many
  checkpoints (a learning curve) restores only parameters."""
  config = dataclasses.replace(read_config(workdir), mesh_shape=(1, 1))
  if not checkpoint_steps(workdir):
    raise ValueError(f"workdir {workdir!r} has no checkpoints")
  trainer = Trainer(config, jax.devices()[:1])
  _, rest = trainer.init()

  def load(step: int | None = None):
    steps = checkpoint_steps(workdir)
    step = steps[-1] if step is None else step
    if step not in steps:
      raise ValueError(f"step must be one of the kept checkpoints {steps}, got {step!r}")
    mngr = checkpoint_manager(workdir, config)
    try:
      restored = _restore(mngr, step, state=trainer.abstract_state)
    finally:
      mngr.close()
    return nnx.merge(trainer.graphdef, restored["state"]["params"], rest)
  return load


def load_model(workdir: str, step: int | None = None):
  """The model (float32, on one device) of ``workdir``'s checkpoint at ``step`` (default: the
  latest); export it with ``lowrank_ts.interop.hf.save``."""
  return checkpoint_loader(workdir)(step)
