"""The pretrained compressed Chronos-Bolt and Chronos-T5 runs shared by fig7 (+ Table 4),
fig7_t5, table3 and appe: their configs, workdirs and models.

Every run is ``lowrank_ts.training.loop.train`` of one :class:`~lowrank_ts.training.config.
TrainConfig` in its own workdir ``ROOT/<size>/<run name>`` (``--workdir`` of the scripts sets
ROOT; default ``runs/pretrain``): a finished run (its last checkpoint at ``steps``) is
reused, an unfinished one resumes, a missing one is trained (:func:`ensure`). The command line
that trains, scores and exports them is experiments/pretrain_sweep.py; their scores, forecast
times and memory are experiments/pretrain_scores.py.

Data design: the zero-shot recipe's (``cpu-zeroshot``: KernelSynth, TSMixup over it, the 16
in-domain series' training parts and the real corpus; no M-competition or Tourism series), so
every run is scored zero-shot on ``m3-tourism``. Every run of a size has the same steps, batch,
data and seed (the appendix-E runs add seeds 1 and 2); only the attention layout (and, for
``*_emb``, the embedding's initialisation) differs.

Sizes (fixed before any run was scored):

- ``default`` (reduced protocol, run by hand): Chronos-Bolt d_model 64, 2+2 layers, 4 heads of
  16 (``chronos-bolt-cpu-zs``), ``cpu-zeroshot``'s data with ``steps=500`` (batch 64, seed 0),
  15 runs of a few minutes each on 2 cores (the recipe itself is 40 000 steps: these models
  are far from converged, so every comparison is at an equal, small budget).
- ``full`` (not run; GPU/TPU): ``gpu-zeroshot`` (chronos-bolt-small, d_model 512, 6+6 layers,
  8 heads of 64, 100 000 steps, batch 256, bf16) with the paper's unscaled layouts.
- ``smoke`` (tests): 3 steps, batch 4, context 64, KernelSynth only.

Chronos-T5 runs (``family="t5"``, Fig. 7's T5 rows, experiments/fig7_t5.py), fixed before any
T5 run was scored: the ``cpu-t5-zeroshot`` recipe (chronos-t5-cpu: d_model 64, 2+2 layers, 4
heads of 16; windows of 128 + 24; batch 32; the same zero-shot data design; Adam eps 1e-20, see
that recipe) for ``T5_STEPS`` = 2 000 steps, seed 0 (~11 min per run on 2 cores); ``t5_dense``,
the authors' layouts ``authors:D0,BETA`` with D0 scaled by 16 / 64 (``t5_3_0.27``,
``t5_5_0.35``, ``t5_7_0.40``) and ``t5_3_0.27_emb`` (its token table, also its tied LM head,
from ``t5_dense``). ``full``: chronos-t5-base, 200 000 steps, batch 256, bf16, the unscaled
layouts (not run). ``smoke``: 3 steps, batch 4, windows of 32 + 8.

A run's KernelSynth pool (``kernel_synth(series, seed, length)``, deterministic) is generated
once per seed and saved under the root (:func:`kernel_synth_pool`; the run's
``kernel_synth_path``): the same data as generating it in the run (the default dense run did),
without ~45 s per run. Runs in one process share XLA's persistent compilation cache.

Layouts. Table 4's Bolt layouts are ``(d0, alpha)`` of the power schedule on the head size
(``d_kv,i = ceil(d0 (1 + i)^alpha)``, heads kept; the dense row is (64, 0) = d_kv 64), i.e.
``reduced_head_size:power:D0,ALPHA`` here. Scaled to our d_kv of 16 by d0 -> d0 * 16 / 64
(alpha kept): (2, 0.25) -> (0.5, 0.25), (3, 0.5) -> (0.75, 0.5), (5, 0.7) -> (1.25, 0.7), head
sizes (1, 1, 1, 1), (1, 2, 2, 2), (2, 3, 3, 4) over the 4 schedule indices, attention size
ratios 0.0625 / 0.104 / 0.177 (on chronos-bolt-small the paper's layouts give 0.052 / 0.110 /
0.255: with 4 indices instead of 12 the schedule grows less). Table 3's analogue (flow-of-ranks
vs a uniform rank at equal ratio; Moirai's (8, 0.34) vs 16 and (10, 0.58) vs 32 at d_kv 64):
uniform 4 and 8 (ratios 0.25 and 0.5) against power schedules with d0 = half the uniform rank
and alpha chosen so that the ratio is exactly equal: (2, 0.8) -> (2, 4, 5, 7) and (4, 0.85) ->
(4, 8, 11, 13) (full size, 12 indices of d_kv 64: (8, 0.42) and (16, 0.43), ratios 0.249 and
0.501; the paper's Moirai (8, 0.34) and (10, 0.58) give 0.219 and 0.406 on chronos-bolt-small).
Appendix E: shared sketching (eq. 19, ``shared_sketch``) at rank 5 against
head-dependent sketching (eq. 20, ``head_sketch``) at rank 2: 5 (64 + 64) = 4 x 2 (64 + 16)
= 640 parameters per projection, ratio 0.156 both, seeds 0, 1, 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts.data import kernel_synth
from lowrank_ts.interop import resolve
from lowrank_ts.models import lowrank
from lowrank_ts.training import checkpoints, loop
from lowrank_ts.training import config as train_config

ROOT = "runs/pretrain"
# The flag of the scripts that read these runs (fig7, table3, appe): common.parse_args's extra.
WORKDIR_FLAG = {"--workdir": {"default": None, "help": "runs' root (default: pretrain_runs.ROOT)"}}
SIZES = ("smoke", "default", "full")
# The parameters a reused embedding copies from the dense run: the REG / PAD token table, the
# input patch embedding and the output (quantile head) patch embedding (no attention shapes).
EMBEDDING = ("shared", "input_patch_embedding", "output_patch_embedding")


@dataclasses.dataclass(frozen=True)
class Run:
  """One pretraining run: an attention layout per size, a seed, and whether its embedding and
  head start from the dense run's trained ones (``reuse_embedding``)."""
  layouts: dict  # size -> attention string (lowrank.parse_layout)
  seed: int = 0
  reuse_embedding: bool = False
  label: str = ""
  family: str = "bolt"  # which recipe (FAMILIES): "bolt" or "t5"


