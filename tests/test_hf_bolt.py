"""Flax Chronos-Bolt vs chronos-forecasting's ChronosBoltModelForForecasting, built locally."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("chronos")

from lowrank_ts.interop import hf  # noqa: E402
from lowrank_ts.interop.hf_reference import bolt_checkpoint  # noqa: E402
from tests.helpers import max_abs_diff  # noqa: E402

# fp32 on both sides; small widths, two layers per stack, outputs of order 10.
TOL = 1e-4
# The residual MLPs amplify: initializer factor 0.1 keeps forecasts of order 10 (not 1000,
# where one fp32 ulp already exceeds TOL).
FACTOR = 0.1


def _contexts(seed=0, length=150):
  rng = np.random.default_rng(seed)
  context = (2 + rng.normal(size=(3, length)).cumsum(-1)).astype(np.float32)
  context[1, :70] = np.nan  # a shorter series: 80 values, not a multiple of the patch size
  context[2, 100:105] = np.nan  # missing values
  return context


@nnx.jit
def _quantiles_and_loss(model, context, target):
  return model(context), model.loss({"context": context, "target": target})


@pytest.mark.parametrize("kwargs", [{}, dict(d_model=48, num_decoder_layers=1)],
                         ids=["tiny_like", "mini_like"])
def test_bolt_matches_reference(tmp_path, kwargs):
  reference = bolt_checkpoint(tmp_path, initializer_factor=FACTOR, **kwargs)
  model = hf.load(tmp_path)
  context = _contexts()  # 150 > context_length 128: both truncate
  target = np.random.default_rng(1).normal(2, 3, size=(3, 12)).astype(np.float32)
  target[0, 3] = np.nan
  with torch.no_grad():
    out = reference(context=torch.tensor(context), target=torch.tensor(target))
  quantiles, loss = _quantiles_and_loss(model, jnp.asarray(context), jnp.asarray(target))
  q_diff = max_abs_diff(quantiles, out.quantile_preds.numpy())
  loss_diff = abs(float(loss) - float(out.loss))
  print(f"bolt {kwargs}: quantiles max-abs-diff {q_diff:.2e}, loss diff {loss_diff:.2e}")
  assert q_diff <= TOL
  assert loss_diff <= TOL
  assert np.ptp(out.quantile_preds.numpy()) > 1.0  # the comparison is not between constants


def test_bolt_round_trip_and_reference_pipeline(tmp_path):
  from chronos import BaseChronosPipeline
  bolt_checkpoint(tmp_path / "ref", d_model=48, initializer_factor=FACTOR)
  original = hf.read_tensors(tmp_path / "ref")
  hf.save(hf.load(tmp_path / "ref"), tmp_path / "ours")
  exported = hf.read_tensors(tmp_path / "ours")
  assert set(exported) == set(original)
  for name, value in original.items():
    np.testing.assert_array_equal(exported[name], value, err_msg=name)
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path / "ours", dtype=torch.float32)
  context = _contexts(seed=2, length=100)
  ref_embeddings, (ref_loc, ref_scale) = pipeline.embed(torch.tensor(context))
  ref_quantiles = pipeline.predict(torch.tensor(context)).numpy()
  ours = hf.load(tmp_path / "ours")
  hidden, _, loc, scale = ours.encode(jnp.asarray(context))
  diffs = (max_abs_diff(hidden, ref_embeddings.numpy()),
           max_abs_diff(ours(jnp.asarray(context)), ref_quantiles),
           max_abs_diff(loc[:, 0], ref_loc.numpy()), max_abs_diff(scale[:, 0], ref_scale.numpy()))
  print(f"bolt pipeline (embed, predict, loc, scale) max-abs-diffs {diffs}")
  assert max(diffs) <= TOL
