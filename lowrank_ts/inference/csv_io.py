"""The CSV files of ``lowrank-ts forecast``: one reader for both input layouts, and the output.

Reading (:func:`read_table`, what both layouts go through): UTF-8 text (a byte-order mark is
dropped), the first non-blank row is the header, blank lines (empty or whitespace only) are
skipped anywhere, quoted fields follow the csv module. A binary file, a header without names,
an empty or a duplicate column name is refused with one line naming the file (and the
columns). Rows are counted as a spreadsheet counts them: the header is row 1 of a file without
leading blank lines; every message about a cell names the file, the column and the row.

Numbers (:func:`parse_number`): an empty cell, ``NA``, ``NaN``, ``N/A``, ``null`` or ``None``
(any case) is missing. Anything else must be a finite number that float32, the models'
precision, holds: ``inf``, ``1e400`` (beyond float64) and ``1e39`` (finite, beyond float32's
3.4e38) are refused, each with the reason, and so is a nonzero value below float32's normal
range (1.2e-38), which would be read as 0 or lose its digits.

- Wide (:func:`read_wide_csv`): a header of series names, one column per series, empty cells
  for missing values (and for the start of shorter series); a row with fewer cells than the
  header is missing at the end, one with more is refused. A column without any value is a
  series without observations (:mod:`lowrank_ts.inference.forecasting` forecasts it with a
  warning).
- Long (:func:`read_long_csv`): ``item_id, timestamp, target`` rows (names by argument; other
  columns ignored), returned as the DataFrame :mod:`lowrank_ts.inference.dataframe` reads, its
  index the rows' numbers; timestamps that are all integers become integer steps.

Output (:func:`write_forecast_csv`): one row per series and step, ``series, step, mean, 0.1,
..., 0.9``, written atomically (:mod:`lowrank_ts.atomic`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from lowrank_ts import atomic, checks
from lowrank_ts.inference import dataframe
from lowrank_ts.models.config import QUANTILE_LEVELS

MISSING = frozenset({"", "na", "nan", "n/a", "null", "none"})
_INTEGER = re.compile(r"[+-]?\d+")
_SNIFF_BYTES = 1 << 16  # a NUL byte in the first 64 KiB: a binary file


def _existing(path: Any) -> pathlib.Path:
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"input {path} does not exist or is not a file")
  return path


@dataclasses.dataclass(frozen=True)
class Table:
  """A CSV file's header ``names``, its non-blank ``rows`` of stripped cells after the header,
  and each row's number in the file (``numbers``: its first line, 1-based)."""
  path: pathlib.Path
  names: list[str]
  rows: list[list[str]]
  numbers: list[int]


def read_table(path: Any) -> Table:
  """The header and rows of a CSV file (see the module doc); a ValueError naming the file
  for anything that is not a CSV table with distinct column names."""
  path = _existing(path)
  data = path.read_bytes()
  if b"\x00" in data[:_SNIFF_BYTES]:
    offset = data.index(b"\x00")
    raise ValueError(f"input {path} is a binary file (a NUL byte at byte {offset}), not a CSV "
                     "text file")
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as err:
    raise ValueError(f"input {path} is not UTF-8 text (byte {err.start} is "
                     f"{data[err.start:err.start + 1]!r}); a CSV text file is expected") from None
  rows, numbers = [], []
  reader = csv.reader(io.StringIO(text, newline=""))
  start = 1
  try:
    for row in reader:
      # csv gives [] for an empty line and [''] only for a quoted empty field.
      if row and not (len(row) == 1 and row[0] and not row[0].strip()):
        rows.append([cell.strip() for cell in row])
        numbers.append(start)
      start = reader.line_num + 1
  except csv.Error as err:
    raise ValueError(f"input {path}, row {start}: {err}") from None
  if not rows or not any(rows[0]):
    raise ValueError(f"input {path} has no header row of column names")
  names = rows[0]
  unnamed = [i + 1 for i, name in enumerate(names) if not name]
  if unnamed:
    raise ValueError(f"input {path}: column {unnamed[0]} of the header (row {numbers[0]}) has "
                     "no name")
  seen: dict[str, int] = {}
  for i, name in enumerate(names):
    if name in seen:
      raise ValueError(f"input {path}: duplicate column name {name!r} (columns {seen[name]} "
                       f"and {i + 1}); every column needs its own name")
    seen[name] = i + 1
  return Table(path, names, rows[1:], numbers[1:])


