"""experiments.precondition: the two checks, their thresholds, and the UNINFORMATIVE status."""

import collections

import numpy as np
import pytest

from experiments import common, precondition
from lowrank_ts.models import registry
from lowrank_ts.models.config import named_config


def _status(relative_wql, rank1_relative_wql, claim_passes=True):
  verdict = common.Verdict()
  verdict.check("claim", 0.0 if claim_passes else 2.0, "<=", 1.0, "d", "r")
  precondition.record(verdict, precondition.Measured(relative_wql, rank1_relative_wql, 34))
  return verdict.status


def test_thresholds_are_the_stated_ones():
  assert precondition.MAX_RELATIVE_WQL == 1.0 and precondition.MIN_RANK1_COST == 0.15
  verdict = common.Verdict()
  precondition.record(verdict, precondition.Measured(0.9, 1.2, 34), "m")
  assert verdict.thresholds == {"precondition_m_relative_wql": ["<=", 1.0, "precondition"],
                                "precondition_m_rank1_cost": [">=", 0.15, "precondition"]}


def test_a_model_that_cannot_carry_the_claim_is_uninformative():
  assert _status(0.8, 1.2) == "PASS"  # forecasts, and loses 50 % at rank 1
  assert _status(0.8, 1.2, claim_passes=False) == "FAIL"
  assert _status(1.2, 2.0) == "UNINFORMATIVE"  # worse than Seasonal Naive
  assert _status(1.2, 2.0, claim_passes=False) == "UNINFORMATIVE"
  assert _status(0.8, 0.88) == "UNINFORMATIVE"  # loses 10 % at rank 1: attention barely used
  assert precondition.Measured(0.8, 0.88, 1).rank1_cost == pytest.approx(0.10)


def test_json_round_trip_and_labels():
  measured = {"Chronos-Bolt": precondition.Measured(0.9, 1.3, 34),
              "Chronos-T5": precondition.Measured(2.2, 2.3, 34)}
  recorded = precondition.to_json(measured)
  assert recorded["Chronos-T5"]["rank1_cost"] == pytest.approx(2.3 / 2.2 - 1)
  assert precondition.from_json(recorded) == measured
  verdict = common.Verdict()
  assert not precondition.record_all(verdict, recorded)  # the T5 fails both
  assert [c.name for c in verdict.claims if not c.passed] == [
      "precondition_Chronos-T5_relative_wql", "precondition_Chronos-T5_rank1_cost"]


def test_validation_subset_keeps_every_set():
  tasks = precondition.validation_tasks(3)
  counts = collections.Counter(t.dataset for t in tasks)
  assert len(counts) == 17 and set(counts.values()) == {3}
  with pytest.raises(ValueError, match="size must be one of"):
    precondition.measure_models({}, "huge")


def test_rank_one_cuts_every_attention_matrix_to_rank_one():
  model = registry.build(named_config("chronos-bolt-cpu-zs"), seed=0)
  cut = precondition.rank_one(model)
  layer = cut.encoder.layers[0].self_attention.q
  w = np.asarray(layer.dense_kernel())
  s = np.linalg.svd(w, compute_uv=False)
  assert s[1] <= 1e-5 * s[0]  # fp32 round-off of a rank-1 product


def test_measure_cached_keeps_the_measurement_in_the_workdir(tmp_path, monkeypatch):
  calls = []

  def fake_measure(model, series_per_set, seed):
    calls.append((model, series_per_set, seed))
    return precondition.Measured(1.2 + seed, 2.0, 17 * series_per_set)
  monkeypatch.setattr(precondition, "measure", fake_measure)
  first = precondition.measure_workdirs({"run": str(tmp_path)}, "smoke", 0,
                                        loaders={"run": lambda: "the model"})
  assert calls == [("the model", 2, 0)]
  assert first == precondition.to_json({"run": precondition.Measured(1.2, 2.0, 34)})
  again = precondition.measure_workdirs({"run": str(tmp_path)}, "smoke", 0,
                                        loaders={"run": lambda: pytest.fail("reloaded")})
  assert again == first and len(calls) == 1  # read back, the model not loaded
  # Another seed or series count is another measurement.
  other = precondition.measure_cached(str(tmp_path), "default", 1, load=lambda: "the model")
  assert other == precondition.Measured(2.2, 2.0, 17 * 24) and calls[-1] == ("the model", 24, 1)
  with pytest.raises(ValueError, match="size must be one of"):
    precondition.measure_cached(str(tmp_path), "huge")