def _same(layout: str) -> dict:
  return {"smoke": layout, "default": layout, "full": layout}


def _scaled(default: str, full: str) -> dict:
  return {"smoke": default, "default": default, "full": full}


def _t5(default: str, full: str, **kwargs) -> Run:
  return Run(_scaled(default, full), family="t5", **kwargs)


RUNS: dict[str, Run] = {
    "dense": Run(_same("dense"), label="dense"),
    # Fig. 7 / Table 4 (Bolt): the paper's (d0, alpha), d0 scaled by d_kv 16 / 64.
    "bolt_2_0.25": Run(_scaled("reduced_head_size:power:0.5,0.25",
                               "reduced_head_size:power:2,0.25"), label="(2, 0.25)"),
    "bolt_3_0.5": Run(_scaled("reduced_head_size:power:0.75,0.5",
                              "reduced_head_size:power:3,0.5"), label="(3, 0.5)"),
    "bolt_5_0.7": Run(_scaled("reduced_head_size:power:1.25,0.7",
                              "reduced_head_size:power:5,0.7"), label="(5, 0.7)"),
    "bolt_2_0.25_emb": Run(_scaled("reduced_head_size:power:0.5,0.25",
                                   "reduced_head_size:power:2,0.25"), reuse_embedding=True,
                           label="(2, 0.25), dense embedding"),
    # Table 3 analogue: flow-of-ranks (power) vs uniform rank at equal ratio.
    "flow_0.25": Run(_scaled("reduced_head_size:power:2,0.8", "reduced_head_size:power:8,0.42"),
                     label="flow (2, 0.8)"),
    "uniform_0.25": Run(_scaled("reduced_head_size:uniform:4", "reduced_head_size:uniform:16"),
                        label="uniform 4"),
    "flow_0.5": Run(_scaled("reduced_head_size:power:4,0.85", "reduced_head_size:power:16,0.43"),
                    label="flow (4, 0.85)"),
    "uniform_0.5": Run(_scaled("reduced_head_size:uniform:8", "reduced_head_size:uniform:32"),
                       label="uniform 8"),
    # Appendix E: shared (eq. 19) vs head-dependent (eq. 20) sketching, equal parameters
    # (full size: 9 (512 + 512) = 8 x 2 (512 + 64)).
    **{f"{kind}_s{s}": Run(_scaled(f"{kind}_sketch:uniform:{r}", f"{kind}_sketch:uniform:{rf}"),
                           seed=s, label=f"{kind} rank {r}, seed {s}")
       for s in range(3) for kind, r, rf in (("shared", 5, 9), ("head", 2, 2))},
    # Fig. 7 (Chronos-T5): the authors' layouts (d0, beta) with their power-of-two rounding
    # (``authors:``), d0 scaled by our d_kv / theirs = 16 / 64 (chronos-t5-base at --full).
    "t5_dense": _t5("dense", "dense", label="T5 dense"),
    "t5_3_0.27": _t5("authors:0.75,0.27", "authors:3,0.27", label="T5 (3, 0.27)"),
    "t5_5_0.35": _t5("authors:1.25,0.35", "authors:5,0.35", label="T5 (5, 0.35)"),
    "t5_7_0.40": _t5("authors:1.75,0.40", "authors:7,0.40", label="T5 (7, 0.40)"),
    "t5_3_0.27_emb": _t5("authors:0.75,0.27", "authors:3,0.27", reuse_embedding=True,
                         label="T5 (3, 0.27), dense embedding"),
}
FAMILIES = ("bolt", "t5")
DENSE = {"bolt": "dense", "t5": "t5_dense"}  # the run each family's runs are relative to
T5_STEPS = 2000  # default size (see the module docstring)


