"""Post-hoc compression of a trained model's attention by truncated SVD (§5, Table 2).

``lowrank-ts compress [--model DIR] (--eps E | --ratio R) [--allocation uniform|global]
[--mode paper|efficient] [--finetune-steps N [--config NAME] [--finetune-lr LR]] --out DIR2``

``--model``: any model the project loads (:mod:`lowrank_ts.interop.resolve`: a checkpoint
folder, a training workdir, a shipped model's name; default: the shipped model).
``--eps E``: one eps for every attention matrix (eq. 1: keep ``sigma_j > E sigma_1``).
``--ratio R``: a target attention size ratio, met by one eps (``--allocation uniform``, the
smallest eps meeting it) or by a global budget (``--allocation global``: singular values taken
across the whole model by their share of their matrix's squared Frobenius norm per unit of
cost; :mod:`lowrank_ts.models.allocation`). ``--mode paper`` truncates every matrix and counts
the paper's Table 2 "Ratio" (singular values kept over all of them); ``--mode efficient``
(default) factorises a matrix only where that saves work, keeps the others dense and
untruncated, and counts stored attention parameters. The target ``R`` is counted in the mode's
own way; the report gives both counts whatever the mode.

``--out DIR2`` receives ``config.json`` + ``model.safetensors`` holding the factors (``hf.save``
with ``factorised=True``: ``lowrank-ts forecast --model DIR2`` and ``evaluate --model
DIR2`` load it; chronos-forecasting does not) and ``compression.json``, the report printed
here: per-matrix ranks, both ratios, parameters and parameter bytes before / after. The folder
is written under a temporary name and renamed into place once complete, so it appears whole or
not at all; ``--out`` must be new or empty and is checked before any work. A bad argument
exits with status 2 and one line naming it; an unreadable checkpoint, or one with a non-finite
weight, with 1; SIGINT / SIGTERM with 130 / 143.

``--finetune-steps N`` heals the truncation: the compressed model, ranks fixed, trains N more
steps (:mod:`lowrank_ts.training.finetune`) on the batches ``lowrank-ts train`` makes
for the recipe the model was trained with — ``--config NAME`` (a recipe of
``lowrank_ts.training.config.TRAIN_CONFIGS``), else ``DIR/train_config.json`` when the folder
or workdir has one, else, for a shipped model, the recipe its ``scores.json`` records.
``--finetune-lr`` (default ``FINETUNE_LR`` = 1e-4, a tenth of the recipes' peak: healing starts
from a trained point) decays linearly to 0 over the N steps.
``compression.json`` then holds a ``finetune`` entry: the steps, the recipe, the learning rate
and the loss on held-out batches of that pipeline before and after. With ``--mode paper`` every
truncated matrix is then stored as factors of its rank (also where the dense product would be
cheaper), so that training cannot give a truncated matrix its rank back.

``--finetune-input series.csv --horizon H`` heals on the user's own series instead (a wide CSV
read as ``forecast`` reads it): :func:`lowrank_ts.finetuning.tuning.finetune`, as ``lowrank-ts
finetune`` runs it (the last H values held out, early stopping keeping the best step; steps
``--finetune-steps`` or its default, learning rate ``--finetune-lr`` or its default); the
``finetune`` entry of ``compression.json`` is then its report (WQL / MASE before, after and of
Seasonal Naive on the hold-out).
"""

from __future__ import annotations

import argparse
import json
import pathlib

from lowrank_ts import atomic, checks, pretrained
from lowrank_ts.cli import exits, inputs
from lowrank_ts.cli import finetune as finetune_cli
from lowrank_ts.finetuning import tuning
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import allocation, posthoc, registry
from lowrank_ts.training import checkpoints, finetune
from lowrank_ts.training import config as train_config

REPORT = "compression.json"
FINETUNE_LR = 1e-4


