"""Pretraining of Chronos / Chronos-Bolt (and their low-rank variants) with exact resume.

``python -m lowrank_ts.train --config NAME --workdir DIR [--steps N] [--field=value ...]``

Parameters and AdamW state are created already sharded on a ``('data', 'fsdp')`` mesh
(:mod:`lowrank_ts.sharding`); the train step is a jitted pure function of pytrees (``nnx.split``
/ ``nnx.merge`` at the boundary) with donated state. Every ``checkpoint_every`` steps (and at
the end) an Orbax ``CheckpointManager`` keeps the last ``keep_checkpoints`` of
``{params, opt_state, step}`` plus the input pipeline's ``{seed, step}``; rerunning the same
command restores the latest into the abstract sharded target and continues with exactly the
batches an uninterrupted run would have seen. A non-finite loss stops training
(``FloatingPointError``) before anything is saved, so the last good checkpoint survives.
Dropout is off (the models' dropout layers are deterministic), so a step is a deterministic
function of (state, batch). The config is kept in ``DIR/train_config.json``: resuming with
settings that change the training steps is refused. Metrics go to ``DIR/metrics.csv`` (step,
loss, grad norm, lr, steps/s, cumulative wall seconds ``elapsed_s``) and to TensorBoard event
files in ``DIR/tensorboard``; the CLI also draws ``DIR/loss_curve.png``.
:func:`load_model` returns the model of any kept checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from lowrank_ts import sharding, tensorboard, xla
from lowrank_ts.data import instances, kernel_synth, pipeline, real_series, tokens
from lowrank_ts.models import BoltConfig, Chronos, ChronosBolt
from lowrank_ts.train_config import TrainConfig, named_train_config, with_overrides

try:  # optional progress bar
  import tqdm
except ImportError:  # pragma: no cover
  tqdm = None


# -- data ---------------------------------------------------------------------------------------
def make_pipeline(config: TrainConfig) -> pipeline.InputPipeline:
  """The seeded input pipeline of ``config`` (KernelSynth pool generated or loaded)."""
  if config.kernel_synth_path:
    pool = np.load(config.kernel_synth_path).astype(np.float32)
  else:
    pool = kernel_synth.kernel_synth(config.kernel_synth_series, config.seed,
                                     length=config.kernel_synth_length)
  real = real_series.training_parts() if config.real_series else []
  sources = list(pool) + real
  weights = None
  if config.tsmixup_weighting == "dataset":
    weights = pipeline.dataset_uniform_weights([len(pool)] + [1] * len(real))
  pipe_config = pipeline.PipelineConfig(
      batch_size=config.batch_size, kernel_synth_weight=config.kernel_synth_weight,
      instance=instances.InstanceConfig(context_length=config.context,
                                        prediction_length=config.horizon,
                                        min_past=config.min_past))
  return pipeline.InputPipeline(pipe_config, kernel_synth_series=pool, tsmixup_sources=sources,
                                seed=config.seed, tsmixup_weights=weights)


def model_batch(config: TrainConfig, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """What the loss needs: tokens for Chronos, float context / target for Bolt."""
  if isinstance(config.model_config(), BoltConfig):
    return {"context": batch["context"], "target": batch["target"]}
  tok = tokens.chronos_batch(batch)
  return {k: tok[k] for k in ("input_ids", "attention_mask", "labels")}


# -- model and loss -----------------------------------------------------------------------------
def build_model(config: TrainConfig, seed: int):
  model_cfg = config.model_config()
  cls = ChronosBolt if isinstance(model_cfg, BoltConfig) else Chronos
  return cls(model_cfg, rngs=nnx.Rngs(seed))


def chronos_loss(model, batch) -> jax.Array:
  """Mean token cross-entropy over labels != -100 (decoder input: labels shifted right)."""
  labels_BT = batch["labels"]
  start = model.config.decoder_start_token_id
  decoder_ids_BT = jnp.concatenate(
      [jnp.full_like(labels_BT[:, :1], start), labels_BT[:, :-1]], axis=1)
  decoder_ids_BT = jnp.where(decoder_ids_BT == tokens.IGNORE_ID, 0, decoder_ids_BT)
  logits_BTV = model(batch["input_ids"], batch["attention_mask"], decoder_ids_BT)
  valid_BT = labels_BT != tokens.IGNORE_ID
  ce_BT = optax.softmax_cross_entropy_with_integer_labels(
      logits_BTV.astype(jnp.float32), jnp.where(valid_BT, labels_BT, 0))
  return jnp.sum(ce_BT * valid_BT) / jnp.maximum(jnp.sum(valid_BT), 1)


def batch_loss(model, batch) -> jax.Array:
  """Cross-entropy on tokens (Chronos) or the quantile loss (Bolt); a float32 scalar."""
  if isinstance(model, ChronosBolt):
    return model.loss(batch["context"], batch["target"]).astype(jnp.float32)
  return chronos_loss(model, batch)


def make_optimizer(config: TrainConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
  schedule = optax.linear_schedule(config.learning_rate, 0.0, config.steps)
  adamw = optax.adamw(schedule, weight_decay=config.weight_decay)
  if config.max_grad_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adamw), schedule
  return adamw, schedule


class Trainer:
  """Sharded state creation, the jitted step and checkpointing for one ``TrainConfig``."""

  def __init__(self, config: TrainConfig, devices=None):
    self.config = config
    self.mesh = sharding.make_mesh(config.mesh_shape, devices)
    self.tx, self.schedule = make_optimizer(config)
    self.compute_dtype = jnp.dtype(config.compute_dtype)
    self.graphdef = nnx.graphdef(nnx.eval_shape(lambda: build_model(config, config.seed)))

    def init():
      model = build_model(config, config.seed)
      _, params, rest = nnx.split(model, nnx.Param, ...)
      state = {"params": params, "opt_state": self.tx.init(params),
               "step": jnp.zeros((), jnp.int32)}
      return state, rest

    abstract_state, abstract_rest = jax.eval_shape(init)
    self.state_sharding = sharding.state_shardings(self.mesh, abstract_state)
    self.rest_sharding = sharding.replicated(self.mesh, abstract_rest)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract_state,
        self.state_sharding)
    self._init = jax.jit(init, out_shardings=(self.state_sharding, self.rest_sharding))
    # On CPU without XLA's YNNPACK fusions: ~30 % faster steps here (lowrank_ts.xla).
    options = xla.compiler_options(self.mesh.devices.flat[0].platform)
    self.step_fn = jax.jit(self._step, donate_argnums=0,
                           out_shardings=(self.state_sharding, None), compiler_options=options)

  def init(self):
    """``(state, rest)``: sharded params / AdamW state / step, and non-parameter model state."""
    return self._init()

  def _step(self, state, rest, batch):
    def loss_fn(params):
      params_c = jax.tree.map(lambda p: p.astype(self.compute_dtype), params)
      return batch_loss(nnx.merge(self.graphdef, params_c, rest), batch)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
    new_state = {"params": optax.apply_updates(state["params"], updates),
                 "opt_state": opt_state, "step": state["step"] + 1}
    return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  def local_rows(self) -> list[int]:
    """The rows of each global batch that live on this process's devices (all of them in a
    single-process run): the rows this process's input pipeline produces."""
    spans = sharding.batch_sharding(self.mesh, 1).addressable_devices_indices_map(
        (self.config.batch_size,)).values()
    return sorted({r for span in spans for r in range(self.config.batch_size)[span[0]]})

  def shard_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """Global arrays from this process's rows (:meth:`local_rows`) of a batch."""
    out = {}
    for k, v in batch.items():
      shape = (self.config.batch_size, *v.shape[1:])
      out[k] = jax.make_array_from_process_local_data(
          sharding.batch_sharding(self.mesh, v.ndim), v, shape)
    return out