def base_config(size: str, family: str = "bolt") -> train_config.TrainConfig:
  """The recipe every run of ``size`` and ``family`` shares (its layout and seed are set per
  run)."""
  if size not in SIZES:
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")
  if family not in FAMILIES:
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
  if family == "t5":
    return _t5_config(size)
  if size == "full":
    return train_config.TRAIN_CONFIGS["gpu-zeroshot"]
  base = train_config.TRAIN_CONFIGS["cpu-zeroshot"]
  if size == "default":
    return dataclasses.replace(base, steps=500, checkpoint_every=500, keep_checkpoints=1,
                               log_every=100)
  return dataclasses.replace(base, steps=3, batch_size=4, checkpoint_every=3, keep_checkpoints=1,
                             log_every=1, context_length=64, kernel_synth_series=16,
                             kernel_synth_length=256, real_series=False, real_corpus=False)


def _t5_config(size: str) -> train_config.TrainConfig:
  base = train_config.TRAIN_CONFIGS["cpu-t5-zeroshot"]
  if size == "full":  # chronos-t5-base, the paper's recipe, on the zero-shot data design
    return dataclasses.replace(base, model="chronos-t5-base", model_overrides="",
                               steps=200_000, batch_size=256, compute_dtype="bfloat16",
                               checkpoint_every=10_000, keep_checkpoints=100, log_every=100)
  if size == "default":
    return dataclasses.replace(base, steps=T5_STEPS, checkpoint_every=T5_STEPS,
                               keep_checkpoints=1, log_every=100)
  return dataclasses.replace(base, model_overrides="context_length=32,prediction_length=8",
                             steps=3, batch_size=4, checkpoint_every=3, keep_checkpoints=1,
                             log_every=1, kernel_synth_series=16, kernel_synth_length=256,
                             real_series=False, real_corpus=False)


def run_config(name: str, size: str, kernel_synth_path: str = "") -> train_config.TrainConfig:
  """The :class:`TrainConfig` of run ``name`` at ``size`` (``kernel_synth_path``: the same
  KernelSynth pool, generated once per seed and saved by :func:`kernel_synth_pool`)."""
  if name not in RUNS:
    raise ValueError(f"run must be one of {sorted(RUNS)}, got {name!r}")
  run = RUNS[name]
  return dataclasses.replace(base_config(size, run.family), attention=run.layouts[size],
                             seed=run.seed,
                             kernel_synth_path=kernel_synth_path)


