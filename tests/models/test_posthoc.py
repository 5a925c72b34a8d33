"""Post-hoc truncated-SVD compression: ranks follow eq. (1), errors are Eckart–Young's, exact
low-rank weights survive unchanged (Chronos logits, Bolt quantiles), accounting, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts import spectral
from lowrank_ts.models import (
  BOLT_CONFIGS,
  Chronos,
  ChronosBolt,
  ChronosConfig,
  T5Config,
  lowrank,
  posthoc,
  registry,
)

# inner_dim 4 x 16 = 64 != d_model 48: q/k/v are 48 x 64, o is 64 x 48 (as chronos-t5-mini).
T5_SMALL = T5Config(vocab_size=4096, d_model=48, d_ff=64, num_layers=2, num_heads=4, d_kv=16,
                    num_decoder_layers=2, initializer_factor=1.0)
EPS = 1e-2


def _chronos(seed=0):
  return Chronos(ChronosConfig(T5_SMALL), rngs=nnx.Rngs(seed))


def _set_spectra(model, spectra, seed=0):
  """Sets projection ``i`` (attention_projections order) to U diag(spectra[i]) V^T."""
  key = jax.random.key(seed)
  for i, (_, _, _, _, module) in enumerate(posthoc.attention_projections(model)):
    d_in, d_out = module.kernel.shape
    s = jnp.asarray(spectra[i % len(spectra)], jnp.float32)
    module.kernel[...] = spectral.matrix_with_spectrum(jax.random.fold_in(key, i), s, d_in, d_out)


def _inputs():
  ids = jax.random.randint(jax.random.key(1), (2, 20), 2, 4096)
  mask = jnp.arange(20)[None] >= jnp.array([[0], [7]])
  return ids, mask, ids[:, :6]


@nnx.jit
def _encoder_and_logits(model, ids, mask, decoder_ids):
  return model.encode(ids, mask), model(ids, mask, decoder_ids)


# Spectra whose eps-ranks at EPS = 1e-2 are 7, 11, 19, 31, 48; no sigma_j / sigma_1 lies
# within 5 % of EPS, so fp32 SVD round-off (~1e-6 sigma_1) cannot move one across it.
GEOMETRIC = [0.5 ** np.arange(48), 0.65 ** np.arange(48), 0.78 ** np.arange(48),
             0.86 ** np.arange(48), np.linspace(1.0, 0.5, 48)]


def _expected_eps_rank(s):
  s = np.asarray(s, np.float64)
  relative = s / s[0]
  assert np.min(np.abs(relative / EPS - 1)) > 0.05  # the test's own premise (see above)
  return int(np.sum(relative > EPS))


def test_ranks_follow_eq1_and_errors_are_eckart_young():
  model = _chronos()
  _set_spectra(model, GEOMETRIC)
  compressed, report = posthoc.compress(model, EPS)
  expected = [_expected_eps_rank(s) for s in GEOMETRIC]
  assert expected == [7, 11, 19, 31, 48]  # e.g. 0.5^6 > 0.01 > 0.5^7
  new_modules = {name: m for name, *_, m in posthoc.attention_projections(compressed)}
  old_modules = {name: m for name, *_, m in posthoc.attention_projections(model)}
  assert [p.name for p in report.projections] == list(old_modules)
  for i, entry in enumerate(report.projections):
    s = np.asarray(GEOMETRIC[i % len(GEOMETRIC)], np.float64)
    assert entry.eps_rank == expected[i % len(GEOMETRIC)]
    # 48 x 64: factorising pays below 48 * 64 / 112 = 27.4: 7, 11, 19 are, 31 and 48 not.
    keep = entry.eps_rank < 48 * 64 / 112
    assert entry.rank == (entry.eps_rank if keep else None)
    w_old = np.asarray(old_modules[entry.name].dense_kernel(), np.float64)
    new = new_modules[entry.name]
    assert new.kind == ("shared_sketch" if keep else "dense")
    error = np.linalg.norm(w_old - np.asarray(new.dense_kernel(), np.float64), 2)
    want = s[entry.rank] if keep else 0.0  # sigma_{r+1} (0-based index r)
    # fp32 weights (unit sigma_1): SVD and product round-off ~1e-6 absolute.
    np.testing.assert_allclose(error, want, atol=3e-6)
    np.testing.assert_allclose(entry.relative_error, want / s[0], atol=3e-6)
    assert entry.relative_error <= EPS  # §5: ||W - W_r||_2 <= eps ||W||_2
    assert entry.shape == w_old.shape


def test_exactly_low_rank_weights_reproduce_the_dense_model():
  model = _chronos()
  # rank-5 and rank-9 weights (zero beyond): at eps = 1e-4 only round-off is dropped.
  _set_spectra(model, [np.geomspace(2.0, 0.5, 5), np.geomspace(1.0, 0.1, 9)])
  compressed, report = posthoc.compress(model, 1e-4)
  assert {p.rank for p in report.projections} == {5, 9}
  assert report.attention_size_ratio < 0.5
  enc_d, logits_d = _encoder_and_logits(model, *_inputs())
  enc_c, logits_c = _encoder_and_logits(compressed, *_inputs())
  # Only fp32 round-off differs (SVD of the stored matrices, (x S) L vs x W sums).
  np.testing.assert_allclose(enc_c, enc_d, atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(logits_c, logits_d, atol=2e-5, rtol=1e-5)
  assert np.ptp(np.asarray(logits_d)) > 0.1  # not a comparison of constants


def test_tiny_eps_on_random_weights_keeps_everything_dense_and_exact():
  model = _chronos()
  compressed, report = posthoc.compress(model, 1e-7)
  assert all(p.rank is None for p in report.projections)
  assert report.attention_size_ratio == 1.0
  assert report.parameters_after == report.parameters_before
  out_d, out_c = _encoder_and_logits(model, *_inputs()), _encoder_and_logits(compressed,
                                                                             *_inputs())
  for a, b in zip(out_d, out_c):
    np.testing.assert_array_equal(a, b)  # same parameters, same program


def test_bolt_quantiles_survive_exactly_low_rank_weights():
  config = BOLT_CONFIGS["chronos-bolt-cpu"]
  model = ChronosBolt(dataclasses.replace(config, context_length=64), rngs=nnx.Rngs(0))
  _set_spectra(model, [np.geomspace(1.0, 0.2, 6)])
  compressed, report = posthoc.compress(model, 1e-4)
  assert {p.rank for p in report.projections} == {6}
  assert isinstance(compressed, ChronosBolt) and compressed.config.t5.encoder_attention[0].q.rank == 6
  context = jnp.sin(jnp.arange(3 * 70, dtype=jnp.float32).reshape(3, 70) / 5.0)
  context = context.at[1, :10].set(jnp.nan)
  # fp32 round-off through 2 + 2 layers and the de-normalisation (values of order 1).
  np.testing.assert_allclose(jax.jit(compressed)(context), jax.jit(model)(context),
                             atol=5e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["head_sketch", "authors"])
def test_already_compressed_layouts_are_refactorised_exactly(layout):
  if layout == "head_sketch":  # rank 2 per head, 4 heads: every matrix has rank <= 8 < 27
    t5 = lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "head_sketch")
  else:  # per-layer head sizes 4 and 8 (48 x 16 / 48 x 32 matrices, full rank: kept dense)
    t5 = lowrank.authors_layout(T5_SMALL, 3, 1.0)
  model = Chronos(ChronosConfig(t5), rngs=nnx.Rngs(0))
  compressed, report = posthoc.compress(model, 1e-4)
  if layout == "head_sketch":
    assert {p.rank for p in report.projections} == {8}
  else:
    assert [s.d_kv for s in compressed.config.t5.attention_specs("encoder")] == [4, 8]
    assert all(p.rank is None for p in report.projections)
  _, logits_d = _encoder_and_logits(model, *_inputs())
  _, logits_c = _encoder_and_logits(compressed, *_inputs())
  # fp32 round-off of re-factorising exactly low-rank products.
  np.testing.assert_allclose(logits_c, logits_d, atol=2e-5, rtol=1e-5)


def test_report_accounting_and_input_unchanged():
  model = _chronos()
  _set_spectra(model, GEOMETRIC)
  before = {name: np.asarray(m.kernel[...]) for name, *_, m in
            posthoc.attention_projections(model)}
  compressed, report = posthoc.compress(model, EPS)
  for name, *_, m in posthoc.attention_projections(model):
    assert m.kind == "dense"
    np.testing.assert_array_equal(m.kernel[...], before[name])
  t5 = compressed.config.t5
  assert report.parameters_after == registry.parameter_count(compressed.config)
  assert report.parameters_before == registry.parameter_count(model.config)
  assert report.attention_parameters_after == lowrank.attention_parameters(t5)
  saved = sum(48 * 64 - r * (48 + 64) for r in report.ranks().values() if r is not None)
  assert report.parameters_before - report.parameters_after == saved
  assert report.attention_size_ratio == lowrank.attention_size_ratio(t5)
  # Everything else is copied: the shared embedding and a feed-forward matrix.
  np.testing.assert_array_equal(compressed.shared[...], model.shared[...])
  np.testing.assert_array_equal(compressed.decoder.layers[1].ff.wo[...],
                                model.decoder.layers[1].ff.wo[...])


def test_factorised_rank_threshold():
  # 48 x 64: dense costs 3072 per token; rank r costs 112 r; 27 * 112 = 3024 < 3072.
  assert posthoc.factorised_rank(27, 48, 64) == 27
  assert posthoc.factorised_rank(28, 48, 64) is None
  assert posthoc.factorised_rank(0, 48, 64) == 1  # the zero matrix: one zero factor pair
  with pytest.raises(ValueError, match="eps_rank"):
    posthoc.factorised_rank(-1, 48, 64)


@pytest.mark.parametrize("eps, match", [
    (0, r"^eps must be a finite number > 0, got 0\.0"),
    (-0.1, r"^eps must be a finite number > 0, got -0\.1"),
    (1.0, r"^eps must be < 1, got 1\.0"),
    (2, r"^eps must be < 1, got 2\.0"),
    (float("nan"), r"^eps must be a finite number > 0, got nan"),
    ("0.01", r"^eps must be a positive number, got '0\.01'"),
    (True, r"^eps must be a positive number, got True"),
    (None, r"^eps must be a positive number, got None"),
])
def test_bad_eps(eps, match):
  with pytest.raises(ValueError, match=match):
    posthoc.compress(_chronos(), eps)


def test_numpy_eps_is_accepted():
  _, report = posthoc.compress(_chronos(), np.float32(1e-7))
  assert report.eps == pytest.approx(1e-7)  # float32 -> float64: 1e-7 is not exact in fp32


def test_bad_model():
  with pytest.raises(ValueError, match="model"):
    posthoc.compress(T5_SMALL, EPS)