# -- checkpoints --------------------------------------------------------------------------------
def checkpoint_manager(workdir: str, config: TrainConfig) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                               options=options)


def _save(mngr, step, state, data_state):
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                          data=ocp.args.StandardSave(data_state)))


def restore_latest(mngr, trainer: Trainer, data_state) -> tuple[Any, Any] | None:
  """``(state, data_state)`` of the latest checkpoint, restored sharded; None if there is none."""
  step = mngr.latest_step()
  if step is None:
    return None
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(trainer.abstract_state),
      data=ocp.args.StandardRestore(data_state)))
  return restored["state"], restored["data"]


# -- the run's configuration and finished models --------------------------------------------
CONFIG_FILE = "train_config.json"
# Fields a resumed run may change: they do not alter the sequence of training steps.
RESUMABLE_CHANGES = ("mesh_shape", "log_every", "checkpoint_every", "keep_checkpoints")


def read_config(workdir: str) -> TrainConfig:
  """The :class:`TrainConfig` a run in ``workdir`` was started with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise ValueError(f"workdir {workdir!r} has no {CONFIG_FILE} (not a lowrank_ts.train run)")
  with open(path) as f:
    raw = json.load(f)
  fields = {f.name for f in dataclasses.fields(TrainConfig)}
  if not isinstance(raw, dict) or set(raw) - fields:
    raise ValueError(f"{path} has unknown fields {sorted(set(raw) - fields)}")
  return TrainConfig(**{**raw, "mesh_shape": tuple(raw.get("mesh_shape", (1, 1)))})


def _record_config(workdir: str, config: TrainConfig, write: bool = True) -> None:
  """Writes ``config`` to ``workdir``; refuses to resume a run whose steps it would change."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    saved = read_config(workdir)
    diffs = [f"{f.name}: {getattr(saved, f.name)!r} -> {getattr(config, f.name)!r}"
             for f in dataclasses.fields(TrainConfig)
             if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(config,
                                                                                      f.name)]
    if diffs:
      raise ValueError(f"workdir {workdir!r} holds a run with a different config ("
                       + "; ".join(diffs) + "): resume with the same settings or use a new "
                       "--workdir")
  if not write:
    return
  with open(path + ".tmp", "w") as f:
    json.dump(dataclasses.asdict(config), f, indent=1)
  os.replace(path + ".tmp", path)


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of the checkpoints kept in ``workdir`` (ascending)."""
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


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
      restored = mngr.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(trainer.abstract_state)))
    finally:
      mngr.close()
    return nnx.merge(trainer.graphdef, restored["state"]["params"], rest)
  return load


def load_model(workdir: str, step: int | None = None):
  """The model (``Chronos`` / ``ChronosBolt``, float32, on one device) of ``workdir``'s
  checkpoint at ``step`` (default: the latest); export it with ``lowrank_ts.hf.save``."""
  return checkpoint_loader(workdir)(step)


# -- the loop -----------------------------------------------------------------------------------
class _MetricsCSV:
  FIELDS = ("step", "loss", "grad_norm", "lr", "steps_per_s", "elapsed_s")

  def __init__(self, path: str, resume_step: int):
    """Appends to ``path``, first dropping rows after ``resume_step`` (logged by a run that was
    killed before its next checkpoint: they will be logged again)."""
    rows = []
    if os.path.exists(path):
      with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
    self.elapsed = float(rows[-1].get("elapsed_s") or 0.0) if rows else 0.0
    with open(path + ".tmp", "w", newline="") as f:
      writer = csv.DictWriter(f, self.FIELDS, extrasaction="ignore", restval="")
      writer.writeheader()
      writer.writerows(rows)
    os.replace(path + ".tmp", path)
    self._file = open(path, "a", newline="")  # noqa: SIM115 (open for the whole run)
    self._writer = csv.DictWriter(self._file, self.FIELDS)

  def write(self, row):
    self._writer.writerow(row)
    self._file.flush()

  def close(self):
    self._file.close()


class _NoLog:
  """Metrics sink of the non-primary processes of a multi-host run."""
  elapsed = 0.0

  def write(self, row):
    del row

  def scalars(self, step, values):
    del step, values

  def close(self):
    pass


def plot_loss_curve(csv_path: str, png_path: str) -> None:
  """The logged loss against step (``metrics.csv`` -> PNG)."""
  import matplotlib  # lazily: plotting is optional and slow to import
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  with open(csv_path) as f:
    rows = list(csv.DictReader(f))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows])
  ax.set_xlabel("step")
  ax.set_ylabel("training loss")
  fig.tight_layout()
  fig.savefig(png_path, dpi=100)
  plt.close(fig)


def train(config: TrainConfig, workdir: str, *, devices=None, progress: bool = True,
          stop_after: int | None = None):
  """Trains to ``config.steps`` (resuming from ``workdir``'s latest checkpoint); returns the final
  train state ``{params, opt_state, step}`` (sharded).

  ``stop_after`` ends the run after that step without saving it, as a kill would (for tests of
  resumption); ``devices`` defaults to all.
  """
  if not isinstance(config, TrainConfig):
    raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")  # noqa: TRY004
  os.makedirs(workdir, exist_ok=True)
  primary = jax.process_index() == 0  # one process writes the config, metrics and events
  _record_config(workdir, config, write=primary)
  trainer = Trainer(config, devices)
  pipe = make_pipeline(config)
  if jax.process_count() > 1:  # each host makes only the rows its devices hold
    pipe.set_rows(trainer.local_rows())
  mngr = checkpoint_manager(workdir, config)
  state, rest = trainer.init()
  restored = restore_latest(mngr, trainer, pipe.get_state())
  if restored is not None:
    state, data_state = restored
    pipe.set_state(data_state)
  start = int(state["step"])
  if start != int(pipe.get_state()["step"]):
    raise ValueError(f"checkpoint in {workdir} is inconsistent: train step {start} vs data step "
                     f"{int(pipe.get_state()['step'])}")
  metrics = _MetricsCSV(os.path.join(workdir, "metrics.csv"), start) if primary else _NoLog()
  board = tensorboard.SummaryWriter(os.path.join(workdir, "tensorboard")) if primary \
      else _NoLog()
  bar = (tqdm.tqdm(total=config.steps, initial=start, desc="train")
         if progress and tqdm is not None else None)
  tick, tick_step = time.perf_counter(), start
  run_start = tick
  try:
    last = config.steps if stop_after is None else min(stop_after, config.steps)
    for step in range(start + 1, last + 1):
      batch = trainer.shard_batch(model_batch(config, next(pipe)))
      state, out = trainer.step_fn(state, rest, batch)
      loss = float(out["loss"])
      if not np.isfinite(loss):
        raise FloatingPointError(
            f"loss is {loss} at step {step}: training stopped; the last good checkpoint is step "
            f"{mngr.latest_step()} in {os.path.join(workdir, 'checkpoints')}")
      if step % config.checkpoint_every == 0 or step == config.steps:
        _save(mngr, step, state, pipe.get_state())
      if step % config.log_every == 0 or step == config.steps:
        now = time.perf_counter()
        rate = (step - tick_step) / (now - tick)
        tick, tick_step = now, step
        row = {"loss": loss, "grad_norm": float(out["grad_norm"]),
               "lr": float(trainer.schedule(step - 1)), "steps_per_s": rate,
               "elapsed_s": metrics.elapsed + now - run_start}
        metrics.write({"step": step, **row})
        board.scalars(step, {f"train/{k}": v for k, v in row.items()})
        if bar is not None:
          bar.set_postfix(loss=f"{loss:.4f}", steps_per_s=f"{rate:.2f}")
      if bar is not None:
        bar.update(1)
  finally:
    mngr.wait_until_finished()
    mngr.close()
    metrics.close()
    board.close()
    if bar is not None:
      bar.close()
  return state


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", required=True, help="a TRAIN_CONFIGS or model config name")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--steps", type=int, default=None)
  parser.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() first (multi-host TPU/GPU)")
  args, extra = parser.parse_known_args(argv)
  overrides = {}
  for item in extra:
    if not item.startswith("--") or "=" not in item:
      parser.error(f"overrides must look like --field=value, got {item!r}")
    key, value = item[2:].split("=", 1)
    overrides[key] = value
  if args.steps is not None:
    overrides["steps"] = str(args.steps)
  config = with_overrides(named_train_config(args.config), overrides)
  if args.distributed:  # pragma: no cover (multi-host)
    jax.distributed.initialize()
  state = train(config, args.workdir)
  if jax.process_index() == 0:
    plot_loss_curve(os.path.join(args.workdir, "metrics.csv"),
                    os.path.join(args.workdir, "loss_curve.png"))
  print(f"trained to step {int(state['step'])}; checkpoints in {args.workdir}/checkpoints")


if __name__ == "__main__":
  main()
