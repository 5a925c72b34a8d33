"""Tests for the input pipeline: determinism, exact resume (also through an Orbax checkpoint),
batch shapes and NaN handling, the KernelSynth/TSMixup mix, Chronos token batches."""

import numpy as np
import pytest

from lowrank_ts.data import instances, pipeline
from lowrank_ts.models import chronos, named_config, registry

CFG = pipeline.PipelineConfig(
    batch_size=8, instance=instances.InstanceConfig(context_length=64, prediction_length=16,
                                                    min_past=10),
    tsmixup_min_length=40, tsmixup_max_length=200)


def _pipeline(seed=0, cfg=CFG):
  rng = np.random.default_rng(123)
  ks_pool = rng.normal(size=(20, 256)).cumsum(axis=1).astype(np.float32)
  real = [rng.normal(10, 1, size=n) for n in (30, 90, 150)]  # one too short for an instance
  return pipeline.InputPipeline(cfg, kernel_synth_series=ks_pool,
                                tsmixup_sources=list(ks_pool) + real, seed=seed)


def _assert_batches_equal(a, b):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])  # NaN == NaN in assert_array_equal


def test_batches_have_the_configured_shapes_and_nan_layout():
  batch = next(_pipeline())
  assert batch["context"].shape == (8, 64) and batch["context"].dtype == np.float32
  assert batch["target"].shape == (8, 16) and batch["target"].dtype == np.float32
  assert not np.isinf(batch["context"]).any() and not np.isinf(batch["target"]).any()
  for row in batch["context"]:
    assert not np.isnan(row).all()  # the reference drops all-missing contexts
  # Left padding: over many batches, missing values concentrate at the start of the context.
  p = _pipeline()
  ctx = np.concatenate([next(p)["context"] for _ in range(10)])
  missing = np.isnan(ctx).mean(axis=0)
  assert missing[0] > missing[-1] and missing[-1] < 0.25  # <= 20 % drop rate at the end


def test_same_seed_same_batches_other_seed_different():
  a, b, c = _pipeline(0), _pipeline(0), _pipeline(1)
  for _ in range(3):
    x, y, z = next(a), next(b), next(c)
    _assert_batches_equal(x, y)
    assert not np.array_equal(x["context"], z["context"], equal_nan=True)


def test_restore_resumes_at_the_exact_position():
  reference = _pipeline(3)
  expected = [next(reference) for _ in range(7)]
  p = _pipeline(3)
  for _ in range(4):
    next(p)
  state = p.get_state()
  assert state == {"seed": 3, "step": 4}
  assert all(v.dtype == np.int64 and v.shape == () for v in state.values())
  resumed = _pipeline(99)  # a fresh iterator with another seed: the state carries the seed
  resumed.set_state(state)
  for want in expected[4:]:
    _assert_batches_equal(next(resumed), want)
  _assert_batches_equal(p.batch_at(2), expected[2])  # random access leaves the position alone
  assert p.get_state()["step"] == 4


