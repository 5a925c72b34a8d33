"""A run's checkpoints and recorded configuration in its workdir.

``WORKDIR/checkpoints``: an Orbax ``CheckpointManager`` (``args=`` API, keep-N) of the train
state ``{params, opt_state, step}`` beside the input pipeline's ``{seed, step}``, restored into
the abstract sharded target. Once Orbax has finished a step, ``STEP/checksums.json`` records the
size and SHA-256 of every other file of its folder; a restore checks them first. Resuming takes
the newest checkpoint that restores: a corrupt or unreadable later one is named in a warning
line and set aside to ``WORKDIR/discarded_checkpoints`` (as are unfinished step folders: no
checksums and no Orbax metadata), since the resumed run writes those steps again.
``WORKDIR/train_config.json``: the :class:`TrainConfig` the run was started with; resuming with
settings that change the training steps, or beside checkpoints without it, is refused.
Unreadable files raise a ``ValueError`` naming the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import threading
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx
from jax.experimental import multihost_utils

from lowrank_ts import checks
from lowrank_ts.training.config import TrainConfig
from lowrank_ts.training.trainer import Trainer

CONFIG_FILE = "train_config.json"
# Fields a resumed run may change: they do not alter the sequence of training steps.
RESUMABLE_CHANGES = ("mesh_shape", "log_every", "checkpoint_every", "keep_checkpoints")
MANIFEST = "checksums.json"  # in a step folder: {"files": {path: {"bytes", "sha256"}}}
ORBAX_FINISHED = "_CHECKPOINT_METADATA"  # what Orbax writes into each step folder it finalises
DISCARDED = "discarded_checkpoints"  # WORKDIR/DISCARDED: step folders a resume set aside
ORBAX_UNFINISHED = re.compile(r"^\d+\.orbax-checkpoint-tmp")  # a step Orbax is writing


# -- checksums of a step folder -----------------------------------------------------------------
def _files(folder: str) -> list[str]:
  """The paths (relative to ``folder``) of every file under it but the manifest, sorted."""
  found = []
  for root, _, names in os.walk(folder):
    found += [os.path.relpath(os.path.join(root, name), folder) for name in names]
  return sorted(p for p in found if p not in (MANIFEST, MANIFEST + ".tmp"))


def _sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(folder: str) -> None:
  """Records the size and SHA-256 of every file of the step ``folder`` in its manifest
  (written to a temporary name, then renamed: a manifest is whole or absent)."""
  files = {}
  for rel in _files(folder):
    path = os.path.join(folder, rel)
    files[rel] = {"bytes": os.path.getsize(path), "sha256": _sha256(path)}
  tmp = os.path.join(folder, MANIFEST + ".tmp")
  with open(tmp, "w") as f:
    json.dump({"files": files}, f, indent=0)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(folder, MANIFEST))


def verify(folder: str) -> str | None:
  """None if every file of the step ``folder`` matches its manifest, else what differs (a
  missing, unrecorded, truncated or changed file, or an unreadable manifest)."""
  try:
    with open(os.path.join(folder, MANIFEST)) as f:
      recorded = json.load(f)["files"]
    sizes = {rel: int(entry["bytes"]) for rel, entry in recorded.items()}
    digests = {rel: str(entry["sha256"]) for rel, entry in recorded.items()}
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
    return f"unreadable {MANIFEST} ({type(err).__name__})"
  try:
    present = set(_files(folder))
    missing, extra = sorted(set(sizes) - present), sorted(present - set(sizes))
    if missing:
      return f"{len(missing)} recorded file(s) missing, e.g. {missing[0]}"
    if extra:
      return f"{len(extra)} file(s) not in {MANIFEST}, e.g. {extra[0]}"
    for rel in sorted(sizes):
      path = os.path.join(folder, rel)
      if os.path.getsize(path) != sizes[rel]:
        return f"{rel} has {os.path.getsize(path)} bytes, {sizes[rel]} recorded"
      if _sha256(path) != digests[rel]:
        return f"{rel} differs from its recorded SHA-256"
  except OSError as err:
    return f"unreadable file ({err})"
  return None


def _finished(folder: str) -> bool:
  """Whether a step folder holds a finished checkpoint: checksums recorded, or (without them:
  written before checksums were, or ended between Orbax's finish and theirs) Orbax's metadata."""
  return any(os.path.isfile(os.path.join(folder, name)) for name in (MANIFEST, ORBAX_FINISHED))


# -- the Orbax manager --------------------------------------------------------------------------
def checkpoint_manager(workdir: str, config: TrainConfig) -> ocp.CheckpointManager:
  """The manager of ``workdir/checkpoints`` keeping the last ``config.keep_checkpoints``."""
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                               options=options)


@contextlib.contextmanager
def _signals_deferred():
  """SIGINT / SIGTERM arriving inside take effect (their handlers run) on leaving: Orbax's
  writer and reader threads are not cut off mid-checkpoint by an exception in the main thread."""
  signals = (signal.SIGINT, signal.SIGTERM)
  handlers = {s: signal.getsignal(s) for s in signals}
  if threading.current_thread() is not threading.main_thread() or None in handlers.values():
    yield  # handlers can only be set from the main thread (and restored when set from Python)
    return
  pending = []
  for s in signals:
    signal.signal(s, lambda signum, frame: pending.append(signum))
  try:
    yield
  finally:
    for s, handler in handlers.items():
      signal.signal(s, handler)
    for signum in dict.fromkeys(pending):
      signal.raise_signal(signum)


def save(mngr: ocp.CheckpointManager, step: int, state: Any, data_state: Any) -> None:
  """Saves the train ``state`` and the input pipeline's ``data_state`` as checkpoint ``step``,
  then (on the primary process) its checksums; SIGINT / SIGTERM wait until both are written."""
  with _signals_deferred():
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                            data=ocp.args.StandardSave(data_state)))
    if jax.process_index() == 0:  # a synchronous save returns once every process's part is final
      write_manifest(os.path.join(str(mngr.directory), str(step)))


def _restore(mngr: ocp.CheckpointManager, step: int, **items) -> dict:
  """Checkpoint ``step``'s ``items`` (name -> abstract target), its checksums checked first
  when recorded; a ValueError naming the checkpoint's folder if it cannot be read."""
  folder = os.path.join(str(mngr.directory), str(step))
  if os.path.isfile(os.path.join(folder, MANIFEST)):
    problem = verify(folder)
    if problem is not None:
      raise ValueError(f"checkpoint {folder} cannot be restored (corrupt: {problem})")
  try:
    with _signals_deferred():
      return mngr.restore(step, args=ocp.args.Composite(
          **{name: ocp.args.StandardRestore(target) for name, target in items.items()}))
  except Exception as err:  # Orbax and TensorStore raise many types on unreadable files
    # One line: TensorStore's messages run over several, and Orbax appends a method's repr.
    reason = (str(err).strip().splitlines() or [""])[0].split(" See full TensorStore")[0]
    reason = reason if len(reason) <= 200 else reason[:200] + " ..."
    raise ValueError(f"checkpoint {folder} cannot be restored ({type(err).__name__}: "
                     f"{reason})") from err


def _warn(message: str) -> None:
  print(f"warning: {message}", file=sys.stderr, flush=True)


def _set_aside(folder: str) -> str | None:
  """Moves the step ``folder`` to ``WORKDIR/discarded_checkpoints`` (removes it if it holds no
  file); where it went."""
  if not _files(folder) and not os.path.exists(os.path.join(folder, MANIFEST)):
    shutil.rmtree(folder)
    return None
  target_dir = os.path.join(os.path.dirname(os.path.dirname(folder)), DISCARDED)
  os.makedirs(target_dir, exist_ok=True)
  target, n = os.path.join(target_dir, os.path.basename(folder)), 1
  while os.path.exists(target):
    target, n = os.path.join(target_dir, f"{os.path.basename(folder)}.{n}"), n + 1
  os.replace(folder, target)
  return target


def restore_latest(mngr: ocp.CheckpointManager, trainer: Trainer,
                   data_state: Any) -> tuple[Any, Any] | None:
  """``(state, data_state)`` of the newest checkpoint that restores (sharded); None if there is
  none. Later step folders (corrupt, unreadable or unfinished) are named in a warning line each
  and set aside, so that the resumed run can write those steps again; a ValueError naming each
  if no finished checkpoint restores."""
  return restore_newest(mngr, trainer.abstract_state, data_state)


def restore_newest(mngr: ocp.CheckpointManager, abstract_state: Any,
                   data_state: Any) -> tuple[Any, Any] | None:
  """:func:`restore_latest` into any abstract state (shape, dtype and sharding per leaf)."""
  directory = str(mngr.directory)
  steps = sorted((int(n) for n in os.listdir(directory) if n.isdigit()), reverse=True)
  failed, restored, good = [], None, None
  for step in steps:
    folder = os.path.join(directory, str(step))
    if not _finished(folder):
      continue
    try:
      restored = _restore(mngr, step, state=abstract_state, data=data_state)
    except ValueError as err:
      failed.append((step, str(err)))
      continue
    good = step
    if not os.path.isfile(os.path.join(folder, MANIFEST)):
      _warn(f"checkpoint {folder} has no {MANIFEST} (written before checksums were recorded, "
            f"or stopped before they were): restored unverified")
    break
  if good is None and failed:
    raise ValueError(f"no checkpoint in {directory} can be restored: "
                     + "; ".join(reason for _, reason in failed)
                     + f" (move {directory} away to start again)")
  reasons, later = dict(failed), [s for s in steps if good is None or s > good]
  for name in os.listdir(directory) if jax.process_index() == 0 else []:
    if ORBAX_UNFINISHED.match(name):  # a write cut off by a kill: Orbax would warn, then do this
      shutil.rmtree(os.path.join(directory, name))
  for step in later if jax.process_index() == 0 else []:
    folder = os.path.join(directory, str(step))
    target = _set_aside(folder)
    if target is None:  # an empty stray folder: nothing to report
      continue
    what = reasons.get(step, f"step folder {folder} is not a finished checkpoint (no "
                             f"{MANIFEST} and no Orbax metadata)")
    _warn(f"{what}; resuming from step {good or 0} instead (step {step} moved to {target})")
  if jax.process_count() > 1:  # the others see the folders set aside before listing steps
    multihost_utils.sync_global_devices("lowrank_ts: checkpoints set aside")
  mngr.reload()
  if restored is None:
    return None
  return restored["state"], restored["data"]


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of the finished checkpoints kept in ``workdir`` (ascending): stray or unfinished
  step folders are not listed."""
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return sorted(int(name) for name in os.listdir(folder)
                if name.isdigit() and _finished(os.path.join(folder, name)))


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


def check_resume(workdir: str, config: TrainConfig) -> None:
  """Refuses to resume a run whose steps ``config`` would change (a ValueError naming the
  recorded file and each changed field), or checkpoints with no recorded config to compare."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    diffs = config_differences(read_config(workdir), config, ignore=RESUMABLE_CHANGES)
    if diffs:
      raise ValueError(f"{path} records a run with a different config (" + "; ".join(diffs)
                       + "): resume with the same settings or use a new --workdir")
  elif checkpoint_steps(workdir):
    raise ValueError(f"workdir {workdir!r} holds checkpoints but no {CONFIG_FILE}, so a resume "
                     f"cannot be checked against their config: restore the file or use a new "
                     f"--workdir")


def record_config(workdir: str, config: TrainConfig, write: bool = True) -> None:
  """Writes ``config`` to ``workdir`` (when ``write``) after :func:`check_resume`."""
  path = os.path.join(workdir, CONFIG_FILE)
  check_resume(workdir, config)
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
    checks.finite_tensors(restored["state"]["params"], f"checkpoint {step} of {workdir}")
    return nnx.merge(trainer.graphdef, restored["state"]["params"], rest)
  return load


def load_model(workdir: str, step: int | None = None):
  """The model (float32, on one device) of ``workdir``'s checkpoint at ``step`` (default: the
  latest); export it with ``lowrank_ts.interop.hf.save``."""
  return checkpoint_loader(workdir)(step)
