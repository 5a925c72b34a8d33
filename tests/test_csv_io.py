"""The one CSV reader (wide and long): blank lines, a byte-order mark, quoted fields, duplicate
names, numbers float32 cannot hold, binary files; and the command line's one line and exit 1
for bad data."""

import numpy as np
import pytest

from lowrank_ts.cli import forecast
from lowrank_ts.inference import csv_io
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry

pd = pytest.importorskip("pandas")

WIDE = "a,b\n1,10\n2,\n3,30\n4,40\n"


def _wide(tmp_path, text, name="in.csv", mode="w"):
  path = tmp_path / name
  if mode == "wb":
    path.write_bytes(text)
  else:
    path.write_text(text)
  return path


@pytest.mark.parametrize("text", [
    WIDE + "\n\n",  # trailing blank lines
    WIDE + "   \n \t\n",  # trailing whitespace-only lines
    "\n" + WIDE.replace("2,\n", "2,\n\n"),  # a blank line before the header and in the middle
    WIDE.replace("\n", "\r\n") + "\r\n",  # Windows line ends
])
def test_blank_lines_are_not_missing_steps(tmp_path, text):
  names, values = csv_io.read_wide_csv(_wide(tmp_path, text))
  expected_names, expected = csv_io.read_wide_csv(_wide(tmp_path, WIDE, "plain.csv"))
  assert names == expected_names
  np.testing.assert_array_equal(values, expected)  # 4 steps, the missing one where it was
  assert values.shape == (2, 4) and np.isnan(values[1, 1])


def test_a_quoted_empty_field_is_a_missing_value_and_quoted_cells_are_read(tmp_path):
  names, values = csv_io.read_wide_csv(_wide(tmp_path, 'x\n1\n""\n"3"\n NA \nnan\n'))
  assert names == ["x"]
  np.testing.assert_array_equal(values, [[1, np.nan, 3, np.nan, np.nan]])
  names, _ = csv_io.read_wide_csv(_wide(tmp_path, '"a, quoted",b\n1,2\n'))
  assert names == ["a, quoted", "b"]


def test_a_byte_order_mark_is_dropped_from_the_first_name(tmp_path):
  path = _wide(tmp_path, b"\xef\xbb\xbf" + WIDE.encode(), mode="wb")
  assert csv_io.read_wide_csv(path)[0] == ["a", "b"]
  long = _wide(tmp_path, b"\xef\xbb\xbfitem_id,timestamp,target\nx,1,2.5\n", "long.csv", "wb")
  assert list(csv_io.read_long_csv(long).columns) == ["item_id", "timestamp", "target"]


@pytest.mark.parametrize("text, match", [
    ("a,b,a\n1,2,3\n", r"in\.csv: duplicate column name 'a' \(columns 1 and 3\)"),
    ("a,,c\n1,2,3\n", r"in\.csv: column 2 of the header \(row 1\) has no name"),
    ("\n\n", r"in\.csv has no header row"),
    ("a,b\n1,2,3\n", r"in\.csv, row 2: 3 cells, but the header names 2 columns"),
])
def test_header_and_shape_errors_name_the_file(tmp_path, text, match):
  with pytest.raises(ValueError, match=match):
    csv_io.read_wide_csv(_wide(tmp_path, text))


@pytest.mark.parametrize("cell, reason", [
    ("x", r"holds 'x', which is not a number"),
    ("inf", r"holds 'inf': infinite values cannot be forecast"),
    ("-Infinity", r"holds '-Infinity': infinite values cannot be forecast"),
    ("1e400", r"holds '1e400', beyond float64's range"),
    ("1e39", (r"holds '1e39': finite, but beyond the range of float32, the models' precision "
              r"\(\|x\| <= 3.4028235e\+38\)")),
    ("-4e38", r"holds '-4e38': finite, but beyond the range of float32"),
    ("1e-45", r"holds '1e-45': nonzero, but below float32's normal range"),
])
def test_bad_numbers_name_file_column_row_and_the_reason(tmp_path, cell, reason):
  path = _wide(tmp_path, f"a,b\n1,2\n\n3,{cell}\n")
  with pytest.raises(ValueError, match=rf"^input {path}, column 'b', row 4 {reason}"):
    csv_io.read_wide_csv(path)