def test_state_survives_an_orbax_checkpoint(tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  p = _pipeline(5)
  next(p), next(p)
  with ocp.CheckpointManager(tmp_path) as manager:
    manager.save(2, args=ocp.args.StandardSave(p.get_state()))
    manager.wait_until_finished()
    restored = manager.restore(2, args=ocp.args.StandardRestore(p.get_state()))
  resumed = _pipeline(0)
  resumed.set_state(restored)
  _assert_batches_equal(next(resumed), next(p))


def test_kernel_synth_weight_selects_the_source():
  only_ks = pipeline.PipelineConfig(**{**CFG.__dict__, "kernel_synth_weight": 1.0})
  p = pipeline.InputPipeline(only_ks, kernel_synth_series=np.ones((2, 256), np.float32),
                             tsmixup_sources=[], seed=0)
  batch = next(p)
  observed = batch["context"][~np.isnan(batch["context"])]
  np.testing.assert_array_equal(observed, 1.0)  # unscaled KernelSynth values, no mixing
  only_mix = pipeline.PipelineConfig(**{**CFG.__dict__, "kernel_synth_weight": 0.0})
  p = pipeline.InputPipeline(only_mix, kernel_synth_series=[],
                             tsmixup_sources=[np.full(300, 7.0)], seed=0)
  observed = next(p)["context"]
  np.testing.assert_allclose(observed[~np.isnan(observed)], 1.0, rtol=1e-6)  # mean-scaled 7s


def test_tsmixup_weights_pick_the_sources():
  cfg = pipeline.PipelineConfig(**{**CFG.__dict__, "kernel_synth_weight": 0.0,
                                   "tsmixup_max_series": 1})
  sources = [np.full(300, 1.0), np.arange(1.0, 301.0)]  # constant vs ramp, told apart by shape
  weights = pipeline.dataset_uniform_weights([1, 1])
  np.testing.assert_array_equal(weights, [0.5, 0.5])
  only_ramp = pipeline.InputPipeline(cfg, kernel_synth_series=[], tsmixup_sources=sources,
                                     tsmixup_weights=[0.0, 3.0], seed=0)
  ctx = next(only_ramp)["context"]
  assert all(np.nanmax(r) > np.nanmin(r) for r in ctx)  # never the constant series
  np.testing.assert_allclose(pipeline.dataset_uniform_weights([2, 3, 1]),
                             [1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9, 1 / 3])


# Training batches are made by the model (models.registry's interface); the abstract model
# (no parameters allocated) is enough, as in the trainer.
CHRONOS = registry.abstract(named_config("chronos-t5-cpu-mini"))


def test_chronos_token_batch():
  batch = next(_pipeline())
  batch["target"][0, :3] = np.nan
  tb = CHRONOS.training_batch(batch)
  assert tb["input_ids"].shape == (8, 65) and tb["labels"].shape == (8, 17)
  assert (tb["input_ids"][:, -1] == 1).all() and (tb["labels"][:, -1] == 1).all()  # EOS
  np.testing.assert_array_equal(tb["input_ids"][:, :-1] == 0, np.isnan(batch["context"]))  # PAD
  np.testing.assert_array_equal(tb["labels"][:, :-1] == chronos.IGNORE_ID,
                                np.isnan(batch["target"]))
  observed = ~np.isnan(batch["context"])
  scale = np.nansum(np.abs(batch["context"]), axis=1) / observed.sum(axis=1)
  _, _, ours = CHRONOS.config.tokenizer.tokenize(batch["context"])
  np.testing.assert_allclose(ours, scale, rtol=1e-5)  # float32 sums of <= 64 values
  # The labels use the context's scale: tokenising the target with it gives the same ids.
  labels, _, _ = CHRONOS.config.tokenizer.tokenize(batch["target"], scale=ours)
  observed_target = ~np.isnan(batch["target"])
  np.testing.assert_array_equal(tb["labels"][:, :-1][observed_target],
                                np.asarray(labels)[:, :-1][observed_target])


@pytest.mark.parametrize("call, name", [
    (lambda: pipeline.PipelineConfig(batch_size=0), "batch_size"),
    (lambda: pipeline.PipelineConfig(kernel_synth_weight=1.5), "kernel_synth_weight"),
    (lambda: pipeline.PipelineConfig(instance=(512, 64)), "instance"),
    (lambda: pipeline.InputPipeline(CFG, kernel_synth_series=[], tsmixup_sources=[np.ones(99)],
                                    seed=0), "kernel_synth_series"),
    (lambda: pipeline.InputPipeline(CFG, kernel_synth_series=np.ones((2, 99)),
                                    tsmixup_sources=[np.ones(9)], seed=-1), "seed"),
    (lambda: _pipeline().set_state({"seed": 0}), "state"),
    (lambda: pipeline.InputPipeline(CFG, kernel_synth_series=np.ones((2, 99)),
                                    tsmixup_sources=[np.ones(9)], seed=0,
                                    tsmixup_weights=[1.0, 1.0]), "tsmixup_weights"),
    (lambda: pipeline.dataset_uniform_weights([3, 0]), "sizes"),
    (lambda: _pipeline().set_state({"seed": 0, "step": -2}), "step"),
    (lambda: _pipeline().batch_at(-1), "step"),
    (lambda: CHRONOS.training_batch({"context": np.ones((2, 5))}), "batch must be a mapping"),
    (lambda: CHRONOS.training_batch({"context": np.ones((2, 5)), "target": np.ones((3, 2))}),
     "must have the same batch size"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()


def test_unusable_sources_raise():
  cfg = pipeline.PipelineConfig(**{**CFG.__dict__, "kernel_synth_weight": 0.0, "max_redraws": 5})
  p = pipeline.InputPipeline(cfg, kernel_synth_series=[], tsmixup_sources=[np.ones(20)], seed=0)
  with pytest.raises(ValueError, match="no usable series"):
    next(p)
