"""Fine-tuning on a user's series (lowrank_ts.finetuning, lowrank_ts.data.holdout): the hold-out
split, early stopping, trainable subsets, compressed models, exact resume, the DataFrame API."""

import jax
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.data import holdout
from lowrank_ts.finetuning import tuning
from lowrank_ts.finetuning import scores
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import allocation, posthoc, registry
from lowrank_ts.models.config import named_config

HORIZON = 12


def _series(n=6, length=100, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  return [10 + 3 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6)) + 0.2 * rng.normal(size=length)
          for _ in range(n)]


@pytest.fixture(scope="module")
def bolt():
  return registry.build(named_config("chronos-bolt-cpu-zs"), seed=0)


def _params(model):
  return {"/".join(map(str, p)): np.asarray(v.get_value())
          for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def _same(a, b):
  return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_no_training_window_reads_a_held_out_value():
  """The training part counts 1, 2, ... and the held-out values are 1e6 markers: no window
  holds a marker, and windows do reach the last training value (the boundary is tight: a split
  one value later would put a marker in some window)."""
  series = [np.concatenate([np.arange(1, n + 1), np.full(HORIZON, 1e6)]).astype(np.float32)
            for n in (40, 57, 90)]
  split = holdout.split(series, ["a", "b", "c"], HORIZON, 8, 16)
  assert [h.tolist() for h in split.held] == [[1e6] * HORIZON] * 3
  seen_last = set()
  for step in range(300):
    batch = holdout.window_batch(split, 0, step, 16, 64)
    values = np.concatenate([batch["context"][np.isfinite(batch["context"])],
                             batch["target"].ravel()])
    assert values.max() < 1e6, f"step {step} read a held-out value"
    seen_last |= set(batch["target"][:, -1].tolist())
    assert np.isfinite(batch["target"]).all()
    assert (np.isfinite(batch["context"]).sum(1) >= 16).all()  # min_context
  assert {40.0, 57.0, 90.0} <= seen_last
  # the same batch for the same (seed, step), another for another step
  a, b = holdout.window_batch(split, 0, 3, 16, 64), holdout.window_batch(split, 0, 3, 16, 64)
  assert np.array_equal(a["target"], b["target"])
  assert not np.array_equal(a["target"], holdout.window_batch(split, 0, 4, 16, 64)["target"])


def test_too_short_series_name_what_is_missing(bolt):
  with pytest.raises(ValueError, match=r"none of the 2 series can be used: holding out the last "
                     r"12 values \(horizon\) .* needs 40 .* the longest has 30"):
    tuning.finetune(bolt, [np.arange(30.0), np.arange(20.0)], HORIZON, steps=2)
  with pytest.warns(tuning.LeftOutSeriesWarning, match=r"1 of 3 series left out.*'short' "
                    r"\(30 values, 40 needed\)"):
    _, report = tuning.finetune(bolt, [*_series(2), np.arange(30.0)], HORIZON, steps=2,
                                names=["x", "y", "short"], batch_size=4)
  assert report["series"] == 2 and report["series_left_out"][0]["series"] == "short"


def test_early_stopping_keeps_the_best_step(bolt, monkeypatch):
  """Scripted hold-out scores (best at step 4, then three worse): the run stops at step 10 and
  returns exactly the parameters of step 4 of the same run (validation='none' stopped there)."""
  script = iter([0.5, 0.4, 0.3, 0.35, 0.31, 0.3, 0.9])
  monkeypatch.setattr(scores.HoldoutScorer, "model",
                      lambda self, model, seed=0: {"wql": next(script), "mase": 1.0})
  settings = dict(steps=20, eval_every=2, patience=3, learning_rate=1e-3, batch_size=4)
  tuned, report = tuning.finetune(bolt, _series(), HORIZON, **settings)
  assert report["chosen_step"] == 4 and report["steps_run"] == 10 and report["stopped_early"]
  assert report["before"]["wql"] == pytest.approx(0.5) and report["after"]["wql"] == (
      pytest.approx(0.3))
  assert [h["step"] for h in report["history"]] == [0, 2, 4, 6, 8, 10]
  monkeypatch.undo()
  # the same training parts and batches, nothing scored
  at_four, _ = tuning.finetune(bolt, [s[:-HORIZON] for s in _series()], HORIZON,
                               validation="none", stop_after=4, **settings)
  assert _same(_params(tuned), _params(at_four))
  assert not _same(_params(tuned), _params(bolt))


def test_no_better_step_returns_the_model_unchanged(bolt, monkeypatch):
  monkeypatch.setattr(scores.HoldoutScorer, "model",
                      lambda self, model, seed=0: {"wql": 0.5, "mase": 1.0})
  tuned, report = tuning.finetune(bolt, _series(), HORIZON, steps=8, eval_every=2, batch_size=4)
  assert report["chosen_step"] == 0 and report["steps_run"] == 6
  assert _same(_params(tuned), _params(bolt))


def test_head_and_norms_leave_the_rest_unchanged(bolt):
  before = _params(bolt)
  tuned, report = tuning.finetune(bolt, _series(), HORIZON, steps=3, learning_rate=1e-3,
                                  trainable="head+norms", validation="none", batch_size=4)
  after = _params(tuned)
  changed = {k for k in before if not np.array_equal(before[k], after[k])}
  assert changed and all(k.startswith("output_patch_embedding") or "norm" in k for k in changed)
  assert report["trainable_parameters"] < report["parameters"]
  with pytest.raises(ValueError, match="trainable: 'factors' selects no parameter"):
    tuning.finetune(bolt, _series(), HORIZON, steps=2, trainable="factors")


def test_a_compressed_model_keeps_its_factors_and_ranks(bolt, tmp_path):
  compressed, _ = posthoc.compress_to(bolt, allocation.Request(None, 0.5, "uniform",
                                                               "efficient"), for_training=True)
  shapes = {k: v.shape for k, v in _params(compressed).items()}
  assert any(k.endswith("/sketch") for k in shapes)
  tuned, _ = tuning.finetune(compressed, _series(), HORIZON, steps=3, learning_rate=1e-3,
                             trainable="factors", validation="none", batch_size=4)
  after = _params(tuned)
  assert {k: v.shape for k, v in after.items()} == shapes
  assert tuned.config == compressed.config
  changed = {k for k, v in _params(compressed).items() if not np.array_equal(v, after[k])}
  assert changed and all(k.endswith(("/sketch", "/lift")) for k in changed)
  hf.save(tuned, tmp_path / "m", factorised=True)
  assert {k: v.shape for k, v in _params(hf.load(tmp_path / "m")).items()} == shapes


@pytest.mark.slow  # ~20 s: CI's second step
def test_resume_after_an_interruption_is_bit_identical(bolt, tmp_path):
  settings = dict(steps=6, eval_every=2, learning_rate=1e-3, batch_size=4)
  whole, whole_report = tuning.finetune(bolt, _series(), HORIZON, workdir=tmp_path / "a",
                                        **settings)
  tuning.finetune(bolt, _series(), HORIZON, workdir=tmp_path / "b", stop_after=3, **settings)
  resumed, resumed_report = tuning.finetune(bolt, _series(), HORIZON, workdir=tmp_path / "b",
                                            **settings)
  assert _same(_params(whole), _params(resumed))
  assert resumed_report["history"] == whole_report["history"]
  assert resumed_report["train_loss_last"] == whole_report["train_loss_last"]
  with pytest.raises(ValueError, match=r"finetune_run.json records an interrupted run with "
                     r"other settings .*learning_rate: 0.001 -> 0.002"):
    tuning.finetune(bolt, _series(), HORIZON, workdir=tmp_path / "b",
                    **{**settings, "learning_rate": 2e-3})


def test_chronos_t5_trains_on_its_tokens():
  model = registry.build(named_config("chronos-t5-cpu-mini"), seed=0)
  tuned, report = tuning.finetune(model, _series(length=80), HORIZON, steps=2, eval_every=1,
                                  learning_rate=1e-3, batch_size=4)
  assert np.isfinite(report["train_loss_first"]) and report["train_loss_first"] > 1  # nats
  assert len(report["history"]) == 3 and np.isfinite(report["seasonal_naive"]["wql"])
  assert type(tuned) is type(model)


def test_the_long_dataframe_api_is_the_array_api(bolt):
  pd = pytest.importorskip("pandas")
  series = _series(3)
  frame = pd.DataFrame({
      "item_id": np.repeat(["a", "b", "c"], 100),
      "timestamp": np.tile(pd.date_range("2020-01-01", periods=100, freq="D"), 3),
      "target": np.concatenate(series)}).sample(frac=1.0, random_state=0)
  settings = dict(steps=2, eval_every=1, learning_rate=1e-3, batch_size=4)
  from_df, df_report = tuning.finetune_df(bolt, frame, HORIZON, **settings)
  order = list(dict.fromkeys(frame["item_id"]))  # series in order of first appearance
  from_arrays, report = tuning.finetune(
      bolt, [series["abc".index(i)].astype(np.float32) for i in order], HORIZON, names=order,
      **settings)
  assert _same(_params(from_df), _params(from_arrays))
  assert df_report["history"] == report["history"]


def test_bad_arguments_name_themselves(bolt):
  for kwargs, match in ((dict(validation="first"), "validation must be one of"),
                        (dict(trainable="heads"), "trainable must be one of"),
                        (dict(steps=0), "steps"), (dict(learning_rate=-1.0), "learning_rate")):
    with pytest.raises(ValueError, match=match):
      tuning.finetune(bolt, _series(), HORIZON, **kwargs)
  with pytest.raises(ValueError, match="model must be a Chronos"):
    tuning.finetune("model", _series(), HORIZON)
  assert jax.tree.leaves(bolt)  # the fixture model is still whole


def _pulse_family(n, seed, length=200):
  """A family the shipped model forecasts poorly (zero-shot WQL about 3x Seasonal Naive's): a
  3-step pulse every 24 steps at a random phase and height, a level shift at a random time."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  rows = []
  for _ in range(n):
    pulse = ((t + rng.integers(24)) % 24 < 3) * rng.uniform(8, 12)
    shift = np.where(t >= rng.integers(60, 140), rng.uniform(4, 8), 0.0)
    rows.append((5 + pulse + shift + 0.3 * rng.normal(size=length)).astype(np.float32))
  return rows


def test_fine_tuning_helps_on_series_it_never_saw():
  """The shipped model fine-tuned on 16 pulse series (seed 0; its own hold-out picks the step)
  forecasts 16 other series of the family (seed 1, never trained on nor used to choose the
  step) with a hold-out WQL below 0.75x the zero-shot one.

  Margin 25%: a quarter of the zero-shot WQL, over a third of its gap to Seasonal Naive, far
  beyond the fixed-key forecast noise. Measured (paper_repro.md): zero-shot 0.157, tuned 0.097
  (0.62x), Seasonal Naive 0.051; train/test seeds 2/3: 0.144 -> 0.077 (0.54x). The defaults
  (head and norms, 1e-4, 60 steps) gave 0.153 (0.97x) here: they are chosen not to wreck the
  model, so the test trains every parameter at 1e-3 for 300 steps."""
  model = resolve.load_model()
  horizon = 24
  unseen = holdout.split(_pulse_family(16, seed=1), [str(i) for i in range(16)], horizon,
                         min(horizon, model.config.prediction_length), tuning.MIN_CONTEXT)
  scorer = scores.HoldoutScorer(unseen, seasonality=24)
  tuned, report = tuning.finetune(model, _pulse_family(16, seed=0), horizon, steps=300,
                                  learning_rate=1e-3, trainable="all", seasonality=24)
  before, after = scorer.model(model)["wql"], scorer.model(tuned)["wql"]
  assert report["chosen_step"] > 0
  assert after < (1 - 0.25) * before, (before, after)
