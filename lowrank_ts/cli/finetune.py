"""Fine-tune a model on your own series: ``lowrank-ts finetune``.

  lowrank-ts finetune [--model DIR] --input series.csv [--long ...] --horizon H \\
      [--steps N] [--learning-rate LR] [--validation last|none] \\
      [--trainable all|head+norms|factors] [--seasonality M] --out DIR2

``--model`` is what :mod:`lowrank_ts.interop.resolve` reads (any model the project loads, dense,
low-rank or compressed; default: the shipped model). ``--input`` is read as ``forecast`` reads
it (wide CSV, or ``--long`` with the same column options), with the same errors. By default the
last ``--horizon`` values of every series are held out, training windows come from the values
before them, and early stopping on the hold-out keeps the best step
(:mod:`lowrank_ts.finetuning.tuning`).

``DIR2`` receives the checkpoint (``config.json`` + ``model.safetensors``; a compressed model
keeps its factors) and ``finetune.json``: the settings, the scores (WQL, MASE) on the hold-out
before and after and of Seasonal Naive, the score history, the stopping rule and the chosen
step. Everything is written in ``DIR2.partial/`` and renamed to ``DIR2`` at the end, so ``DIR2``
exists only complete; ``DIR2.partial/run`` holds the run's checkpoints, and rerunning the same
command after an interruption (SIGINT, SIGTERM, kill -9) resumes from them exactly. A bad
argument exits with status 2, bad data with 1, each with one line.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import warnings
from collections.abc import Sequence

from lowrank_ts.cli import exits, inputs
from lowrank_ts.finetuning import tuning
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import registry

PROG = "lowrank-ts finetune"
REPORT = "finetune.json"
PARTIAL = ".partial"  # DIR2 + PARTIAL: the run's checkpoints and the output being written


def add_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
  """The fine-tuning options (``compress`` adds them with ``prefix="finetune-"``)."""
  parser.add_argument(f"--{prefix}steps", type=int, default=None,
                      help=f"training steps (default {tuning.STEPS})")
  parser.add_argument(f"--{prefix}learning-rate", type=float, default=None,
                      help=f"peak learning rate, linear to 0 (default {tuning.LEARNING_RATE:g})")
  parser.add_argument(f"--{prefix}validation", choices=tuning.VALIDATIONS, default="last",
                      help="hold out the last horizon values and stop early on them (last, "
                           "the default) or train on everything (none)")
  parser.add_argument(f"--{prefix}trainable", choices=tuning.TRAINABLE,
                      default=tuning.DEFAULT_TRAINABLE,
                      help="the parameters that train (default %(default)s)")
  parser.add_argument(f"--{prefix}seasonality", type=int, default=1,
                      help="season length of MASE's scale and Seasonal Naive (default 1)")
  parser.add_argument(f"--{prefix}seed", type=int, default=0)


def options(args: argparse.Namespace, prefix: str = "") -> dict:
  """The :func:`~lowrank_ts.finetuning.tuning.finetune` keywords of the parsed options; a
  ValueError naming the flag for a value out of range."""
  get = lambda name: getattr(args, (prefix + name).replace("-", "_"))
  out = {"steps": get("steps") or tuning.STEPS,
         "learning_rate": get("learning-rate") or tuning.LEARNING_RATE,
         "validation": get("validation"), "trainable": get("trainable"),
         "seasonality": get("seasonality"), "seed": get("seed")}
  for flag, value in ((f"--{prefix}steps", get("steps")),
                      (f"--{prefix}learning-rate", get("learning-rate")),
                      (f"--{prefix}seasonality", out["seasonality"])):
    if value is not None and not value > 0:
      raise ValueError(f"{flag} must be > 0, got {value}")
  if out["seed"] < 0:
    raise ValueError(f"--{prefix}seed must be >= 0, got {out['seed']}")
  return out


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
  inputs.add_input_flags(parser)
  parser.add_argument("--horizon", required=True, type=int,
                      help="the forecast horizon: the values held out at the end of each series")
  add_options(parser)
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  parser.add_argument("--out", required=True, help="folder for the fine-tuned checkpoint")
  return parser


def check_out(out: str, source: resolve.Source, input_path: str) -> pathlib.Path:
  """``out`` as a path, or a ValueError naming ``--out`` when it is the model's folder, the
  input, or an existing path."""
  path = pathlib.Path(out)
  if path.resolve() == source.path.resolve():
    raise ValueError(f"--out {out!r} is the model's folder: give a new folder")
  if path.resolve() == pathlib.Path(input_path).resolve():
    raise ValueError(f"--out {out!r} is the --input file: give a new folder")
  if path.exists():
    raise ValueError(f"--out {out!r} exists: give a new folder (an interrupted run resumes "
                     f"from {out}{PARTIAL}, never from a finished folder)")
  return path


def write(model: registry.ForecastModel, report: dict, out: pathlib.Path,
          partial: pathlib.Path) -> None:
  """The checkpoint and ``finetune.json``, written in ``partial/out`` then renamed to ``out``;
  ``partial`` is removed after."""
  staging = partial / "out"
  if staging.exists():
    shutil.rmtree(staging)
  hf.save(model, staging, factorised=not model.config.t5.is_dense)
  (staging / REPORT).write_text(json.dumps(report, indent=1) + "\n")
  staging.rename(out)
  shutil.rmtree(partial)


def summary(report: dict) -> str:
  """The printed scores: before / after / Seasonal Naive and the chosen step."""
  if report["validation"] == "none":
    return f"trained {report['steps_run']} steps without a hold-out"
  lines = [f"{'hold-out':<16} {'WQL':>8} {'MASE':>8}"]
  for label, key in (("before", "before"), ("after", "after"),
                     ("Seasonal Naive", "seasonal_naive")):
    mase = report[key]["mase"]
    lines.append(f"{label:<16} {report[key]['wql']:>8.4f} "
                 + (f"{mase:>8.4f}" if mase is not None else f"{'n/a':>8}"))
  lines.append(f"kept step {report['chosen_step']} of {report['steps_run']} run "
               f"({report['steps']} asked; {report['rule']})")
  return "\n".join(lines)


def _show(message, *args, **kwargs) -> None:
  """A library warning as one ``prog: warning: ...`` line on stderr, when it is raised."""
  del args, kwargs
  print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


@exits.interruptible(PROG)
def main(argv: Sequence[str] | None = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  with exits.on_error(parser, exits.USAGE):
    if args.horizon <= 0:
      raise ValueError(f"--horizon must be > 0, got {args.horizon}")
    keywords = options(args)
    source = resolve.source(args.model, "--model")
    out = check_out(args.out, source, args.input)
  partial = out.parent / (out.name + PARTIAL)
  with warnings.catch_warnings():
    warnings.simplefilter("always")
    warnings.showwarning = _show
    with exits.on_error(parser, exits.DATA, ImportError):
      names, series = inputs.read_series(args.input, args.long, **inputs.columns(args))
      model = source.load()
    with exits.on_error(parser, exits.DATA, FloatingPointError):
      try:
        tuned, report = tuning.finetune(model, series, args.horizon, names=names,
                                        workdir=partial / "run", progress=not args.quiet,
                                        **keywords)
      except ValueError as err:
        if str(err).startswith("trainable"):  # an argument the model cannot take
          exits.fail(parser, f"--{err}", exits.USAGE)
        raise
  report = {"model": str(source.path), "input": str(args.input), **report}
  with exits.on_error(parser, exits.DATA):
    write(tuned, report, out, partial)
  print(summary(report))
  print(f"wrote {out} ({REPORT} holds the report)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
