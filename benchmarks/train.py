"""Training throughput: our jitted train step vs the PyTorch reference stack, side by side.

Command: ``python -m benchmarks.train [--repeats N] [--quick] [--no-mesh] [--out FILE]``
writes ``benchmarks/results/train.json`` (``--quick`` writes nothing unless ``--out`` is given).
Runtime on 2 cores: about 8 minutes, estimated from the FLOP counts at ~40 GFLOP/s
(``--quick``: one-layer shapes, under a minute of CPU time; mostly compilation).

Ours is exactly the step :class:`lowrank_ts.training.trainer.Trainer` runs (AdamW, clipping at
``max_grad_norm``, donated sharded state), fed pre-built batches from ``make_pipeline`` + the
model's ``training_batch`` + ``shard_batch``, so data generation is excluded; the input
pipeline's rate is reported on its own. The reference is transformers'
``T5ForConditionalGeneration`` with the same T5 config (dropout 0: ours trains without
dropout), ``torch.optim.AdamW`` with the same learning rate, clipping and linear decay, the
same batches (labels = our ``labels``, -100 ignored, decoder input = labels shifted right),
``torch.set_num_threads(2)``.

Workloads:
1. ``reference-point``: d_model 128, d_ff 512 (4 x d_model, as every Chronos size), 2+2 layers,
   4 heads x d_kv 32, vocabulary 4096, context 256 + horizon 32, batch 64; target: ours >=
   1.25x the reference's tokens/s.
2. ``chronos-t5-tiny``: the named config, context 512 + horizon 64, batch 32.
3. dense vs compressed: each of the above with every attention layer at a reduced head size
   ``d_kv / 4`` (``low_rank_t5(..., UniformSchedule(d_kv // 4), 'reduced_head_size')``, the
   per-layer reduced-head-size models of the paper's Fig. 7), attention size ratio 0.25;
   ours only (transformers' T5 cannot express it).
4. ``reference-point`` on 8 forced CPU devices (a subprocess with
   ``XLA_FLAGS=--xla_force_host_platform_device_count=8``), meshes (1, 1), (8, 1) and (2, 4).

Tokens per step = batch x (encoder tokens + decoder tokens), EOS included. Training FLOPs per
step = 3 x the analytic forward matmul FLOPs (:func:`forward_flops`; the backward pass costs
two matmuls per forward matmul), reported as achieved GFLOP/s next to this machine's jitted
fp32 matmul rate. The target's row is profiled in both stacks (forward / backward / optimizer
and the encoder's forward alone); the results file says where the time goes and, when the
target is missed, by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from benchmarks import common
from benchmarks.flops import forward_flops
from benchmarks.train_reference import time_reference
from benchmarks.train_report import ENCODER_PARTS, diagnosis, table
from benchmarks.train_workloads import Workload, mesh_workloads, train_config, workloads
from lowrank_ts.models import lowrank, registry
from lowrank_ts.models.config import T5Config
from lowrank_ts.training import data as training_data
from lowrank_ts.training.trainer import Trainer

TARGET_RATIO = 1.25  # target: ours >= 1.25x the reference's tokens/s
MESH_WORKER_FLAG = "--mesh-worker"
_RESULT_MARKER = "MESH_RESULTS_JSON "


# -- ours -------------------------------------------------------------------------------------
def _xla_flops(compiled) -> float | None:
  try:
    cost = compiled.cost_analysis()
  except Exception:  # noqa: BLE001 (not every backend reports costs)
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and "flops" in cost else None


def host_batches(w: Workload, count: int) -> tuple[list[dict], dict]:
  """``count`` model batches from the training pipeline, and the pipeline's timing."""
  config = train_config(w)
  model = registry.abstract(config.model_config)  # training_batch needs only its config
  start = time.perf_counter()
  pipe = training_data.make_pipeline(config)
  setup_s = time.perf_counter() - start
  batches = [model.training_batch(next(pipe)) for _ in range(count)]
  timing = common.timed(lambda: model.training_batch(next(pipe)), repeats=max(count, 3),
                        warmup=0)
  timing.update(setup_s=setup_s, batches_per_s=1.0 / timing["median_s"],
                tokens_per_s=_tokens(batches[0]) / timing["median_s"])
  return batches, timing


def _tokens(batch: dict) -> int:
  rows, enc = batch["input_ids"].shape
  return int(rows * (enc + batch["labels"].shape[1]))


