"""The text control of Figs. 2a / 4a: its statistics on inputs with a known answer, the text
model's own precondition deciding the status, and a smoke run on a freshly built text model."""

import json

import numpy as np
import pytest

from experiments import text_control
from lowrank_ts.data import text_corpus
from lowrank_ts.interop import hf
from lowrank_ts.models import registry
from lowrank_ts.training.config import TRAIN_CONFIGS


def test_top_k_overlap_of_a_model_with_itself_is_one():
  model = registry.build(TRAIN_CONFIGS["cpu-reference-text"].model_config, seed=0)
  data = np.frombuffer(b"It was the best of times, it was the worst of times. " * 3, np.uint8)
  windows = text_control.validation_windows(data, context=32, horizon=8, count=4)
  assert text_control.top_k_overlap(model, model, windows) == 1.0
  other = registry.build(TRAIN_CONFIGS["cpu-reference-text"].model_config, seed=1)
  assert text_control.top_k_overlap(model, other, windows) < 1.0


def test_unigram_entropy_and_eps_rank():
  assert text_control.unigram_entropy(np.array([0, 1, 0, 1], np.uint8)) == pytest.approx(np.log(2))
  assert text_control.unigram_entropy(np.full(9, 7, np.uint8)) == 0.0
  u, v = np.random.default_rng(0).standard_normal((2, 8, 3))
  w = np.linalg.qr(u)[0] @ np.diag([1.0, 0.1, 0.001]) @ np.linalg.qr(v)[0].T  # singular values 1, 0.1, 0.001
  assert text_control.eps_rank(w, 0.01) == 2 and text_control.eps_rank(w, 0.0001) == 3


def test_validation_windows_are_next_byte_windows():
  data = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz" * 4, np.uint8)
  w = text_control.validation_windows(data, context=5, horizon=2, count=7)
  assert w["input_ids"].shape == (7, 6) and np.all(w["input_ids"][:, -1] == 1)
  follows = w["input_ids"][:, -2] + 1  # the alphabet: each label byte follows its context
  assert np.all((w["labels"][:, 0] == follows) | (w["labels"][:, 0] == follows - 26))


@pytest.mark.slow  # the Bolt's precondition and a text model's rank-1 copy: CI's second step
def test_smoke_on_an_untrained_text_model_is_uninformative(tmp_path):
  model = registry.build(TRAIN_CONFIGS["cpu-reference-text"].model_config, seed=3)
  hf.save(model, tmp_path / "text")
  code = text_control.main(["--smoke", "--out", str(tmp_path), "--text-model",
                            str(tmp_path / "text")])
  record = json.loads((tmp_path / "text_control.json").read_text())
  t = record["data"]["text_control"]
  # At init the byte predictions are near uniform: ln 258 = 5.55 nats, above the unigram entropy,
  # so the text control's own precondition fails and the status says it cannot carry the claims.
  assert t["validation_cross_entropy"] == pytest.approx(np.log(text_corpus.VOCAB), abs=0.05)
  assert record["verdict"]["status"] == "UNINFORMATIVE" and code == 1
  assert record["verdict"]["thresholds"] == {
      "text_control_context_gain": [">=", 0.5, "precondition"],
      "text_control_rank1_cost": [">=", 0.15, "precondition"],
      "relative_eps_rank_Bolt_over_text_control": ["<", 0.5, "proxy"],
      "encoder_w_q_Bolt_minus_text_control": ["<", 0.0, "proxy"],
      "text_control_lppl_ratio_at_0.237": [">", 1.06, "proxy"],
      "precondition_Chronos-Bolt_relative_wql": ["<=", 1.0, "precondition"],
      "precondition_Chronos-Bolt_rank1_cost": [">=", 0.15, "precondition"]}
  data = record["data"]
  assert data["shapes"]["text control (trained)"] == [64, text_control.SIZES["smoke"]["text_bytes"]]
  for row in data["table2"].values():  # a truncated copy of the text model: overlaps in [0, 1]
    assert 0 <= row["text_top10_overlap"] <= 1 and row["text_lppl_ratio"] > 0
  assert set(data["w_q"]["text control (trained)"]) == {
      "encoder self 1", "encoder self 2", "decoder self 1", "decoder self 2", "decoder cross 1",
      "decoder cross 2"}


def test_a_forecasting_model_as_text_model_is_refused(tmp_path):
  model = registry.build(TRAIN_CONFIGS["cpu-test"].model_config, seed=0)
  hf.save(model, tmp_path / "series")
  with pytest.raises(ValueError, match="--text-model: expected a byte-level Chronos-T5"):
    text_control.compute("smoke", 0, None, str(tmp_path / "series"))
