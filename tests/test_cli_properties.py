"""Property test of ``lowrank-ts forecast`` on generated wide CSVs (blank lines, a BOM, quoted
fields, CRLF line ends, huge / tiny / NaN / inf / beyond-float32 values, text, ragged rows,
duplicate names): each either forecasts -- and then the file with every number multiplied by a
power of two forecasts that multiple -- or fails with exit 1 or 2 and one line, never a
traceback, leaving no output."""

import contextlib
import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrank_ts.cli import forecast
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry

# Reproducible, few examples: each runs the command twice (a forecast and its rescaled twin).
PROFILE = settings(deadline=None, max_examples=12, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
BAD_CELLS = ["inf", "-inf", "1e400", "1e39", "-1e-45", "x", "1,5"]
NAMES = st.text("abcxyz ,\"'", min_size=1, max_size=4).filter(lambda s: s.strip())


@st.composite
def tables(draw):
  """``(names, rows)``: cells are float32 numbers (as exact decimal text) or missing (empty,
  ``NA``, ``nan``), some rows short; and at most one defect: a bad cell (``BAD_CELLS``), a row
  with a cell too many, or a duplicate name."""
  names = draw(st.lists(NAMES, min_size=1, max_size=3))
  magnitude = 10.0 ** draw(st.integers(-30, 30))
  # |values| in [0.1, 5] x magnitude: inside float32's normal range after any 2^+-20.
  values = st.one_of(st.just(0.0), st.floats(0.1, 5), st.floats(-5, -0.1))
  rows = []
  for _ in range(draw(st.integers(1, 24))):
    width = len(names) - draw(st.sampled_from([0, 0, 0, 0, 0, 1]))
    row = []
    for _ in range(max(width, 1)):
      if draw(st.integers(0, 7)):
        row.append(float(np.float32(draw(values) * magnitude)))
      else:
        row.append(draw(st.sampled_from(["", "NA", "nan"])))
    rows.append(row)
  defect = draw(st.sampled_from(["none", "none", "none", "cell", "ragged", "names"]))
  where = draw(st.integers(0, len(rows) - 1))
  if defect == "cell":
    rows[where][draw(st.integers(0, len(rows[where]) - 1))] = draw(st.sampled_from(BAD_CELLS))
  elif defect == "ragged":
    rows[where] = rows[where] + [""] * (len(names) + 1 - len(rows[where]))
  elif defect == "names":
    names = [*names, names[0]]
  return names, rows


def _text(names, rows, layout, scale=1.0):
  """The CSV text: numbers written exactly (repr of the float64 of a float32), times ``scale``
  (a power of two: exact)."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if layout["quote"] else csv.QUOTE_MINIMAL,
                      lineterminator="\r\n" if layout["crlf"] else "\n")
  writer.writerow(names)
  if -1 in layout["blank_after"]:
    buffer.write("\n")
  for i, row in enumerate(rows):
    writer.writerow([repr(c * scale) if isinstance(c, float) else c for c in row])
    if i in layout["blank_after"]:
      buffer.write("\n" if i % 2 else "  \n")
  return ("\ufeff" if layout["bom"] else "") + buffer.getvalue()


LAYOUTS = st.fixed_dictionaries({
    "quote": st.booleans(), "crlf": st.booleans(), "bom": st.booleans(),
    "blank_after": st.sets(st.integers(-1, 24), max_size=3)})


@pytest.fixture(scope="module")
def bolt(tmp_path_factory):
  folder = tmp_path_factory.mktemp("model") / "bolt"
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), folder)
  return folder


def _forecast(bolt, path, out):
  """``(exit code, stderr lines)`` of the command, run in this process."""
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    try:
      code = forecast.main(["--model", str(bolt), "--input", str(path), "--horizon", "3",
                            "--quiet", "--out", str(out)])
    except SystemExit as exit_:
      code = exit_.code
  return code, err.getvalue().strip().splitlines()


def _table(out):
  with open(out, newline="") as f:
    rows = list(csv.reader(f))
  return [row[:2] for row in rows[1:]], np.array([[float(v) for v in row[2:]] for row in rows[1:]])


@PROFILE
@given(table=tables(), layout=LAYOUTS, exponent=st.integers(-20, 20))
def test_a_generated_csv_forecasts_equivariantly_or_fails_with_one_line(bolt, tmp_path, table,
                                                                        layout, exponent):
  names, rows = table
  scale = 2.0 ** exponent
  results = []
  for i, factor in enumerate((1.0, scale)):
    path, out = tmp_path / f"in{i}.csv", tmp_path / f"out{i}.csv"
    path.write_text(_text(names, rows, layout, factor), newline="")
    out.unlink(missing_ok=True)
    code, lines = _forecast(bolt, path, out)
    errors = [line for line in lines if ": warning: " not in line]
    assert not any("Traceback" in line for line in lines), lines
    if code == 0:
      assert not errors, lines
      results.append(_table(out))
    else:
      assert code in (1, 2) and len(errors) == 1, (code, lines)
      assert errors[0].startswith("lowrank-ts forecast: error: "), errors
      assert not out.exists()
      results.append(code)
  if isinstance(results[0], int):
    assert results[1] == results[0]  # the same error for the same defect
    return
  (keys, values), (scaled_keys, scaled_values) = results
  assert keys == scaled_keys
  assert np.isfinite(values).all()
  for j in range(len(names)):
    observed = {row[j] for row in rows if j < len(row) and isinstance(row[j], float)}
    if len(observed) < 2:
      # Unobserved or constant: chronos-forecasting's rule sets an absolute scale (1, or
      # 1e-5 for a constant), so that forecast is not a multiple of the data; the model's
      # reference equivalence keeps that rule.
      continue
    # Scaling by 2^k is exact in the input and in the model (tests/models/test_scaling.py);
    # the CSV holds 7 significant digits: a relative rounding of at most 5e-7 on each side.
    np.testing.assert_allclose(scaled_values[3 * j:3 * j + 3], values[3 * j:3 * j + 3] * scale,
                               rtol=1e-6)
