"""The models shipped in the package: each loads, records how it was trained and reproduces the
benchmark scores recorded when it was exported; the command lines default to
``pretrained.DEFAULT``."""

import csv

import numpy as np
import pytest

from lowrank_ts import pretrained
from lowrank_ts.cli import forecast
from lowrank_ts.evaluation import report
from lowrank_ts.interop import resolve
from lowrank_ts.models.config import BoltConfig

RECIPES = {"cpu-zeroshot": "cpu-zeroshot", "cpu-reference": "cpu-reference-s150",
           "cpu-reference-seasonal": "cpu-reference-seasonal"}


def test_every_shipped_model_is_listed_with_its_recipe():
  assert set(pretrained.NAMES) == set(RECIPES) and pretrained.DEFAULT in pretrained.NAMES
  with pytest.raises(ValueError, match="name must be one of the shipped models"):
    pretrained.path("chronos-t5-large")


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_the_shipped_model_is_its_recipes(name):
  model = resolve.load_model(name)
  assert isinstance(model.config, BoltConfig)
  assert (model.config.context_length, model.config.prediction_length) == (256, 24)
  recorded = pretrained.recorded_scores(name)
  assert recorded["recipe"] == RECIPES[name] and recorded["benchmark"] == "m3-tourism"
  assert (pretrained.path(name) / "README.md").read_text().startswith(f"# {name}\n")


@pytest.mark.slow  # over 15 s each: CI's second step
@pytest.mark.parametrize("name", pretrained.NAMES)
def test_it_reproduces_its_recorded_benchmark_scores(name):
  recorded = pretrained.recorded_scores(name)
  now = report.zero_shot_scores(resolve.load_model(name))
  # 1e-5: the forecasts are fp32 and deterministic; another CPU's XLA may sum them in another
  # order (~1e-6 relative), far below any change of the model or of the protocol.
  for key in ("relative_wql", "relative_mase"):
    assert now[key] == pytest.approx(recorded[key], rel=1e-5), key
  for dataset, values in recorded["datasets"].items():
    for metric, value in values.items():
      assert now["datasets"][dataset][metric] == pytest.approx(value, rel=1e-5), dataset


def test_forecast_cli_defaults_to_the_shipped_model(tmp_path):
  t = np.arange(120)
  with open(tmp_path / "series.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["seasonal", "trend"])
    writer.writerows(zip(100 + 10 * np.sin(2 * np.pi * t / 12), 5 + 0.5 * t))
  assert forecast.main(["--input", str(tmp_path / "series.csv"), "--horizon", "12",
                        "--out", str(tmp_path / "out.csv")]) == 0
  with open(tmp_path / "out.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 24 and all(np.isfinite(float(v)) for r in rows for k, v in r.items()
                                 if k not in ("series", "step"))
  trend = [float(r["0.5"]) for r in rows if r["series"] == "trend"]
  assert trend[-1] > trend[0]  # a trained model continues a clean upward trend upward
