"""Forecast CSV series with a model: ``lowrank-ts forecast``.

  lowrank-ts forecast [--model DIR] --input series.csv --horizon 24 \\
      --num-samples 20 --seed 0 [--temperature 1 --top-k 50 --top-p 1] [--long] \\
      [--batch-size 64] [--data-parallel] [--plot fan.png] --out forecast.csv

``DIR`` is what :mod:`lowrank_ts.interop.resolve` reads (a checkpoint folder, a training
workdir, a shipped model's name; without ``--model`` the shipped default). Inputs:
wide CSV (:mod:`lowrank_ts.inference.csv_io`: one column per series; output ``series, step,
mean, 0.1 ... 0.9``) or, with ``--long``, the ecosystem's long format
(:mod:`lowrank_ts.inference.dataframe`: ``item_id, timestamp, target`` rows; output
``item_id, timestamp, mean, 0.1 ... 0.9`` with future timestamps; needs pandas). A series with
no observed value is forecast from an empty context, as chronos-forecasting does, with a
warning; the exit code stays 0. Sampling options apply to Chronos only. The library:
:func:`lowrank_ts.inference.forecasting.forecast`.

Both layouts go through one reader (:mod:`lowrank_ts.inference.csv_io`: blank lines, a BOM,
duplicate names, numbers float32 cannot hold; errors name the file, column and row). ``--out``
and ``--plot`` are checked before the model runs (a missing or unwritable folder, a path that
is an input or one of the model's files) and written atomically (:mod:`lowrank_ts.atomic`):
they appear whole or not at all. A bad argument exits 2, bad data (the input, the model's
weights) 1, SIGINT / SIGTERM 130 / 143, each with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import jax
import numpy as np

from lowrank_ts import atomic, checks, sharding
from lowrank_ts.cli import exits, inputs
from lowrank_ts.inference import csv_io, dataframe, forecasting
from lowrank_ts.interop import resolve

DEFAULT_BATCH = 64  # series per model call: Chronos-T5-small's 20-sample cache stays < 1 GB


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="lowrank-ts forecast", description=__doc__.split("\n\n")[0],
      epilog="A series with no observed value (an empty column) is not an error: it is "
             "forecast as chronos-forecasting forecasts it (from an empty context: Chronos "
             "with scale 1 and every token PAD, Bolt with loc 0 and scale 1), a warning names "
             "it, and the exit code stays 0.")
  inputs.add_input_flags(parser, ", output 'step' 1..horizon")
  parser.add_argument("--freq", default=None,
                      help="--long: pandas frequency of the timestamps (default: inferred)")
  parser.add_argument("--horizon", required=True, type=int)
  parser.add_argument("--num-samples", type=int, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--temperature", type=float, default=None)
  parser.add_argument("--top-k", type=int, default=None)
  parser.add_argument("--top-p", type=float, default=None)
  parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                      help="series per model call: memory is bounded by one batch, and "
                           "every batch reuses one compiled program (default %(default)s)")
  parser.add_argument("--data-parallel", action="store_true",
                      help="split each batch over all local devices (jax.devices())")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  parser.add_argument("--plot", default=None, metavar="FILE.png",
                      help="also write fan charts (history tail, median, 10-90 %% band)")
  parser.add_argument("--plot-series", type=int, default=6,
                      help="series in the --plot figure (default %(default)s)")
  parser.add_argument("--out", required=True)
  return parser


# Library argument names as the flags that set them, for the messages.
FLAGS = {"horizon": "--horizon", "num_samples": "--num-samples", "temperature": "--temperature",
         "top_k": "--top-k", "top_p": "--top-p", "batch_size": "--batch-size",
         "id_column": "--id-column", "timestamp_column": "--timestamp-column",
         "target": "--target-column", "freq": "--freq"}


@exits.interruptible("lowrank-ts forecast")
def main(argv: Sequence[str] | None = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  with exits.on_error(parser, exits.USAGE):
    for flag, value in (("--horizon", args.horizon), ("--batch-size", args.batch_size),
                        ("--plot-series", args.plot_series)):
      if value <= 0:
        raise ValueError(f"{flag} must be > 0, got {value}")
    checks.seed(args.seed, "--seed")
    if args.num_samples is not None:
      checks.positive_int(args.num_samples, "--num-samples", upper=forecasting.MAX_NUM_SAMPLES,
                          why=forecasting.NUM_SAMPLES_LIMIT)
    if args.plot is not None and not args.plot.lower().endswith(".png"):
      raise ValueError(f"--plot must name a .png file, got {args.plot!r}")
    if args.freq is not None and not args.long:
      raise ValueError("--freq applies to --long input only")
    source = resolve.source(args.model, "--model")
    read = [args.input, source.path]
    atomic.check_output(args.out, "--out", inputs=read)
    if args.plot is not None:
      atomic.check_output(args.plot, "--plot", inputs=[*read, args.out])
  columns = inputs.columns(args)
  with exits.on_error(parser, exits.DATA, ImportError, flags=FLAGS):  # the input, the model
    if args.long:
      frame = csv_io.read_long_csv(args.input, **columns)
    else:
      names, context = csv_io.read_wide_csv(args.input)
    model = source.load()
  with exits.on_error(parser, exits.USAGE, flags=FLAGS):
    forecasting.check_horizon(model, args.horizon)
  options = {k: v for k, v in (("num_samples", args.num_samples),
                               ("temperature", args.temperature), ("top_k", args.top_k),
                               ("top_p", args.top_p)) if v is not None}
  options.update(batch_size=args.batch_size, progress=not args.quiet)
  if args.data_parallel:
    options["mesh"] = sharding.make_mesh((jax.device_count(), 1))
  key = jax.random.key(args.seed)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if args.long:
      # A --freq that does not fit the data is the argument's fault; anything else the data's.
      code = exits.USAGE if args.freq is not None else exits.DATA
      with exits.on_error(parser, code, flags=FLAGS):
        names, context, _ = dataframe.series_from_df(frame, freq=args.freq, **columns)
      with exits.on_error(parser, exits.USAGE, flags=FLAGS):  # options the model does not take
        result = dataframe.forecast_df(model, frame, args.horizon, key, freq=args.freq,
                                       **columns, **options)
      _report(parser, caught)
      with exits.on_error(parser, exits.DATA):
        with atomic.output_file(args.out) as temporary:
          result.to_csv(temporary, index=False, float_format="%.7g")
        quantiles = np.stack([result[c].to_numpy() for c in result.columns[3:]], -1)
        quantiles = quantiles.reshape(len(names), args.horizon, -1)
    else:
      with exits.on_error(parser, exits.USAGE, flags=FLAGS):
        result = forecasting.forecast(model, context, args.horizon, key, names=names, **options)
      _report(parser, caught)
      with exits.on_error(parser, exits.DATA):
        csv_io.write_forecast_csv(args.out, names, result)
      quantiles = result["quantiles"]
  if args.plot is not None:
    from lowrank_ts.evaluation import plots
    with exits.on_error(parser, exits.DATA, ImportError), \
        atomic.output_file(args.plot) as temporary:
      plots.forecast_fan_charts([str(n) for n in names], context, quantiles, temporary,
                                num_series=args.plot_series)
  return 0


def _report(parser: argparse.ArgumentParser, caught: list) -> None:
  """The library's warnings as one ``prog: warning: ...`` line each on stderr (each once)."""
  for message in dict.fromkeys(str(w.message) for w in caught):
    print(f"{parser.prog}: warning: {message}", file=sys.stderr)
  caught.clear()


if __name__ == "__main__":
  sys.exit(main())