def report_record(report: posthoc.CompressionReport, request: allocation.Request,
                  source: str) -> dict:
  """The JSON report: which count each number uses is in its name."""
  size = report.rank_ratio if request.mode == "paper" else report.attention_size_ratio
  return {
      "model": source, "mode": request.mode, "allocation": request.allocation,
      "eps": report.eps, "target_ratio": request.ratio,
      "attention_size_ratio": size,
      "attention_size_ratio_counts": (
          "rank ratio (the paper's Table 2 'Ratio')" if request.mode == "paper"
          else "stored attention parameters over dense"),
      "rank_ratio": report.rank_ratio,
      "parameter_ratio": report.attention_size_ratio,
      "attention_parameters_before": report.attention_parameters_before,
      "attention_parameters_after": report.attention_parameters_after,
      "parameters_before": report.parameters_before,
      "parameters_after": report.parameters_after,
      "parameter_bytes_before": report.parameter_bytes_before,
      "parameter_bytes_after": report.parameter_bytes_after,
      "matrices": [{"name": p.name, "shape": list(p.shape), "eps_rank": p.eps_rank,
                    "kept_singular_values": p.truncation_rank,
                    "stored": f"factors rank {p.rank}" if p.rank is not None else "dense",
                    "relative_error": p.relative_error} for p in report.projections],
  }


def summary(record: dict) -> str:
  """The printed report: one line per matrix, then the totals."""
  lines = [f"{'matrix':<22} {'shape':>9} {'kept':>5} {'stored':>16} {'rel. error':>10}"]
  for m in record["matrices"]:
    shape = "x".join(map(str, m["shape"]))
    lines.append(f"{m['name']:<22} {shape:>9} {m['kept_singular_values']:>5} "
                 f"{m['stored']:>16} {m['relative_error']:>10.3g}")
  eps = "global allocation" if record["eps"] is None else f"eps {record['eps']:.4g}"
  lines += [
      (f"mode {record['mode']}, {eps}"
       + (f", target ratio {record['target_ratio']}" if record["target_ratio"] else "")),
      (f"attention size ratio {record['attention_size_ratio']:.4f} "
       f"({record['attention_size_ratio_counts']})"),
      (f"rank ratio (paper's count) {record['rank_ratio']:.4f}; stored attention parameters "
       f"{record['attention_parameters_after']} / {record['attention_parameters_before']} = "
       f"{record['parameter_ratio']:.4f}"),
      (f"parameters {record['parameters_before']} -> {record['parameters_after']}; parameter "
       f"bytes {record['parameter_bytes_before']} -> {record['parameter_bytes_after']} "
       f"({record['parameter_bytes_after'] / record['parameter_bytes_before']:.4f})")]
  return "\n".join(lines)


def write(model: registry.ForecastModel, record: dict, out: pathlib.Path) -> pathlib.Path:
  """The checkpoint (factors kept) and its ``compression.json`` in the new folder ``out``,
  which appears whole once both are written (:func:`lowrank_ts.atomic.output_folder`)."""
  with atomic.output_folder(out) as temporary:
    hf.save(model, temporary, factorised=True)
    (temporary / REPORT).write_text(json.dumps(record, indent=1) + "\n")
  return out


def recipe(config: str | None, source: resolve.Source) -> tuple[train_config.TrainConfig, str]:
  """The training recipe to heal with and where it came from (module docstring's order)."""
  if config is None and source.kind == "shipped":
    config = pretrained.recorded_scores(source.name)["recipe"]
  if config is not None:
    if config not in train_config.TRAIN_CONFIGS:
      raise ValueError(f"config must be one of {sorted(train_config.TRAIN_CONFIGS)}, got "
                       f"{config!r}")
    return train_config.TRAIN_CONFIGS[config], config
  path = source.path / checkpoints.CONFIG_FILE
  if path.is_file():
    return checkpoints.read_config(str(source.path)), str(path)
  raise ValueError(f"config: --finetune-steps needs --config NAME ({path} does not exist)")


