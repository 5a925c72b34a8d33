"""Forecast CSV series with a checkpoint: ``python -m lowrank_ts.forecast``.

  python -m lowrank_ts.forecast [--model DIR] --input series.csv --horizon 24 \\
      --num-samples 20 --seed 0 [--temperature 1 --top-k 50 --top-p 1] [--long] --out forecast.csv

``DIR`` is a Hugging Face format checkpoint folder (Chronos or Chronos-Bolt); without
``--model``, the package's shipped zero-shot model (:mod:`lowrank_ts.pretrained`). The CSV formats
are :mod:`lowrank_ts.inference.csv_io`'s (wide by default, ``--long`` for series/value rows);
sampling options apply to Chronos only. The library: :func:`lowrank_ts.inference.forecasting.forecast`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import jax

from lowrank_ts import cli, pretrained
from lowrank_ts.inference import csv_io, forecasting
from lowrank_ts.interop import hf


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lowrank_ts.forecast",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default=None,
                      help="Hugging Face format checkpoint folder (default: the shipped "
                           f"{pretrained.DEFAULT} model)")
  parser.add_argument("--input", required=True, help="wide CSV, one column per series")
  parser.add_argument("--long", action="store_true",
                      help="the input is long: columns 'series' and 'value', rows in time order")
  parser.add_argument("--horizon", required=True, type=int)
  parser.add_argument("--num-samples", type=int, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--temperature", type=float, default=None)
  parser.add_argument("--top-k", type=int, default=None)
  parser.add_argument("--top-p", type=float, default=None)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  if args.horizon <= 0:
    cli.fail(parser, f"--horizon must be > 0, got {args.horizon}", cli.USAGE)
  options = {k: v for k, v in (("num_samples", args.num_samples),
                               ("temperature", args.temperature), ("top_k", args.top_k),
                               ("top_p", args.top_p)) if v is not None}
  with cli.errors(parser, cli.DATA):
    names, context = (csv_io.read_long_csv if args.long else csv_io.read_wide_csv)(args.input)
    model = pretrained.load() if args.model is None else hf.load(args.model)
  with cli.errors(parser, cli.USAGE):  # sampling options the model does not take
    result = forecasting.forecast(model, context, args.horizon, jax.random.key(args.seed),
                                  **options)
  with cli.errors(parser, cli.DATA):
    csv_io.write_forecast_csv(args.out, names, result)
  return 0


if __name__ == "__main__":
  sys.exit(main())