def kernel_synth_pool(name: str, size: str, root: str | None = None) -> str:
  """The .npy of the KernelSynth pool run ``name`` would generate (``kernel_synth(series,
  seed, length)`` is a pure function of those three), written once per (size, seed) under
  the root so that runs do not regenerate it (~45 s each on 2 cores)."""
  config = run_config(name, size)
  # Absolute: the path is saved in each run's training config and read again on resume.
  path = os.path.abspath(os.path.join(
      root or ROOT, size, f"kernel_synth_seed{config.seed}_"
      f"{config.kernel_synth_series}x{config.kernel_synth_length}.npy"))
  if not os.path.exists(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pool = kernel_synth.kernel_synth(config.kernel_synth_series, config.seed,
                                     length=config.kernel_synth_length)
    np.save(path + ".tmp.npy", pool)
    os.replace(path + ".tmp.npy", path)
  return path


def workdir(name: str, size: str, root: str | None = None) -> str:
  return os.path.join(root or ROOT, size, name)


def done(name: str, size: str, root: str | None = None) -> bool:
  """Whether run ``name`` has its last checkpoint."""
  return run_config(name, size).steps in checkpoints.checkpoint_steps(workdir(name, size, root))


def copy_embedding(source_model):
  """``params -> params`` copying :data:`EMBEDDING` of ``source_model`` (same embedding shapes)
  into freshly initialised parameters (placed as the originals): the ``init_params`` hook of
  :func:`lowrank_ts.training.loop.train`."""
  source = nnx.state(source_model, nnx.Param)

  def init(params):
    copied = {path: leaf for path, leaf in jax.tree_util.tree_flatten_with_path(source)[0]
              if path[0].key in EMBEDDING}

    def replace(path, old):
      if path[0].key not in EMBEDDING:
        return old
      if path not in copied or copied[path].shape != old.shape:
        raise ValueError(f"source model's {jax.tree_util.keystr(path)} does not match the "
                         f"run's {old.shape}")
      return jax.device_put(jnp.asarray(copied[path], old.dtype), old.sharding)
    return jax.tree_util.tree_map_with_path(replace, params)
  return init


def ensure(name: str, size: str, root: str | None = None, progress: bool = False) -> str:
  """Trains run ``name`` (resuming; a no-op when done), training the dense run first when the
  run reuses its embedding; returns its workdir."""
  path = workdir(name, size, root)
  # A finished run of another config (an older protocol) is never reused silently; the
  # KernelSynth pool's path is set per root (kernel_synth_pool), so it may differ.
  checkpoints.check_reusable(path, run_config(name, size), ignore=("kernel_synth_path",))
  if done(name, size, root):
    return path
  init = None
  if RUNS[name].reuse_embedding:
    dense = DENSE[RUNS[name].family]
    init = copy_embedding(load(dense, size, root))
    with open(os.path.join(os.makedirs(path, exist_ok=True) or path, "init_from.json"), "w") as f:
      json.dump({"embedding_from": workdir(dense, size, root), "params": EMBEDDING}, f)
  start = time.time()
  config = run_config(name, size)
  recorded = os.path.join(path, checkpoints.CONFIG_FILE)
  if not os.path.exists(recorded) or checkpoints.read_config(path).kernel_synth_path:
    # New runs read the saved pool; a run recorded generating it resumes as it started.
    config = run_config(name, size, kernel_synth_pool(name, size, root))
  loop.train(config, path, progress=progress, init_params=init)
  print(f"[pretrain_sweep] {name} ({size}) trained in {time.time() - start:.0f} s", flush=True)
  return path


def load(name: str, size: str, root: str | None = None):
  """The trained model of run ``name`` (training it first if needed)."""
  return resolve.load_model(ensure(name, size, root))


def attention_size_ratio(name: str, size: str) -> float:
  """The paper's attention size ratio of run ``name``'s layout (parameters of q, k, v, o)."""
  return lowrank.attention_size_ratio(run_config(name, size).model_config.t5)


def protocol(size: str, names) -> dict:
  """What the json records about the runs (steps, batch, data, layouts, seeds)."""
  base = base_config(size, RUNS[names[0]].family)
  return {"recipe": {k: getattr(base, k) for k in ("model", "model_overrides", "steps",
                                                   "batch_size", "learning_rate", "adam_eps",
                                                   "real_series", "real_corpus",
                                                   "tsmixup_weighting")},
          "runs": {n: {"attention": RUNS[n].layouts[size], "seed": RUNS[n].seed,
                       "reuse_embedding": RUNS[n].reuse_embedding,
                       "attention_size_ratio": attention_size_ratio(n, size)} for n in names}}
