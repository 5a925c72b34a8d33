"""Fine-tuning throughput: windows/s of :func:`lowrank_ts.finetuning.tuning.finetune` on a
Chronos-Bolt model vs the PyTorch reference fine-tuning the same weights, side by side.

Command: ``python -m benchmarks.finetune [--model M] [--steps N] [--rounds R] [--quick]
[--out FILE]`` writes ``benchmarks/results/finetune.json`` (``--quick``: 2 steps, 1 round,
nothing written unless ``--out`` is given). Runtime on 2 cores for the shipped model: about
2 minutes (``--quick``: under a minute, mostly compilation).

Ours: ``finetune(..., validation="none", trainable="all")`` (AdamW, linear decay, clipping at
norm 1). Its ``train_seconds_this_call`` includes the first step's compilation, so the rate is
taken from two calls, ``steps`` and ``2 x steps`` long: ``steps x batch / (t(2 steps) -
t(steps))``. The reference: the model exported with :func:`lowrank_ts.interop.hf.save`, loaded
as chronos-forecasting's ``ChronosBoltModelForForecasting`` (dropout 0, as ours), ``torch.optim.AdamW`` with the
same learning rate, decay and clipping, the same windows
(:func:`lowrank_ts.data.holdout.window_batch`), ``torch.set_num_threads(2)``. Rounds
alternate the two stacks; the ratio is the median over rounds. The machine's jitted fp32
matmul rate is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks import common
from lowrank_ts.data import holdout
from lowrank_ts.finetuning import tuning
from lowrank_ts.interop import hf, resolve

BATCH_SIZE = 32
LEARNING_RATE = 1e-4


def series(count: int = 16, length: int = 400, seed: int = 0) -> list[np.ndarray]:
  """Noisy daily-and-weekly seasonal series (the data only sets the windows' values)."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  return [(10 + 3 * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6))
           + np.sin(2 * np.pi * t / 168) + 0.3 * rng.normal(size=length)).astype(np.float32)
          for _ in range(count)]


def time_ours(model, rows, horizon: int, steps: int) -> dict:
  """Windows/s of ``finetune``'s steps, compilation excluded (module docstring)."""
  seconds = {}
  for n in (steps, 2 * steps):
    _, report = tuning.finetune(model, rows, horizon, steps=n, learning_rate=LEARNING_RATE,
                                validation="none", trainable="all", batch_size=BATCH_SIZE)
    seconds[n] = report["train_seconds_this_call"]
  extra = seconds[2 * steps] - seconds[steps]
  return {"seconds": seconds, "windows_per_s": steps * BATCH_SIZE / extra if extra > 0 else None}


def reference(model, folder: str, split: holdout.Split, steps: int):
  """``(step function, loss of batch 0)`` of the PyTorch stack on the exported weights."""
  import torch
  from chronos.chronos_bolt import ChronosBoltModelForForecasting
  torch.set_num_threads(2)
  hf.save(model, folder)
  net = ChronosBoltModelForForecasting.from_pretrained(folder, dropout_rate=0.0)  # as ours
  net.train()
  optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
  schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / steps))
  batches = [{k: torch.from_numpy(v) for k, v in holdout.window_batch(
      split, 0, s, BATCH_SIZE, model.config.context_length).items()} for s in range(4)]
  count = 0

  def step():
    nonlocal count
    batch = batches[count % len(batches)]
    count += 1
    net(context=batch["context"], target=batch["target"]).loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)

  with torch.no_grad():
    loss = float(net(context=batches[0]["context"], target=batches[0]["target"]).loss)
  return step, loss, torch.__version__


def run(model_name: str | None, steps: int, rounds: int) -> dict:
  model = resolve.load_model(model_name)
  rows = series()
  horizon = model.config.prediction_length
  split = holdout.split(rows, [str(i) for i in range(len(rows))], 0, horizon, tuning.MIN_CONTEXT)
  ours_loss = float(model.loss(model.training_batch(holdout.window_batch(
      split, 0, 0, BATCH_SIZE, model.config.context_length))))
  record = {"model": model_name or "shipped default", "model_class": type(model).__name__,
            "batch_size": BATCH_SIZE, "context_length": model.config.context_length,
            "horizon": horizon, "steps": steps, "rounds": rounds, "machine": common.machine(),
            "matmul": common.matmul_gflops()}
  with tempfile.TemporaryDirectory() as folder:
    ref_step, ref_loss, torch_version = reference(model, folder, split, 3 * steps * rounds + 1)
    record.update(torch=torch_version, loss_batch0={"ours": ours_loss, "reference": ref_loss})
    per_round = []
    for _ in range(rounds):
      ours = time_ours(model, rows, horizon, steps)
      ref = common.timed(ref_step, steps)
      ref_rate = BATCH_SIZE / ref["median_s"]
      per_round.append({"ours": ours, "reference": {**ref, "windows_per_s": ref_rate},
                        "ratio": (ours["windows_per_s"] / ref_rate
                                  if ours["windows_per_s"] else None)})
  record["rounds_measured"] = per_round
  ratios = [r["ratio"] for r in per_round if r["ratio"] is not None]
  record["ratio_median"] = statistics.median(ratios) if ratios else None
  return record


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=None, help="a model folder, workdir or shipped name")
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  steps, rounds = (2, 1) if args.quick else (args.steps, args.rounds)
  start = time.perf_counter()
  record = run(args.model, steps, rounds)
  record.update(command="python -m benchmarks.finetune " + " ".join(argv or sys.argv[1:]),
                wall_s=time.perf_counter() - start)
  if args.out:
    with open(args.out, "w") as f:
      json.dump(record, f, indent=1)
  elif not args.quick:
    common.write("finetune", record)
  print(json.dumps({k: record[k] for k in ("ratio_median", "loss_batch0")}, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
