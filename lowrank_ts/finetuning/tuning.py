"""Fine-tuning any model (Chronos, Chronos-Bolt, low-rank, post-hoc compressed) on a user's own
series, with a hold-out that chooses the checkpoint and scores it.

Data (:mod:`lowrank_ts.data.holdout`): with ``validation="last"`` the last ``horizon`` values of
every series are held out and training windows come only from the values before them
(``validation="none"``: every value trains, nothing is scored). Targets are
``min(horizon, prediction_length)`` long; a context reads up to ``context_length`` values and
at least :data:`MIN_CONTEXT`.

Training: the model's own loss (Chronos-Bolt's quantile loss; Chronos-T5's cross-entropy on
its tokenizer's tokens), AdamW with the learning rate decaying linearly to 0 over ``steps``,
gradients clipped at norm 1, batches of ``batch_size`` windows. ``trainable`` chooses the
parameters that train (:data:`TRAINABLE`); the others get zero updates. The model's structure
is kept, so a compressed model keeps its factors and their ranks.

Early stopping (:data:`RULE`): the hold-out WQL is computed at step 0 and every ``eval_every``
steps; the parameters with the lowest are kept (ties keep the earlier), training stops once
``patience`` evaluations in a row are not lower, and the result is the kept parameters -- the
unchanged model when no step beats step 0. The "after" scores are those of the kept step,
measured on the values that chose it (optimistic by that choice; the report says so).

With ``workdir``, the run's state (parameters, AdamW state, the best parameters and the score
history) is checkpointed at each evaluation (:func:`lowrank_ts.training.checkpoints.save`,
Orbax with checksums) and a rerun of the same call resumes from the newest checkpoint with
bit-identical results; a rerun with other settings or data is refused. Batch ``s`` is a pure
function of ``(seed, s)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.data import holdout
from lowrank_ts.finetuning.scores import HoldoutScorer
from lowrank_ts.inference import dataframe, forecasting
from lowrank_ts.models import registry
from lowrank_ts.training import checkpoints, workdir_lock

try:  # optional progress bar
  import tqdm
except ImportError:  # pragma: no cover
  tqdm = None

TRAINABLE = ("all", "head+norms", "factors")  # every parameter / output head and norms / the
# attention's low-rank factors (sketch, lift)
VALIDATIONS = ("last", "none")
HEADS = ("output_patch_embedding", "lm_head")  # Chronos-T5 with tied embeddings: "shared"
# Defaults measured on validation series (experiments/finetune_defaults.py, paper_repro.md): at
# 1e-3 the hold-out WQL fell while the later test window's rose (the hold-out is overfitted);
# at 1e-4 training only the head and norms gave the lowest test WQL.
LEARNING_RATE = 1e-4
STEPS = 60
DEFAULT_TRAINABLE = "head+norms"
BATCH_SIZE = 32
PATIENCE = 3
EVALUATIONS = 10  # eval_every defaults to steps // EVALUATIONS
MIN_CONTEXT = 16
RUN_FILE = "finetune_run.json"
RULE = ("hold-out WQL at step 0 and every eval_every steps; the lowest is kept (ties keep the "
        "earlier); stop after `patience` evaluations in a row without a lower one; the result "
        "is the kept step's parameters (step 0: the model unchanged)")


class LeftOutSeriesWarning(UserWarning):
  """Some series were too short (or constant) to fine-tune on; they are neither trained on nor
  scored."""


def _keys(path) -> tuple[str, ...]:
  """A parameter's module path (``("encoder", "layers", "0", ..., "sketch")``), without the
  Variable's own ``value`` attribute."""
  return tuple(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))


def trainable_labels(params, trainable: str):
  """``"trained"`` / ``"frozen"`` per parameter leaf for ``trainable`` (one of
  :data:`TRAINABLE`); a ValueError naming ``trainable`` when it selects nothing."""
  if trainable not in TRAINABLE:
    raise ValueError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
  paths = [_keys(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
  heads = HEADS if any(p[0] in HEADS for p in paths) else ("shared",)

  def chosen(keys):
    if trainable == "all":
      return True
    if trainable == "head+norms":
      return keys[0] in heads or any("norm" in k for k in keys)
    return keys[-1] in ("sketch", "lift")

  labels = jax.tree_util.tree_map_with_path(
      lambda p, _: "trained" if chosen(_keys(p)) else "frozen", params)
  if "trained" not in jax.tree.leaves(labels):
    raise ValueError(f"trainable: {trainable!r} selects no parameter of this model (it has no "
                     "low-rank attention factors): use 'all' or 'head+norms'")
  return labels


def make_optimizer(learning_rate: float, steps: int, labels) -> optax.GradientTransformation:
  """AdamW, learning rate linearly to 0 over ``steps``, clipped at global norm 1 (over the
  trained leaves); frozen leaves get zero updates."""
  schedule = optax.linear_schedule(learning_rate, 0.0, steps)
  trained = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=0.0))
  return optax.multi_transform({"trained": trained, "frozen": optax.set_to_zero()}, labels)


