"""Flax Chronos-Bolt vs chronos-forecasting's ChronosBoltModelForForecasting, built locally."""

import copy

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("chronos")

from lowrank_ts.interop import hf  # noqa: E402
from lowrank_ts.interop.hf_reference import bolt_checkpoint  # noqa: E402
from tests.helpers import fp32_tol, rel_diff  # noqa: E402

# Tolerances are relative to the outputs' scale: fp32_tol, 4x the reference's own fp32
# round-off, measured by running the same reference in float64 (tests/helpers.py).


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
  reference = bolt_checkpoint(tmp_path, **kwargs)
  model = hf.load(tmp_path)
  context = _contexts()  # 150 > context_length 128: both truncate
  target = np.random.default_rng(1).normal(2, 3, size=(3, 12)).astype(np.float32)
  target[0, 3] = np.nan
  with torch.no_grad():
    out = reference(context=torch.tensor(context), target=torch.tensor(target))
    exact = copy.deepcopy(reference).double()(context=torch.tensor(context).double(),
                                              target=torch.tensor(target).double())
  quantiles, loss = _quantiles_and_loss(model, jnp.asarray(context), jnp.asarray(target))
  q_diff = rel_diff(quantiles, out.quantile_preds.numpy())
  q_tol = fp32_tol(out.quantile_preds.numpy(), exact.quantile_preds.numpy())
  loss_diff, loss_tol = rel_diff(loss, out.loss.numpy()), fp32_tol(out.loss, exact.loss)
  print(f"bolt {kwargs}: quantiles rel-diff {q_diff:.2e} (tol {q_tol:.2e}), "
        f"loss {loss_diff:.2e} (tol {loss_tol:.2e})")
  assert q_diff <= q_tol  # fp32_tol: the reference's own round-off, times 4
  assert loss_diff <= loss_tol  # same reason


def test_bolt_round_trip_and_reference_pipeline(tmp_path):
  from chronos import BaseChronosPipeline
  bolt_checkpoint(tmp_path / "ref", d_model=48)
  original = hf.read_tensors(tmp_path / "ref")
  hf.save(hf.load(tmp_path / "ref"), tmp_path / "ours")
  exported = hf.read_tensors(tmp_path / "ours")
  assert set(exported) == set(original)
  for name, value in original.items():
    np.testing.assert_array_equal(exported[name], value, err_msg=name)
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path / "ours", dtype=torch.float32)
  context = _contexts(seed=2, length=100)
  ref = [pipeline.embed(torch.tensor(context)), pipeline.predict(torch.tensor(context))]
  pipeline.model.double()  # the same pipeline in float64: the fp32 round-off to allow
  exact = [pipeline.embed(torch.tensor(context).double()),
           pipeline.predict(torch.tensor(context).double())]
  ref_embeddings, (ref_loc, ref_scale) = ref[0]
  exact_embeddings, (exact_loc, exact_scale) = exact[0]
  ours = hf.load(tmp_path / "ours")
  hidden, _, loc, scale = ours.encoder_outputs(jnp.asarray(context))
  pairs = {"embed": (hidden, ref_embeddings, exact_embeddings),
           "predict": (ours(jnp.asarray(context)), ref[1], exact[1]),
           "loc": (loc[:, 0], ref_loc, exact_loc), "scale": (scale[:, 0], ref_scale, exact_scale)}
  for name, (value, reference, exact_value) in pairs.items():
    diff = rel_diff(value, reference.float().numpy())
    tol = fp32_tol(reference.float().numpy(), exact_value.numpy())
    print(f"bolt pipeline {name}: rel-diff {diff:.2e} (tol {tol:.2e})")
    assert diff <= tol, name  # fp32_tol: the reference's own round-off, times 4
