"""The training sweeps behind the trained-model rank figures (Figs. 3 --model, 4, 4c, 9, 11, 12)
and what those figures read from each run's checkpoints.

A sweep is a list of short runs of ``lowrank-ts train`` that differ in one setting:
hidden size d (Fig. 4, and Fig. 11 reads one of its runs' checkpoints), patch size k (Fig. 3),
heads h (Figs. 9, 12), or the rank r of a fixed Chebyshev vocabulary (Fig. 4c, appendix I).
Every run uses the zero-shot recipe's data (``cpu-zeroshot``: KernelSynth, TSMixup over it,
the in-domain series' training parts and the real corpus -- no M-competition or Tourism
series) and keeps CHECKPOINTS checkpoints, so each figure can show whether its statistic has
stabilised over the last STABLE_LAST of them.

Sizes (``SIZES``): "smoke" trains each run for 4 steps at a tiny size (CI's slow step);
"default" is this project's reduced CPU protocol (steps and runtime in
``figures/<name>.json``'s params); "full" lists the paper's sizes as configs, not run here
(Chronos-Bolt / Chronos-T5 base-scale models, 200k steps on accelerators).

``--workdir DIR`` of each figure script points at the sweep's root: runs already trained there
(``DIR/<run name>/``, a ``lowrank-ts train`` workdir) are reused; missing ones are trained.
Each figure measures experiments.precondition on the last checkpoint of every run it reads
(kept in the run's workdir, ``precondition.CACHE_FILE``).
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np
from flax import nnx

from experiments import trained
from lowrank_ts.data import kernel_synth
from lowrank_ts.training import checkpoints, loop
from lowrank_ts.training import config as train_config
from lowrank_ts.training.trainer import Trainer

CHECKPOINTS = 8  # kept per run (evenly spaced)
STABLE_LAST = 3  # checkpoints over which a statistic must have settled
STABLE_TOLERANCE = 0.1  # max relative change over the last STABLE_LAST checkpoints
DEFAULT_ROOT = "runs/sweeps"
# The flag of the scripts that read the sweeps (fig4, fig9, fig11, fig12): common.parse_args's
# extra; `root(args)` resolves it.
WORKDIR_FLAG = {"--workdir": {"default": None,
                              "help": "the sweeps' root (runs reused/trained)"}}


def root(args) -> str:
  """The sweeps' root of a parsed command line: ``--workdir`` or DEFAULT_ROOT/<size>."""
  return args.workdir or f"{DEFAULT_ROOT}/{args.size}"


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of a sweep: ``name`` (its folder), the swept ``value`` and the
  TrainConfig it trains."""
  name: str
  value: int
  config: train_config.TrainConfig


# Per size: the base recipe and the sizes common to every run of a sweep.
SIZES = {
    # Seconds: a d-16 model, a handful of steps, tiny data.
    "smoke": dict(steps=4, batch_size=4, context_length=32, prediction_length=8, min_past=8,
                  kernel_synth_series=16, kernel_synth_length=128, real_series=False,
                  real_corpus=False, t5_context=32, t5_horizon=8, t5_steps=4, t5_batch=4,
                  k_steps=4, d_base=16, d_values=(8, 16),
                  k_values=(4, 16), h_values=(2, 4), r_values=(1, 2), k_context=32),
    # The reduced CPU protocol (see the figures' json for steps and runtime): 600 steps for
    # the d and h sweeps, 400 for k (context 64, so k = 1 sees 64 tokens); the Chronos-T5
    # runs 1 500 steps (context 64, batch 16) with Adam eps T5_ADAM_EPS and r up to 32.
    "default": dict(steps=600, batch_size=32, context_length=None, prediction_length=None,
                    min_past=60, kernel_synth_series=1000, kernel_synth_length=1024,
                    real_series=True, real_corpus=True, t5_context=64, t5_horizon=16,
                    t5_steps=1500, t5_batch=16, k_steps=400, d_base=64,
                    d_values=(32, 64, 128, 256), k_values=(1, 2, 4, 8, 16),
                    h_values=(1, 2, 4, 8), r_values=(1, 2, 4, 8, 16, 32), k_context=64),
}
# The paper's sizes (not run): Chronos-Bolt base (d 768, 12+12 layers), 200k steps, batch 256;
# d sweep 256...1024 (Fig. 4a), h sweep at d = 1024 (Fig. 9), fixed vocabulary at d = 512
# (Fig. 4c), patch sizes 1...32 (Fig. 3).
FULL = dict(steps=200_000, batch_size=256, bolt="chronos-bolt-base", t5="chronos-t5-small",
            d_values=(256, 384, 512, 768, 1024), h_values=(1, 2, 3, 4, 8, 16), d_heads=1024,
            k_values=(1, 2, 4, 8, 16, 32), r_values=(1, 2, 4, 8, 16, 32), d_vocab=512)


# Adam's epsilon for the Chronos-T5 runs (Fig. 4c). At Chronos' init (initializer_factor 0.05)
# the T5's attention gradients are ~1e-10 (decoder) to ~1e-12 (encoder) per matrix, so with
# eps = 1e-8 Adam's step is ~lr * g / eps ~ 1e-5 of its intended size and W_Q stays at its
# init (300 steps: sigma_1 0.0246 -> 0.0246). 1e-20 is far below every such gradient, so Adam
# is scale-free there as intended (r = 8, 300 steps: sigma_1 0.025 -> 1.5). Bolt runs keep 1e-8
# (their W_Q trains with it: Fig. 11).
T5_ADAM_EPS = train_config.TRAIN_CONFIGS["cpu-t5-zeroshot"].adam_eps  # 1e-20


def _base(size: str, steps: int | None = None, batch_size: int | None = None,
          **fields) -> train_config.TrainConfig:
  p = SIZES[size]
  steps = steps or p["steps"]
  every = max(1, steps // CHECKPOINTS)
  base = train_config.TRAIN_CONFIGS["cpu-zeroshot"]
  values = dict(steps=steps, batch_size=batch_size or p["batch_size"], checkpoint_every=every,
                keep_checkpoints=CHECKPOINTS + 1, log_every=max(1, every // 5),
                context_length=p["context_length"], prediction_length=p["prediction_length"],
                min_past=p["min_past"], kernel_synth_series=p["kernel_synth_series"],
                kernel_synth_length=p["kernel_synth_length"], real_series=p["real_series"],
                real_corpus=p["real_corpus"])
  if size == "default":  # one KernelSynth pool for every run, generated once (minutes)
    values["kernel_synth_path"] = pool_path(p["kernel_synth_series"], p["kernel_synth_length"])
  values.update(fields)
  return dataclasses.replace(base, **values)


def pool_path(series: int, length: int) -> str:
  """Where the shared KernelSynth pool (seed 0: the recipe's own draw) is kept."""
  # Absolute: the path is saved in each run's training config and read again on resume.
  return os.path.abspath(os.path.join(DEFAULT_ROOT, f"kernel_synth_{series}x{length}_seed0.npy"))


def _ensure_pool(config: train_config.TrainConfig) -> None:
  path = config.kernel_synth_path
  if path and not os.path.exists(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pool = kernel_synth.kernel_synth(config.kernel_synth_series, 0,
                                     length=config.kernel_synth_length)
    np.save(path + ".tmp.npy", np.asarray(pool, np.float32))
    os.replace(path + ".tmp.npy", path)


def _dims(d: int, heads: int = 4) -> str:
  # T5's layout at every d: d_ff = 4 d, heads x d_kv = d.
  return f"d_model={d},d_ff={4 * d},num_heads={heads},d_kv={d // heads}"


def d_sweep(size: str) -> list[Run]:
  """Chronos-Bolt at hidden sizes d (4 heads of d/4, d_ff = 4d): Fig. 4 (a), Fig. 11."""
  return [Run(f"bolt_d{d}", d, _base(size, model_overrides=_dims(d)))
          for d in SIZES[size]["d_values"]]


def h_sweep(size: str) -> list[Run]:
  """Chronos-Bolt at d = d_base with h heads of d/h: Figs. 9, 12 (h = 4 is the d sweep's run)."""
  d = SIZES[size]["d_base"]
  return [Run(f"bolt_d{d}" if h == 4 else f"bolt_d{d}_h{h}", h,
              _base(size, model_overrides=_dims(d, h))) for h in SIZES[size]["h_values"]]


def k_sweep(size: str) -> list[Run]:
  """Chronos-Bolt at d = d_base with patch size k, context k_context for every k: Fig. 3."""
  p = SIZES[size]
  same = {run.config: run.name for run in d_sweep(size)}  # smoke: k = 16 is the d run
  runs = []
  for k in p["k_values"]:
    patch = "" if k == 16 else f",input_patch_size={k}"  # 16: the recipe's own patch size
    config = _base(size, steps=p["k_steps"], context_length=p["k_context"],
                   model_overrides=_dims(p["d_base"]) + patch)
    runs.append(Run(same.get(config, f"bolt_d{p['d_base']}_k{k}"), k, config))
  return runs


def r_sweep(size: str) -> list[Run]:
  """Chronos-T5 (d = d_base, 2+2 layers) with a fixed rank-r Chebyshev vocabulary: Fig. 4c."""
  p = SIZES[size]
  return [Run(f"t5_d{p['d_base']}_r{r}", r, _base(
      size, steps=p["t5_steps"], batch_size=p["t5_batch"], model="chronos-t5-cpu",
      context_length=p["t5_context"],
      prediction_length=p["t5_horizon"], model_overrides=_dims(p["d_base"]),
      fixed_vocabulary_rank=r, adam_eps=T5_ADAM_EPS)) for r in p["r_values"]]


SWEEPS = {"d": d_sweep, "h": h_sweep, "k": k_sweep, "r": r_sweep}


def ensure_trained(run: Run, root: str) -> str:
  """``root/run.name``, trained to ``run.config.steps`` (resumed or reused if it already is)."""
  workdir = os.path.join(root, run.name)
  # A run of that name trained with other settings is never reused silently. The KernelSynth
  # pool's path may differ (another root): the pool is named by its size and seed.
  checkpoints.check_reusable(workdir, run.config, ignore=("kernel_synth_path",))
  steps = checkpoints.checkpoint_steps(workdir)
  if not steps or steps[-1] < run.config.steps:
    _ensure_pool(run.config)
    loop.train(run.config, workdir, progress=False)
  return workdir


def checkpoint_models(workdir: str):
  """``[(step, model)]``: the run's initialisation (step 0, rebuilt from its seed) and every
  kept checkpoint, ascending."""
  config = dataclasses.replace(checkpoints.read_config(workdir), mesh_shape=(1, 1))
  trainer = Trainer(config, jax.devices()[:1])  # the run's own init (its seed, fixed table)
  state, rest = trainer.init()
  out = [(0, nnx.merge(trainer.graphdef, state["params"], rest))]
  mngr = checkpoints.checkpoint_manager(workdir, config)
  try:
    for step in checkpoints.checkpoint_steps(workdir):
      restored = checkpoints._restore(mngr, step, state=trainer.abstract_state)  # noqa: SLF001
      out.append((step, nnx.merge(trainer.graphdef, restored["state"]["params"], rest)))
  finally:
    mngr.close()
  return out


def eps_rank(s: np.ndarray, eps: float) -> int:
  """eq. (1) from singular values (descending): #{j : sigma_j > eps sigma_1}."""
  return int(np.sum(np.asarray(s) > eps * s[0]))


def singular_values(w: np.ndarray) -> np.ndarray:
  # fp32 SVD of the fp32 weights (as fig5 / table2): accurate to ~1e-7 sigma_1
  return np.linalg.svd(np.asarray(w, np.float32), compute_uv=False).astype(np.float64)


def relative_change_last(values, last: int = STABLE_LAST) -> float:
  """(max - min) / |mean| of the last ``last`` values: how far a statistic still moves."""
  tail = np.asarray(values[-last:], np.float64)
  mean = float(np.mean(np.abs(tail)))
  return float((tail.max() - tail.min()) / mean) if mean > 0 else 0.0


def spearman(x, y) -> float:
  """Spearman's rank correlation (average ranks for ties); NaN if either is constant."""
  def ranks(v):
    v = np.asarray(v, np.float64)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    for value in np.unique(v):  # ties share their mean rank
      r[v == value] = r[v == value].mean()
    return r
  rx, ry = ranks(x), ranks(y)
  if rx.std() == 0 or ry.std() == 0:
    return float("nan")
  return float(np.corrcoef(rx, ry)[0, 1])


def main(argv=None) -> int:
  """Trains sweeps in order (one run at a time): ``python -m experiments.sweeps [--size S]
  [--root DIR] [--sweeps d,k,h,r]`` (``--root`` defaults to the figures' ``--workdir``
  default, runs/sweeps/<size>)."""
  import argparse
  import time
  parser = argparse.ArgumentParser(description=main.__doc__)
  parser.add_argument("--size", default="default", choices=sorted(SIZES))
  parser.add_argument("--root", default=None,
                      help="the sweeps' root (default: runs/sweeps/<size>, the figure "
                           "scripts' default --workdir)")
  parser.add_argument("--sweeps", default="d,k,h,r")
  args = parser.parse_args(argv)
  args.root = args.root or f"{DEFAULT_ROOT}/{args.size}"
  names = args.sweeps.split(",")
  if set(names) - set(SWEEPS):
    parser.error(f"--sweeps must name sweeps of {sorted(SWEEPS)}, got {args.sweeps!r}")
  for name in names:
    for run in SWEEPS[name](args.size):
      start = time.time()
      ensure_trained(run, args.root)
      print(f"{run.name}: {run.config.steps} steps, {time.time() - start:.0f} s", flush=True)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())


EPS_GRID = (1e-1, 10 ** -1.5, 1e-2)  # the eps of the rank figures' curves
CHECK_EPS = 1e-2  # the eps the checks use (fixed before the runs: Fig. 4's middle of range)


def query_history(workdir: str, with_last_model: bool = False):
  """W_Q of every encoder layer at every kept checkpoint (and step 0) of a run: ``steps``,
  per step the singular values of each layer's W_Q, and the averaged eps-rank (mean over
  layers) for each eps of EPS_GRID. With ``with_last_model``: ``(that, the last model)``."""
  steps, spectra = [], []
  for step, model in checkpoint_models(workdir):
    steps.append(step)
    spectra.append([singular_values(w) for w in trained.query_matrices(model)])
  averaged = [[float(np.mean([eps_rank(s, e) for s in layers])) for e in EPS_GRID]
              for layers in spectra]
  history = {"steps": steps, "spectra": spectra, "averaged_eps_rank": averaged}
  return (history, model) if with_last_model else history


def stability(history: dict, eps: float = CHECK_EPS) -> float:
  """Relative change of the averaged eps-rank at ``eps`` over the last STABLE_LAST checkpoints."""
  e = EPS_GRID.index(eps)
  return relative_change_last([row[e] for row in history["averaged_eps_rank"]])


def stability_check(verdict, name: str, histories: dict, proxy: str) -> None:
  """One check per sweep: the largest relative change, over its runs, of the averaged eps-rank
  at CHECK_EPS over the last STABLE_LAST checkpoints is <= STABLE_TOLERANCE."""
  changes = {run: stability(h) for run, h in histories.items()}
  worst = max(changes, key=changes.get)
  verdict.check(f"{name}_stabilised", changes[worst], "<=", STABLE_TOLERANCE,
                f"max over runs of the relative change of the averaged eps-rank (eps "
                f"{CHECK_EPS:g}) over the last {STABLE_LAST} checkpoints (worst: {worst})",
                "a conclusion needs a statistic that has settled; 10 % is the most "
                "a settled rank may still move", kind="proxy", proxy=proxy)
  verdict.finding(f"{name}_relative_change_last{STABLE_LAST}", changes,
                  "relative change over the last checkpoints: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in changes.items()))