def _fingerprint(split: holdout.Split, params) -> dict[str, str]:
  data, weights = hashlib.sha256(), hashlib.sha256()
  for name, train, held in zip(split.names, split.train, split.held):
    data.update(name.encode() + b"\0" + train.tobytes() + b"\0" + held.tobytes())
  for leaf in jax.tree.leaves(params):
    weights.update(np.asarray(leaf).tobytes())
  return {"data_sha256": data.hexdigest(), "model_sha256": weights.hexdigest()}


def _record_run(workdir: str, settings: dict) -> None:
  """Writes ``settings`` to ``workdir/RUN_FILE``, or refuses (naming the file and each differing
  field) when it records another run."""
  path = os.path.join(workdir, RUN_FILE)
  if os.path.exists(path):
    try:
      with open(path) as f:
        recorded = json.load(f)
    except (OSError, ValueError) as err:
      raise ValueError(f"{path} is not a readable JSON file ({err})") from None
    diffs = [f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}"
             for k in sorted(set(recorded) | set(settings)) if recorded.get(k) != settings.get(k)]
    if diffs:
      raise ValueError(f"{path} records an interrupted run with other settings or data ("
                       + "; ".join(diffs) + "): rerun it as it was, or remove "
                       f"{workdir} to start afresh")
    return
  with open(path + ".tmp", "w") as f:
    json.dump(settings, f, indent=1)
  os.replace(path + ".tmp", path)