def time_ours(w: Workload, batches: list[dict], repeats: int, devices=None,
              profile: bool = False) -> dict:
  """Steps of :class:`Trainer` on pre-built ``batches`` (cycled)."""
  config = train_config(w)
  devices = jax.devices()[:1] if w.mesh_shape == (1, 1) and devices is None else devices
  trainer = Trainer(config, devices)
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(trainer.abstract_state["params"]))
  if n_params != registry.parameter_count(w.model):  # the Trainer must build *this* model
    raise RuntimeError(f"Trainer built {n_params} parameters, {w.name} has "
                       f"{registry.parameter_count(w.model)}")
  device_batches = [trainer.shard_batch(b) for b in batches]
  state, rest = trainer.init()
  xla_flops = _xla_flops(trainer.step_fn.lower(state, rest, device_batches[0]).compile())
  count = 0

  def step():
    nonlocal state, count
    state, out = trainer.step_fn(state, rest, device_batches[count % len(device_batches)])
    count += 1
    jax.block_until_ready((state, out))

  result = {"timing": common.timed(step, repeats), "parameters": n_params,
            "xla_flops_per_step": xla_flops}
  if profile:
    result["profile"] = _profile_ours(trainer, state, rest, device_batches[0], repeats)
  return result


def _profile_ours(trainer, state, rest, batch, repeats) -> dict:
  """Median seconds of the loss alone and of loss + gradients, jitted separately."""
  from flax import nnx

  loss_fn = trainer.loss  # the loss the step differentiates

  def encoder_fn(params, rest, batch):
    model = nnx.merge(trainer.graphdef, params, rest)
    return model.encode(batch["input_ids"], batch["attention_mask"])

  forward = jax.jit(loss_fn)
  forward_backward = jax.jit(jax.value_and_grad(loss_fn))
  encoder = jax.jit(encoder_fn)
  params = state["params"]
  fwd = common.timed(lambda: forward(params, rest, batch).block_until_ready(), repeats)
  fwd_bwd = common.timed(
      lambda: jax.block_until_ready(forward_backward(params, rest, batch)), repeats)
  enc = common.timed(lambda: encoder(params, rest, batch).block_until_ready(), repeats)
  return {"forward_s": fwd["median_s"], "forward_backward_s": fwd_bwd["median_s"],
          "encoder_forward_s": enc["median_s"]}


# -- records ----------------------------------------------------------------------------------
def _rates(timing: dict, tokens: int, flops: int, matmul_gflops: float) -> dict:
  steps_per_s = 1.0 / timing["median_s"]
  gflops = flops * steps_per_s / 1e9
  return {"steps_per_s": steps_per_s, "tokens_per_s": tokens * steps_per_s,
          "gflops": gflops, "fraction_of_matmul_rate": gflops / matmul_gflops,
          "compile_or_first_s": timing["first_s"]}


def _split(profile: dict, step_s: float, flops: dict) -> dict:
  """Forward / backward / optimizer seconds of a step and the GFLOP/s of each matmul part
  (backward = 2 x forward FLOPs); the encoder's forward separately."""
  fwd, fwd_bwd, enc = profile["forward_s"], profile["forward_backward_s"], profile[
      "encoder_forward_s"]
  encoder_flops = sum(flops[k] for k in ENCODER_PARTS)
  return {"forward_s": fwd, "backward_s": fwd_bwd - fwd, "optimizer_and_rest_s": step_s - fwd_bwd,
          "step_s": step_s, "encoder_forward_s": enc,
          "forward_gflops": flops["total"] / fwd / 1e9,
          "backward_gflops": 2 * flops["total"] / max(fwd_bwd - fwd, 1e-9) / 1e9,
          "encoder_forward_gflops": encoder_flops / enc / 1e9,
          "encoder_attention_scores_share_of_encoder_flops":
              flops["encoder_attention_scores"] / encoder_flops}


def measure(w: Workload, repeats: int, matmul_gflops: float, devices=None,
            profile: bool = False) -> dict:
  """One workload's record: shapes, FLOPs, pipeline rate, ours (and the reference)."""
  batches, pipe_timing = host_batches(w, count=2)
  enc_len, dec_len = batches[0]["input_ids"].shape[1], batches[0]["labels"].shape[1]
  tokens = _tokens(batches[0])
  flops = forward_flops(w.model.t5, w.batch, enc_len, dec_len)
  step_flops = 3 * flops["total"]
  record = {"name": w.name, "t5": _t5_summary(w.model.t5), "context": w.context,
            "horizon": w.horizon, "batch": w.batch, "encoder_tokens": enc_len,
            "decoder_tokens": dec_len, "mesh_shape": list(w.mesh_shape),
            "tokens_per_step": tokens, "forward_flops": flops, "train_flops_per_step": step_flops,
            "attention_size_ratio": lowrank.attention_size_ratio(w.model.t5),
            "pipeline": pipe_timing}
  ours = time_ours(w, batches, repeats, devices, profile)
  ours.update(_rates(ours["timing"], tokens, step_flops, matmul_gflops))
  if "profile" in ours:
    ours["profile"] = _split(ours["profile"], ours["timing"]["median_s"], flops)
  record["ours"] = ours
  if w.reference:
    ref = time_reference(w, batches, repeats, profile)
    ref.update(_rates(ref["timing"], tokens, step_flops, matmul_gflops))
    if "profile" in ref:
      ref["profile"] = _split(ref["profile"], ref["timing"]["median_s"], flops)
    record["reference"] = ref
    record["ratio_tokens_per_s"] = ours["tokens_per_s"] / ref["tokens_per_s"]
  return record