def parse_number(cell: str, where: str) -> float:
  """The float of a stripped cell (NaN for a missing marker, see the module doc); a ValueError
  ``where: ...`` saying why otherwise."""
  if cell.lower() in MISSING:
    return math.nan
  try:
    value = float(cell)
  except ValueError:
    raise ValueError(f"{where} holds {cell!r}, which is not a number") from None
  if math.isinf(value) and cell.lstrip("+-").lower() not in ("inf", "infinity"):
    raise ValueError(f"{where} holds {cell!r}, beyond float64's range (|x| <= 1.8e308)")
  reason = checks.float32_reason(value)
  if reason:
    raise ValueError(f"{where} holds {cell!r}: {reason}")
  return value


def _cell_label(table: Table, column: int, row: int) -> str:
  return f"input {table.path}, column {table.names[column]!r}, row {table.numbers[row]}"


def read_wide_csv(path: Any) -> tuple[list[str], np.ndarray]:
  """Series names and a ``[B, T]`` float32 array (NaN = missing) from a wide CSV."""
  table = read_table(path)
  if not table.rows:
    raise ValueError(f"input {table.path} has a header but no rows of values")
  values = np.full((len(table.names), len(table.rows)), np.nan, np.float32)
  for t, row in enumerate(table.rows):
    if len(row) > len(table.names):
      raise ValueError(f"input {table.path}, row {table.numbers[t]}: {len(row)} cells, but the "
                       f"header names {len(table.names)} columns")
    for b, cell in enumerate(row):
      if cell:
        values[b, t] = parse_number(cell, _cell_label(table, b, t))
  return table.names, values  # a column without numbers is an unobserved series


def read_long_csv(path: Any, *, id_column: str = "item_id",
                  timestamp_column: str | None = "timestamp", target: str = "target"):
  """The long DataFrame of a CSV (see the module doc): the id column as strings, the
  timestamps as strings (int64 when every one is an integer), the target as float64 (checked
  by :func:`parse_number`); its index is each row's number in the file."""
  pd = dataframe.require_pandas()
  table = read_table(path)
  columns = {}
  for arg, name in (("id_column", id_column), ("timestamp_column", timestamp_column),
                    ("target", target)):
    if name is None:
      continue
    if name not in table.names:
      raise ValueError(f"{arg}: input {table.path} has no column {name!r} (columns: "
                       f"{table.names})")
    columns[arg] = table.names.index(name)
  if not table.rows:
    raise ValueError(f"input {table.path} has a header but no rows of values")

  def cells(index):
    return [row[index] if index < len(row) else "" for row in table.rows]

  for t, row in enumerate(table.rows):
    if len(row) > len(table.names):
      raise ValueError(f"input {table.path}, row {table.numbers[t]}: {len(row)} cells, but the "
                       f"header names {len(table.names)} columns")
  ids = cells(columns["id_column"])
  if "" in ids:
    raise ValueError(f"{_cell_label(table, columns['id_column'], ids.index(''))} has no id")
  frame = {id_column: ids}
  if timestamp_column is not None:
    stamps = cells(columns["timestamp_column"])
    frame[timestamp_column] = (np.array(stamps, np.int64)
                               if all(_INTEGER.fullmatch(s) for s in stamps) else stamps)
  target_index = columns["target"]
  frame[target] = np.array([parse_number(cell, _cell_label(table, target_index, t))
                            for t, cell in enumerate(cells(target_index))], np.float64)
  return pd.DataFrame(frame, index=pd.Index(table.numbers, name="row"))


def write_forecast_csv(path: Any, names: Sequence[str], result: dict[str, np.ndarray]) -> None:
  """Writes ``series, step, mean, 0.1 ... 0.9`` rows for the output of :func:`forecast`, to a
  temporary file renamed into place once complete."""
  if not isinstance(result, dict) or set(result) != {"mean", "quantiles"}:
    raise ValueError("result must be the dict returned by forecast()")
  mean, quantiles = np.asarray(result["mean"]), np.asarray(result["quantiles"])
  if mean.ndim != 2 or quantiles.shape != mean.shape + (len(QUANTILE_LEVELS),):
    raise ValueError(f"result shapes disagree: mean {mean.shape}, quantiles {quantiles.shape}")
  if len(names) != mean.shape[0]:
    raise ValueError(f"names has {len(names)} entries for {mean.shape[0]} series")
  with atomic.output_file(path) as temporary, temporary.open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["series", "step", "mean", *[str(q) for q in QUANTILE_LEVELS]])
    for b, name in enumerate(names):
      for h in range(mean.shape[1]):
        writer.writerow([name, h + 1, f"{mean[b, h]:.7g}",
                         *[f"{v:.7g}" for v in quantiles[b, h]]])