def finetune(model: registry.ForecastModel, series: Any, horizon: int, *, steps: int = STEPS,
             learning_rate: float = LEARNING_RATE, validation: str = "last",
             trainable: str = DEFAULT_TRAINABLE, seed: int = 0, batch_size: int = BATCH_SIZE,
             eval_every: int | None = None, patience: int = PATIENCE, seasonality: int = 1,
             names: Sequence[str] | None = None, workdir: str | os.PathLike | None = None,
             progress: bool = False, stop_after: int | None = None
             ) -> tuple[registry.ForecastModel, dict]:
  """``(fine-tuned copy of model, report)`` (module docstring); ``model`` is left unchanged.

  ``series``: a ``[T]`` / ``[B, T]`` array or a list of 1-D series (NaN = missing), named by
  ``names`` (default ``"0"``, ``"1"``, ...). ``seasonality``: the season length of MASE's scale
  and of Seasonal Naive. ``stop_after`` ends the run after that step without checkpointing it,
  as a kill would (for tests of resumption). The report holds the settings, the series used and
  left out, the scores before / after / of Seasonal Naive, the score history and the chosen
  step."""
  registry.check_model(model)
  horizon = checks.positive_int(horizon, "horizon")
  steps = checks.positive_int(steps, "steps")
  learning_rate = checks.positive_float(learning_rate, "learning_rate")
  if validation not in VALIDATIONS:
    raise ValueError(f"validation must be one of {VALIDATIONS}, got {validation!r}")
  seed = checks.positive_int(seed, "seed", allow_zero=True)
  batch_size = checks.positive_int(batch_size, "batch_size")
  eval_every = checks.positive_int(eval_every or max(1, steps // EVALUATIONS), "eval_every")
  patience = checks.positive_int(patience, "patience")
  seasonality = checks.positive_int(seasonality, "seasonality")
  rows = list(forecasting.prepare_context(series)) if not isinstance(series, list) else series
  names = [str(i) for i in range(len(rows))] if names is None else [str(n) for n in names]
  target_length = min(horizon, model.config.prediction_length)
  split = holdout.split(rows, names, horizon if validation == "last" else 0, target_length,
                        MIN_CONTEXT)
  if split.left_out:
    shown = ", ".join(f"{n!r} ({why})" for n, why in split.left_out[:forecasting.MAX_NAMED])
    more = len(split.left_out) - forecasting.MAX_NAMED
    warnings.warn(f"{len(split.left_out)} of {len(rows)} series left out of fine-tuning and of "
                  f"the hold-out scores: {shown}" + (f" and {more} more" if more > 0 else ""),
                  LeftOutSeriesWarning, stacklevel=2)
  scorer = HoldoutScorer(split, seasonality) if validation == "last" else None
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  labels = trainable_labels(params, trainable)
  tx = make_optimizer(learning_rate, steps, labels)
  settings = {"horizon": horizon, "steps": steps, "learning_rate": learning_rate,
              "validation": validation, "trainable": trainable, "seed": seed,
              "batch_size": batch_size, "eval_every": eval_every, "patience": patience,
              "seasonality": seasonality, "series": split.names,
              **_fingerprint(split, params)}
  run = _Run(graphdef, rest, model.training_batch, model.config.context_length, tx, split,
             scorer, settings)
  state = run.initial(params)
  lock = None
  if workdir is not None:
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    lock = workdir_lock.WorkdirLock(workdir)
  try:
    if workdir is not None:
      _record_run(workdir, settings)
    state, seconds, trained_steps = run.train(state, workdir, progress, stop_after)
  finally:
    if lock is not None:
      lock.release()
  return run.result(state, seconds, trained_steps, model)


def finetune_df(model: registry.ForecastModel, df, horizon: int, *, id_column: str = "item_id",
                timestamp_column: str | None = "timestamp", target: str = "target",
                **options) -> tuple[registry.ForecastModel, dict]:
  """:func:`finetune` on a long pandas DataFrame (one row per observation, the columns of
  :func:`lowrank_ts.inference.dataframe.series_from_df`, series named by their ids)."""
  ids, series, _ = dataframe.series_from_df(df, id_column=id_column,
                                            timestamp_column=timestamp_column, target=target)
  return finetune(model, series, horizon, names=[str(i) for i in ids], **options)


@dataclasses.dataclass
class _Run:
  """One fine-tuning run's jitted step, evaluations and checkpoints."""
  graphdef: Any
  rest: Any
  prepare: Any  # the model's training_batch: float windows -> model inputs
  context_length: int
  tx: optax.GradientTransformation
  split: holdout.Split
  scorer: HoldoutScorer | None
  settings: dict

  def __post_init__(self):
    self.steps, self.eval_every = self.settings["steps"], self.settings["eval_every"]
    self.evaluations = self.steps // self.eval_every + 1
    self.step_fn = jax.jit(self._step)
    self.eval_model = None

  def initial(self, params) -> dict:
    params = jax.tree.map(jnp.copy, params)  # the caller's model stays as it is
    return {"params": params, "opt_state": self.tx.init(params),
            "step": jnp.zeros((), jnp.int32), "best_params": params,
            "best_step": jnp.zeros((), jnp.int32), "best_wql": jnp.array(jnp.inf, jnp.float32),
            "since_best": jnp.zeros((), jnp.int32),
            "scores": jnp.full((self.evaluations, 2), jnp.nan, jnp.float32),
            "losses": jnp.full((self.steps,), jnp.nan, jnp.float32)}

  def _loss(self, params, batch):
    return nnx.merge(self.graphdef, params, self.rest).loss(batch)

  def _step(self, state, batch):
    loss, grads = jax.value_and_grad(self._loss)(state["params"], batch)
    updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
    return {**state, "params": optax.apply_updates(state["params"], updates),
            "opt_state": opt_state, "step": state["step"] + 1,
            "losses": state["losses"].at[state["step"]].set(loss)}, loss

  def _batch(self, step: int) -> dict:
    return self.prepare(holdout.window_batch(self.split, self.settings["seed"], step,
                                             self.settings["batch_size"], self.context_length))

  def _evaluate(self, state) -> dict:
    """``state`` with the hold-out scores of its parameters recorded and the best updated."""
    if self.eval_model is None:
      self.eval_model = nnx.merge(self.graphdef, state["params"], self.rest)
    else:
      nnx.update(self.eval_model, state["params"])
    scores = self.scorer.model(self.eval_model)
    step = int(state["step"])
    state = {**state, "scores": state["scores"].at[step // self.eval_every].set(
        jnp.array([scores["wql"], np.nan if scores["mase"] is None else scores["mase"]],
                  jnp.float32))}
    wql = state["scores"][step // self.eval_every, 0]
    if wql < state["best_wql"]:
      return {**state, "best_params": state["params"], "best_wql": wql,
              "best_step": state["step"], "since_best": jnp.zeros((), jnp.int32)}
    return {**state, "since_best": state["since_best"] + 1}

  def _stopped(self, state) -> bool:
    return self.scorer is not None and int(state["since_best"]) >= self.settings["patience"]

  def train(self, state, workdir, progress, stop_after):
    """``(final state, training seconds, steps trained in this call)``."""
    mngr = None
    if workdir is not None:
      mngr = ocp.CheckpointManager(
          os.path.join(os.path.abspath(workdir), "checkpoints"),
          options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True,
                                               enable_async_checkpointing=False))
      restored = checkpoints.restore_newest(mngr, state, {"step": np.zeros((), np.int64)})
      if restored is not None:
        state = restored[0]
    start = int(state["step"])
    if start == 0 and self.scorer is not None:
      state = self._evaluate(state)
    bar = (tqdm.tqdm(total=self.steps, initial=start, desc="finetune")
           if progress and tqdm is not None else None)
    seconds, trained = 0.0, 0
    last = self.steps if stop_after is None else min(stop_after, self.steps)
    try:
      for step in range(start + 1, last + 1):
        if self._stopped(state):
          break
        tick = time.perf_counter()
        state, loss = self.step_fn(state, self._batch(step - 1))
        loss = float(loss)
        seconds += time.perf_counter() - tick
        trained += 1
        if not np.isfinite(loss):
          raise FloatingPointError(f"loss is {loss} at fine-tuning step {step}: stopped (lower "
                                   "the learning rate)")
        if self.scorer is not None and step % self.eval_every == 0:
          state = self._evaluate(state)
        if mngr is not None and (step % self.eval_every == 0 or step == self.steps):
          checkpoints.save(mngr, step, state, {"step": np.asarray(step, np.int64)})
        if bar is not None:
          bar.update(1)
          bar.set_postfix(loss=f"{loss:.4f}", best_step=int(state["best_step"]))
    except KeyboardInterrupt as err:
      kept = checkpoints.checkpoint_steps(workdir) if workdir is not None else []
      err.add_note(f"rerun to resume from step {kept[-1]} ({workdir})" if kept else
                   "no checkpoint yet: a rerun starts afresh")
      raise
    finally:
      if bar is not None:
        bar.close()
      if mngr is not None:
        mngr.close()
    return state, seconds, trained

  def result(self, state, seconds: float, trained: int, model) -> tuple[Any, dict]:
    """The kept model and the report."""
    validated = self.scorer is not None
    final = state["best_params"] if validated else state["params"]
    tuned = nnx.merge(self.graphdef, jax.tree.map(jnp.copy, final), self.rest)
    losses = np.asarray(state["losses"])
    ran = int(state["step"])
    settings = {k: v for k, v in self.settings.items() if not k.endswith("_sha256")}
    report = {**settings, "series": len(self.split.names),
              "series_left_out": [{"series": n, "reason": r} for n, r in self.split.left_out],
              "model_class": type(model).__name__, "target_length": self.split.target_length,
              "min_context": self.split.min_context,
              "schedule": "AdamW, learning rate linear to 0 over steps, clipped at norm 1",
              "parameters": int(sum(x.size for x in jax.tree.leaves(final))),
              "trainable_parameters": int(sum(
                  x.size for x, lab in zip(jax.tree.leaves(final),
                                           jax.tree.leaves(trainable_labels(final,
                                                           self.settings["trainable"])))
                  if lab == "trained")),
              "steps_run": ran, "train_loss_first": _float(losses[0]),
              "train_loss_last": _float(losses[ran - 1]) if ran else None,
              "train_seconds_this_call": seconds,
              "windows_per_s_this_call": (trained * self.settings["batch_size"] / seconds
                                          if seconds > 0 else None)}
    if validated:
      scores = np.asarray(state["scores"])
      chosen = int(state["best_step"])
      history = [{"step": i * self.eval_every, "wql": float(w), "mase": _float(m)}
                 for i, (w, m) in enumerate(scores) if np.isfinite(w)]
      report.update(
          rule=RULE, chosen_step=chosen, stopped_early=ran < self.steps,
          before=_pair(scores[0]), after=_pair(scores[chosen // self.eval_every]),
          seasonal_naive=self.scorer.seasonal_naive(), history=history,
          after_is_optimistic="the kept step was chosen on these held-out values")
    else:
      report.update(rule="no hold-out: every step trains, the last is kept",
                    chosen_step=ran)
    return tuned, report


def _pair(row) -> dict[str, float | None]:
  return {"wql": float(row[0]), "mase": _float(row[1])}


def _float(x) -> float | None:
  return float(x) if np.isfinite(x) else None
