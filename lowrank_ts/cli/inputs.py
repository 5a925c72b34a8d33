"""The model and series-input flags shared by the command lines that read a CSV of series
(``forecast``, ``finetune``), and the one way they read it (:mod:`lowrank_ts.inference.csv_io`)."""

from __future__ import annotations

import argparse
from typing import Any

from lowrank_ts import pretrained
from lowrank_ts.inference import csv_io, dataframe


def add_input_flags(parser: argparse.ArgumentParser, timestamp_help: str = "") -> None:
  """``--model``, ``--input``, ``--long`` and the three ``--long`` column flags;
  ``timestamp_help`` adds to ``--timestamp-column``'s help what the command does without one."""
  parser.add_argument("--model", default=None,
                      help="a checkpoint folder, a training workdir or a shipped model's name "
                           f"(default: the shipped {pretrained.DEFAULT})")
  parser.add_argument("--input", required=True, help="wide CSV, one column per series")
  parser.add_argument("--long", action="store_true",
                      help="the input is long: one row per observation with columns "
                           "--id-column, --timestamp-column, --target-column (needs pandas)")
  parser.add_argument("--id-column", default="item_id", help="--long: series id column")
  parser.add_argument("--timestamp-column", default="timestamp",
                      help="--long: timestamp column ('' for none: rows in file order"
                           f"{timestamp_help})")
  parser.add_argument("--target-column", default="target", help="--long: value column")


def columns(args: argparse.Namespace) -> dict[str, Any]:
  """The ``--long`` column flags as the keywords of :func:`csv_io.read_long_csv`."""
  return {"id_column": args.id_column, "target": args.target_column,
          "timestamp_column": args.timestamp_column or None}


def read_series(path: Any, long: bool = False, id_column: str = "item_id",
                timestamp_column: str | None = "timestamp", target: str = "target"):
  """``(names, series)`` from a wide CSV or (``long``) a long one, through the one CSV reader;
  a ValueError (or ImportError without pandas) naming the file, column or row."""
  if not long:
    names, values = csv_io.read_wide_csv(path)
    return names, list(values)
  frame = csv_io.read_long_csv(path, id_column=id_column, timestamp_column=timestamp_column,
                               target=target)
  ids, series, _ = dataframe.series_from_df(frame, id_column=id_column,
                                            timestamp_column=timestamp_column, target=target)
  return [str(i) for i in ids], series
