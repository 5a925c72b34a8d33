"""The training loop: to ``config.steps`` with exact resume.

Every ``checkpoint_every`` steps (and at the end) the train state and the input pipeline's
state are checkpointed (:mod:`.checkpoints`); rerunning the same call restores the latest and
continues with exactly the batches an uninterrupted run would have seen. A non-finite loss stops
training (``FloatingPointError``) before anything is saved, so the last good checkpoint
survives. One run at a time holds the workdir (:mod:`.workdir_lock`); its config is recorded
once the model, input pipeline and restored checkpoint are in place, so a run that fails at
its start leaves nothing to refuse its corrected rerun. An interruption (``KeyboardInterrupt``,
which :mod:`lowrank_ts.cli` raises on SIGINT / SIGTERM) lets a checkpoint being written finish,
keeps the others and carries a note naming the step a rerun resumes from. Metrics go to
:mod:`.metrics`.
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from lowrank_ts.training import checkpoints, data, metrics, workdir_lock
from lowrank_ts.training.config import TrainConfig
from lowrank_ts.training.trainer import Trainer

try:  # optional progress bar
  import tqdm
except ImportError:  # pragma: no cover
  tqdm = None


def train(config: TrainConfig, workdir: str, *, devices=None, progress: bool = True,
          stop_after: int | None = None, init_params=None):
  """Trains to ``config.steps`` (resuming from ``workdir``'s latest checkpoint); returns the final
  train state ``{params, opt_state, step}`` (sharded).

  ``stop_after`` ends the run after that step without saving it, as a kill would (for tests of
  resumption); ``devices`` defaults to all. ``init_params`` (a function ``params -> params`` of
  the same structure) edits the freshly initialised parameters of a run that starts from step 0
  (e.g. copying a trained model's embedding in; ignored on resume, where the checkpoint holds
  them); the fresh AdamW state (zero moments) does not depend on the values and is kept.
  """
  if not isinstance(config, TrainConfig):
    raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")  # noqa: TRY004
  if init_params is not None and not callable(init_params):
    raise ValueError(f"init_params must be a function params -> params, got "
                     f"{type(init_params).__name__}")
  os.makedirs(workdir, exist_ok=True)
  primary = jax.process_index() == 0  # one process locks; it writes the config and metrics
  lock = workdir_lock.WorkdirLock(workdir) if primary else None
  try:
    return _train(config, workdir, devices, progress, stop_after, init_params, primary)
  finally:
    if lock is not None:
      lock.release()


def _train(config, workdir, devices, progress, stop_after, init_params, primary):
  checkpoints.check_resume(workdir, config)
  trainer = Trainer(config, devices)
  pipe = data.make_pipeline(config)
  if jax.process_count() > 1:  # each host makes only the rows its devices hold
    pipe.set_rows(trainer.local_rows())
  mngr = checkpoints.checkpoint_manager(workdir, config)
  try:
    state, rest = trainer.init()
    if init_params is not None:
      state = {**state, "params": init_params(state["params"])}
    restored = checkpoints.restore_latest(mngr, trainer, pipe.get_state())
    if restored is not None:
      state, data_state = restored
      pipe.set_state(data_state)
    start = int(state["step"])
    if start != int(pipe.get_state()["step"]):
      raise ValueError(f"checkpoint in {workdir} is inconsistent: train step {start} vs data "
                       f"step {int(pipe.get_state()['step'])}")
    checkpoints.record_config(workdir, config, write=primary)  # the run has started
  except BaseException:
    mngr.close()
    raise
  prefetch = data.Prefetcher(pipe, lambda b: trainer.shard_batch(  # text: token ids already
      b if config.text_corpus else trainer.abstract_model.training_batch(b)))
  log = metrics.run_log(workdir, start, primary)
  bar = (tqdm.tqdm(total=config.steps, initial=start, desc="train")
         if progress and tqdm is not None else None)
  tick, tick_step = time.perf_counter(), start
  run_start = tick
  try:
    last = config.steps if stop_after is None else min(stop_after, config.steps)
    for step in range(start + 1, last + 1):
      batch = prefetch.next()
      state, out = trainer.step_fn(state, rest, batch)
      loss = float(out["loss"])
      if not np.isfinite(loss):
        raise FloatingPointError(
            f"loss is {loss} at step {step}: training stopped; the last good checkpoint is step "
            f"{mngr.latest_step()} in {os.path.join(workdir, 'checkpoints')}")
      if step % config.log_every == 0 or step == config.steps:
        now = time.perf_counter()
        rate = (step - tick_step) / (now - tick)
        tick, tick_step = now, step
        log.write(step, {"loss": loss, "grad_norm": float(out["grad_norm"]),
                         "lr": float(trainer.schedule(step - 1)), "steps_per_s": rate,
                         "elapsed_s": log.elapsed + now - run_start})
        if bar is not None:
          bar.set_postfix(loss=f"{loss:.4f}", steps_per_s=f"{rate:.2f}")
      # After the step's metrics row: a run stopped between the two redoes the step and logs it
      # again (a resume drops the rows past its checkpoint), while one stopped the other way
      # round would lose the row.
      if step % config.checkpoint_every == 0 or step == config.steps:
        checkpoints.save(mngr, step, state, pipe.get_state())
      if bar is not None:
        bar.update(1)
  except KeyboardInterrupt as err:
    kept = checkpoints.checkpoint_steps(workdir)  # the one a rerun of the same call resumes
    err.add_note(f"rerun to resume from step {kept[-1]} ({os.path.join(workdir, 'checkpoints')})"
                 if kept else "no checkpoint yet: a rerun starts afresh")
    raise
  finally:
    prefetch.close()
    mngr.wait_until_finished()
    mngr.close()
    log.close()
    if bar is not None:
      bar.close()
  return state