def test_numbers_at_the_ends_of_float32_are_read(tmp_path):
  _, values = csv_io.read_wide_csv(_wide(tmp_path, "a\n3.4e38\n-1e-30\n1.2e-38\n0\n"))
  np.testing.assert_array_equal(values, np.float32([[3.4e38, -1e-30, 1.2e-38, 0]]))


def test_binary_and_non_utf8_files_are_named(tmp_path):
  path = _wide(tmp_path, b"PK\x03\x04\x00\x00binary", "model.zip", "wb")
  with pytest.raises(ValueError, match=rf"^input {path} is a binary file \(a NUL byte at byte 4\)"):
    csv_io.read_wide_csv(path)
  path = _wide(tmp_path, b"a,b\n1,\xff\n", "latin.csv", "wb")
  with pytest.raises(ValueError, match=rf"^input {path} is not UTF-8 text \(byte 6 is b'\\xff'\)"):
    csv_io.read_wide_csv(path)


def test_the_long_format_goes_through_the_same_reader(tmp_path):
  path = _wide(tmp_path, "item_id,timestamp,target,other\nx,2024-01-01,1\n\nx,2024-01-02,\n"
                         "y,3,1e5,ignored\n\n", "long.csv")
  frame = csv_io.read_long_csv(path)
  assert list(frame.index) == [2, 4, 5]  # rows as the file counts them
  assert list(frame["item_id"]) == ["x", "x", "y"]
  np.testing.assert_array_equal(frame["target"], [1, np.nan, 1e5])
  path = _wide(tmp_path, "item_id,timestamp,target\nx,1,2\nx,2,1e39\n", "big.csv")
  with pytest.raises(ValueError, match=rf"^input {path}, column 'target', row 3 holds '1e39'"):
    csv_io.read_long_csv(path)
  with pytest.raises(ValueError, match=rf"^timestamp_column: input {path} has no column 'time'"):
    csv_io.read_long_csv(path, timestamp_column="time")
  path = _wide(tmp_path, "item_id,timestamp,target\nx,1,2\n,2,3\n", "noid.csv")
  with pytest.raises(ValueError, match=rf"^input {path}, column 'item_id', row 3 has no id"):
    csv_io.read_long_csv(path)
  assert csv_io.read_long_csv(_wide(tmp_path, "item_id,timestamp,target\nx,10,1\nx,20,2\n",
                                    "ints.csv"))["timestamp"].dtype == np.int64


@pytest.fixture(scope="module")
def bolt(tmp_path_factory):
  folder = tmp_path_factory.mktemp("model") / "bolt"
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), folder)
  return folder


def test_the_forecast_of_a_file_with_blank_lines_is_the_plain_files(bolt, tmp_path):
  plain, blank = tmp_path / "plain.csv", tmp_path / "blank.csv"
  rows = "".join(f"{np.sin(t / 3) + 3:.5f},{t % 7}\n" for t in range(40))
  plain.write_text("a,b\n" + rows)
  blank.write_bytes(b"\xef\xbb\xbfa,b\n" + rows.encode() + b"\n\n  \n")
  for path in (plain, blank):
    assert forecast.main(["--model", str(bolt), "--input", str(path), "--horizon", "4",
                          "--quiet", "--out", str(path.with_suffix(".out"))]) == 0
  assert plain.with_suffix(".out").read_text() == blank.with_suffix(".out").read_text()


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,inf\n", "input {path}, column 'b', row 2 holds 'inf': infinite values"),
    ("a,b\n1,1e400\n", "input {path}, column 'b', row 2 holds '1e400', beyond float64's range"),
    ("a,a\n1,2\n", "input {path}: duplicate column name 'a' (columns 1 and 2)"),
    ("a,b\n1,2\n3,x\n", "input {path}, column 'b', row 3 holds 'x', which is not a number"),
])
def test_bad_data_exits_1_with_one_line(bolt, tmp_path, capsys, text, message):
  path = _wide(tmp_path, text)
  with pytest.raises(SystemExit) as exit_info:
    forecast.main(["--model", str(bolt), "--input", str(path), "--horizon", "2",
                   "--out", str(tmp_path / "out.csv")])
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 1
  assert len(lines) == 1 and lines[0].startswith(
      f"lowrank-ts forecast: error: {message.format(path=path)}"), lines
  assert not (tmp_path / "out.csv").exists()
