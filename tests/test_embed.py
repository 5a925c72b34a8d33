"""Encoder embeddings (lowrank_ts.inference.forecasting.embed, dataframe.embed_df) vs
chronos-forecasting's ``pipeline.embed`` on checkpoints built locally."""

import copy

import numpy as np
import pytest

from lowrank_ts.inference import dataframe, forecasting
from lowrank_ts.models import BOLT_CONFIGS, registry

torch = pytest.importorskip("torch")
pytest.importorskip("chronos")

from lowrank_ts.interop import hf  # noqa: E402
from lowrank_ts.interop.hf_reference import bolt_checkpoint, chronos_checkpoint  # noqa: E402
from tests.helpers import fp32_tol, rel_diff  # noqa: E402

# Tolerances: fp32_tol, 4x the reference's own fp32 round-off, measured by running the same
# reference encoder in float64 (tests/helpers.py).


def _series():
  rng = np.random.default_rng(3)
  long = (5 + rng.normal(size=90).cumsum()).astype(np.float32)  # longer than context 64
  short = (1 + rng.normal(size=37)).astype(np.float32)
  short[7] = np.nan
  return [long, short, np.full(12, np.nan, np.float32)]  # the last has no observed value


def _padded(series):
  return torch.tensor(forecasting.prepare_context(series))


def test_chronos_embeddings_match_the_reference_pipeline(tmp_path):
  from chronos import BaseChronosPipeline
  chronos_checkpoint(tmp_path, d_model=48, context_length=64, prediction_length=8)
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path, dtype=torch.float32)
  ref, ref_scale = pipeline.embed([torch.tensor(s) for s in _series()])
  token_ids, ref_mask, _ = pipeline.tokenizer.context_input_transform(_padded(_series()))
  with torch.no_grad():
    exact = copy.deepcopy(pipeline.model).double().encode(input_ids=token_ids,
                                                          attention_mask=ref_mask)
  ours = forecasting.embed(hf.load(tmp_path), _series())
  assert ours["embeddings"].shape == tuple(ref.shape) == (3, 65, 48)  # 64 values + EOS
  diff, tol = rel_diff(ours["embeddings"], ref.numpy()), fp32_tol(ref.numpy(), exact.numpy())
  print(f"chronos embeddings vs pipeline.embed: rel-diff {diff:.2e} (tol {tol:.2e})")
  assert diff <= tol
  np.testing.assert_array_equal(ours["mask"], ref_mask.numpy())
  # 1e-6: the mean |x| of up to 64 fp32 values summed in another order (a few ulp).
  np.testing.assert_allclose(ours["scale"], ref_scale.numpy(), rtol=1e-6)
  assert not ours["loc"].any()  # mean scaling: nothing subtracted


def test_bolt_embeddings_match_the_reference_pipeline(tmp_path):
  from chronos import BaseChronosPipeline
  bolt_checkpoint(tmp_path, d_model=48, context_length=64, prediction_length=16)
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path, dtype=torch.float32)
  ref, (ref_loc, ref_scale) = pipeline.embed([torch.tensor(s) for s in _series()])
  context = _padded(_series())[:, -64:]
  with torch.no_grad():
    _, _, _, ref_mask = pipeline.model.encode(context=context)
    exact = copy.deepcopy(pipeline.model).double().encode(context=context.double())[0]
  ours = forecasting.embed(hf.load(tmp_path), _series())
  assert ours["embeddings"].shape == tuple(ref.shape) == (3, 5, 48)  # 4 patches of 16 + REG
  diff, tol = rel_diff(ours["embeddings"], ref.numpy()), fp32_tol(ref.numpy(), exact.numpy())
  print(f"bolt embeddings vs pipeline.embed: rel-diff {diff:.2e} (tol {tol:.2e})")
  assert diff <= tol
  np.testing.assert_array_equal(ours["mask"], ref_mask.numpy().astype(bool))
  # 1e-6: the instance norm's fp32 mean and standard deviation summed in another order.
  np.testing.assert_allclose(ours["loc"], ref_loc.numpy(), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(ours["scale"], ref_scale.numpy(), rtol=1e-6)


def test_embeddings_do_not_depend_on_the_batching_and_frames_give_the_same():
  pd = pytest.importorskip("pandas")
  model = registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=0)
  series = _series()
  whole = forecasting.embed(model, series)
  batched = forecasting.embed(model, series, batch_size=2)
  # 1e-5: the same rows in batches of 2 vs 3 (XLA may block the matmuls differently).
  np.testing.assert_allclose(batched["embeddings"], whole["embeddings"], rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(batched["mask"], whole["mask"])
  frame = pd.DataFrame({"item_id": np.repeat(["a", "b", "c"], [len(s) for s in series]),
                        "target": np.concatenate(series)})
  framed = dataframe.embed_df(model, frame, timestamp_column=None)
  assert list(framed["item_id"]) == ["a", "b", "c"]
  for name in ("embeddings", "mask", "loc", "scale"):
    np.testing.assert_array_equal(framed[name], whole[name])


def test_embed_names_its_bad_arguments():
  model = registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=0)
  with pytest.raises(ValueError, match="model must be a Chronos or ChronosBolt"):
    forecasting.embed(object(), _series())
  with pytest.raises(ValueError, match="context series 1"):
    forecasting.embed(model, [np.zeros(3), np.zeros((2, 2))])
  with pytest.raises(ValueError, match="batch_size"):
    forecasting.embed(model, _series(), batch_size=0)