@exits.interruptible("lowrank-ts compress")
def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="lowrank-ts compress",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--model", default=None,
                      help="a checkpoint folder, a training workdir or a shipped model's name "
                           f"(default: the shipped {pretrained.DEFAULT})")
  target = parser.add_mutually_exclusive_group(required=True)
  target.add_argument("--eps", type=float, help="one eps for every attention matrix (eq. 1)")
  target.add_argument("--ratio", type=float, help="target attention size ratio, in (0, 1]")
  parser.add_argument("--allocation", choices=allocation.ALLOCATIONS, default="uniform")
  parser.add_argument("--mode", choices=allocation.MODES, default="efficient")
  parser.add_argument("--finetune-steps", type=int, default=0,
                      help="train the compressed model N steps on its recipe's data (0: no)")
  parser.add_argument("--config", default=None,
                      help="the recipe to fine-tune with (default: the model's own)")
  parser.add_argument("--finetune-lr", type=float, default=None,
                      help=f"peak learning rate (default {FINETUNE_LR:g} on the recipe's data, "
                           f"{tuning.LEARNING_RATE:g} with --finetune-input)")
  parser.add_argument("--finetune-input", default=None, metavar="SERIES.csv",
                      help="heal on these series (wide CSV) with lowrank-ts finetune's hold-out "
                           "and early stopping, instead of on the recipe's data")
  parser.add_argument("--horizon", type=int, default=None,
                      help="--finetune-input: the horizon held out at the end of each series")
  parser.add_argument("--out", required=True, help="folder for the compressed checkpoint")
  args = parser.parse_args(argv)
  with exits.on_error(parser, exits.USAGE):
    try:
      request = allocation.Request(args.eps, args.ratio, args.allocation, args.mode)
    except ValueError as err:  # every message starts with the argument's name: make it the flag
      raise ValueError(f"--{err}") from None
    checks.steps(args.finetune_steps, "--finetune-steps", allow_zero=True)
    if args.finetune_lr is not None and not args.finetune_lr > 0:
      raise ValueError(f"--finetune-lr must be > 0, got {args.finetune_lr}")
    if args.finetune_input is not None:
      if args.config is not None:
        raise ValueError("--config is the recipe's data: --finetune-input replaces it")
      if args.horizon is None or args.horizon <= 0:
        raise ValueError(f"--horizon must be > 0 with --finetune-input, got {args.horizon}")
    elif args.horizon is not None:
      raise ValueError("--horizon is the hold-out of --finetune-input: give that too")
    if args.config is not None and not args.finetune_steps:
      raise ValueError("--config is the fine-tuning recipe: give --finetune-steps N too")
    source = resolve.source(args.model, "--model")
    if args.finetune_steps and args.finetune_input is None:
      try:
        config, origin = recipe(args.config, source)
      except ValueError as err:
        raise ValueError(f"--{err}") from None
    out = atomic.check_output(args.out, "--out", inputs=[source.path], folder=True)
  with exits.on_error(parser, exits.DATA):  # a corrupt checkpoint
    model = source.load()
  with exits.on_error(parser, exits.USAGE):
    try:
      compressed, report = posthoc.compress_to(
          model, request, for_training=bool(args.finetune_steps or args.finetune_input))
    except ValueError as err:  # a ratio the model cannot reach ("ratio ... is below ...")
      raise ValueError(f"--{err}") from None
  record = report_record(report, request, str(source.path))
  if args.finetune_input is not None:
    with exits.on_error(parser, exits.DATA, FloatingPointError):
      names, series = inputs.read_series(args.finetune_input)
      compressed, healed = tuning.finetune(
          compressed, series, args.horizon, names=names,
          steps=args.finetune_steps or tuning.STEPS,
          learning_rate=args.finetune_lr or tuning.LEARNING_RATE)
    record["finetune"] = {"input": args.finetune_input, **healed}
  elif args.finetune_steps:
    with exits.on_error(parser, exits.USAGE):
      try:
        finetune.check_compatible(compressed, config)
      except ValueError as err:
        raise ValueError(f"--{err}") from None
    with exits.on_error(parser, exits.DATA, FloatingPointError):
      compressed, healed = finetune.finetune(compressed, config, args.finetune_steps,
                                             learning_rate=args.finetune_lr or FINETUNE_LR)
    record["finetune"] = {"recipe": origin, **healed}
  with exits.on_error(parser, exits.USAGE):  # --out cannot be written
    write(compressed, record, out)
  print(summary(record))
  if "finetune" in record and "input" in record["finetune"]:
    print(finetune_cli.summary(record["finetune"]))
  elif "finetune" in record:
    f = record["finetune"]
    print(f"fine-tuned {f['steps']} steps on {f['recipe']} (lr {f['learning_rate']:g}): "
          f"held-out loss {f['held_out_loss_before']:.4f} -> {f['held_out_loss_after']:.4f}")
  print(f"wrote {out} ({REPORT} holds this report)")


if __name__ == "__main__":
  main()