def _t5_summary(t5: T5Config) -> dict:
  return {"d_model": t5.d_model, "d_ff": t5.d_ff, "layers": [t5.num_layers, t5.num_decoder_layers],
          "heads": t5.num_heads, "d_kv": t5.d_kv, "vocab_size": t5.vocab_size,
          "feed_forward_proj": t5.feed_forward_proj,
          "attention_d_kv": {w: [s.d_kv for s in t5.attention_specs(w)]
                             for w in ("encoder", "decoder_self", "decoder_cross")}}


def mesh_records(quick: bool, repeats: int, matmul_gflops: float) -> list[dict]:
  """The mesh workloads, measured in a subprocess with 8 forced CPU devices."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "benchmarks.train", MESH_WORKER_FLAG, "--repeats", str(repeats),
         "--matmul-gflops", str(matmul_gflops)] + (["--quick"] if quick else [])
  out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  lines = [line for line in out.stdout.splitlines() if line.startswith(_RESULT_MARKER)]
  if out.returncode != 0 or not lines:
    raise RuntimeError(f"8-device worker failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return json.loads(lines[-1][len(_RESULT_MARKER):])


def _mesh_worker(quick: bool, repeats: int, matmul_gflops: float) -> None:
  devices = jax.devices()
  if len(devices) != 8:
    raise RuntimeError(f"the mesh worker needs 8 devices, got {len(devices)}")
  records = []
  for w in mesh_workloads(quick):
    chosen = devices[:1] if w.mesh_shape == (1, 1) else devices
    records.append(measure(w, repeats, matmul_gflops, chosen))
  print(_RESULT_MARKER + json.dumps(records), flush=True)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--quick", action="store_true", help="tiny shapes, for a smoke run")
  parser.add_argument("--no-mesh", action="store_true", help="skip the 8-device subprocess")
  parser.add_argument("--out", default=None,
                      help="results file (default: benchmarks/results/train.json; --quick: none)")
  parser.add_argument(MESH_WORKER_FLAG, action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--matmul-gflops", type=float, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.repeats < 1:
    parser.error(f"--repeats must be >= 1, got {args.repeats}")
  if args.mesh_worker:
    _mesh_worker(args.quick, args.repeats, args.matmul_gflops)
    return 0
  start = time.perf_counter()
  matmul = common.matmul_gflops(n=1024 if args.quick else 2048, repeats=max(args.repeats, 2))
  rate = matmul["gflops_best"]
  records = []
  for i, w in enumerate(workloads(args.quick)):
    records.append(measure(w, args.repeats, rate, profile=i == 0))  # profile the target's row
  by_name = {r["name"]: r for r in records}
  comparisons = []
  for r in records:
    dense_name = r["name"].removesuffix(" compressed 0.25")
    if dense_name != r["name"]:
      dense = by_name[dense_name]
      comparisons.append({
          "dense": dense_name, "compressed": r["name"],
          "attention_size_ratio": r["attention_size_ratio"],
          "time_ratio": r["ours"]["timing"]["median_s"] / dense["ours"]["timing"]["median_s"],
          "train_flop_ratio": r["train_flops_per_step"] / dense["train_flops_per_step"]})
  if not args.no_mesh:
    records += mesh_records(args.quick, args.repeats, rate)
  target_row = records[0]
  ratio = target_row["ratio_tokens_per_s"]
  target = {"workload": target_row["name"], "ours_over_reference_tokens_per_s": ratio,
            "target": TARGET_RATIO, "met": ratio >= TARGET_RATIO,
            "where_the_time_goes": diagnosis(target_row)}
  if not target["met"]:
    target["missed_by"] = f"{ratio:.2f}x against {TARGET_RATIO}x ({ratio / TARGET_RATIO - 1:+.0%})"
  record = {"machine": common.machine(), "repeats": args.repeats, "quick": args.quick,
            "matmul": matmul, "workloads": records, "compressed_vs_dense": comparisons,
            "target": target, "wall_s": time.perf_counter() - start}
  print(table(records, rate))
  print()
  for c in comparisons:
    print(f"{c['compressed']}: time ratio {c['time_ratio']:.2f} vs train-FLOP ratio "
          f"{c['train_flop_ratio']:.2f} (attention size ratio {c['attention_size_ratio']:.2f})")
  print(f"target: ours / reference = {ratio:.2f}x (>= {TARGET_RATIO}x: "
        f"{'met' if target['met'] else 'missed'}); {target['where_the_time_goes']}")
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(record, f, indent=1)
    print("wrote", args.out)
  elif not args.quick:  # a smoke run must not overwrite the full run's results
    print("wrote", common.write("train", record))
  return 0


if __name__ == "__main__":
  sys.exit(main())
