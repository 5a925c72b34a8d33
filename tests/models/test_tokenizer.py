"""Tests of lowrank_ts.models.tokenizer: the Chronos tokenizer vs the reference implementation
and an independent NumPy re-derivation."""


import numpy as np
import pytest

from lowrank_ts.models.tokenizer import MeanScaleUniformBins

SPACING = 30 / 4092  # distance between Chronos bin centres


def _random_context(seed, batch=12, length=300):
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((batch, length)) * np.exp(rng.uniform(-6, 8, (batch, 1)))
  x += rng.uniform(-3, 3, (batch, 1)) * np.abs(x).mean(axis=1, keepdims=True)
  x = x.astype(np.float32)
  x[0, :40] = np.nan  # left padding
  x[1] = np.nan  # all missing
  x[2] = 0.0  # all zero
  x[3, ::5] = np.nan  # scattered missing values
  x[4, -1] = 1e6  # a spike: clamped to the top bin
  x[5, 0] = -1e6
  return x


TOKENIZER = MeanScaleUniformBins()  # the published Chronos settings

def test_bins_are_chronos_layout():
  centers, bounds = TOKENIZER.bin_centers(), TOKENIZER.bin_boundaries()
  assert centers.shape == (4093,) and bounds.shape == (4094,)
  assert centers.dtype == np.float32 and bounds.dtype == np.float32
  assert centers[0] == -15 and centers[-1] == 15
  assert abs(centers[2046]) < 2e-8  # torch's float32 linspace puts its middle at 1.4e-8
  assert bounds[0] == np.float32(-1e20) and bounds[-1] == np.float32(1e20)
  # float32 linspace: neighbours differ from 30/4092 by rounding only (a few ulps of 15).
  np.testing.assert_allclose(np.diff(centers), SPACING, atol=4e-6)
  np.testing.assert_array_equal(bounds[1:-1], (centers[1:] + centers[:-1]) / np.float32(2))


def _reference_tokenizer(low_limit: float, high_limit: float, n_tokens: int):
  """chronos-forecasting's MeanScaleUniformBins with these settings (PAD 0, EOS 1)."""
  chronos = pytest.importorskip("chronos.chronos")
  config = chronos.ChronosConfig(
      tokenizer_class="MeanScaleUniformBins",
      tokenizer_kwargs={"low_limit": low_limit, "high_limit": high_limit}, context_length=256,
      prediction_length=64, n_tokens=n_tokens, n_special_tokens=2, pad_token_id=0,
      eos_token_id=1, use_eos_token=True, model_type="seq2seq", num_samples=20,
      temperature=1.0, top_k=50, top_p=1.0)
  return chronos.MeanScaleUniformBins(low_limit, high_limit, config)


def test_tokenize_matches_chronos_reference():
  torch = pytest.importorskip("torch")
  ref = _reference_tokenizer(-15.0, 15.0, 4096)
  np.testing.assert_array_equal(ref.centers.numpy(), TOKENIZER.bin_centers())
  np.testing.assert_array_equal(ref.boundaries.numpy(), TOKENIZER.bin_boundaries())
  for seed in range(2):
    x = _random_context(seed)
    ids_ref, mask_ref, scale_ref = ref.context_input_transform(torch.tensor(x))
    ids, mask, scale = TOKENIZER.tokenize(x, context_length=256)
    # The mean |x| is summed in another order than torch's: the scale may differ in the last
    # float32 ulp (relative 6e-8), so compare it to 1e-6 and the tokens exactly.
    np.testing.assert_allclose(np.asarray(scale), scale_ref.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ids), ids_ref.numpy())
    np.testing.assert_array_equal(np.asarray(mask), mask_ref.numpy())
    # Labels with the reference's scale: bitwise the same path, so exact.
    labels = _random_context(seed + 10, length=64) * 0.3
    lab_ref, lab_mask_ref = ref.label_input_transform(torch.tensor(labels), scale_ref)
    lab, lab_mask, _ = TOKENIZER.tokenize(labels, scale=scale_ref.numpy())
    np.testing.assert_array_equal(np.asarray(lab), lab_ref.numpy())
    np.testing.assert_array_equal(np.asarray(lab_mask), lab_mask_ref.numpy())
    samples = np.random.default_rng(seed).integers(0, 4096, (12, 5, 64))
    out_ref = ref.output_transform(torch.tensor(samples), scale_ref)
    np.testing.assert_array_equal(np.asarray(TOKENIZER.detokenize(samples, scale_ref.numpy())),
                                  out_ref.numpy())


def test_non_default_tokenizer_matches_chronos_reference():
  # Settings other than the published ones are real (a checkpoint may carry them): bins and
  # tokens follow the reference for 100 tokens over [-5, 5] too.
  torch = pytest.importorskip("torch")
  ours = MeanScaleUniformBins(low_limit=-5.0, high_limit=5.0, n_tokens=100)
  ref = _reference_tokenizer(-5.0, 5.0, 100)
  np.testing.assert_array_equal(ref.centers.numpy(), ours.bin_centers())
  np.testing.assert_array_equal(ref.boundaries.numpy(), ours.bin_boundaries())
  x = _random_context(3)
  ids_ref, mask_ref, _ = ref.context_input_transform(torch.tensor(x))
  ids, mask, _ = ours.tokenize(x, context_length=256)
  np.testing.assert_array_equal(np.asarray(ids), ids_ref.numpy())
  np.testing.assert_array_equal(np.asarray(mask), mask_ref.numpy())
  with pytest.raises(ValueError, match="n_tokens must be at least n_special_tokens"):
    MeanScaleUniformBins(n_tokens=4)
  with pytest.raises(ValueError, match="low_limit must be < high_limit"):
    MeanScaleUniformBins(low_limit=1.0, high_limit=1.0)


def test_tokenize_matches_independent_numpy_derivation():
  rng = np.random.default_rng(1)
  centers = np.linspace(-15, 15, 4093)  # float64: independent of the float32 construction
  bounds = np.concatenate([[-1e20], (centers[1:] + centers[:-1]) / 2, [1e20]])
  for seed in range(4):
    x = _random_context(seed, batch=8, length=int(rng.integers(50, 400)))
    mask = ~np.isnan(x)
    with np.errstate(invalid="ignore"):  # 0 / 0 for the all-missing row, mapped to 1 next
      scale = np.nansum(np.abs(x), axis=1) / mask.sum(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    scaled = x / scale[:, None]
    expected = np.clip(np.digitize(scaled, bounds, right=False) + 2, 0, 4095)
    expected = np.where(mask, expected, 0)
    ids, mask_j, scale_j = TOKENIZER.tokenize(x, append_eos=False)
    ids = np.asarray(ids)
    np.testing.assert_array_equal(np.asarray(mask_j), mask)
    # float32 vs float64 scale and edges: allow disagreement only for values within 1e-5 (a
    # few float32 ulps at |v| <= 15) of an edge, and only by one bin.
    np.testing.assert_allclose(np.asarray(scale_j), scale, rtol=1e-5)
    differ = ids != expected
    assert np.all(np.abs(ids[differ] - expected[differ]) == 1)
    near_edge = np.min(np.abs(scaled[differ][:, None] - bounds[None, 1:-1]), axis=1) < 1e-5
    assert np.all(near_edge)
    assert differ.sum() <= 2


def test_tokenize_edge_cases():
  x = np.full((5, 8), np.nan, np.float32)
  x[1] = 0.0
  x[2] = [0, 0, 0, 0, 0, 0, 0, 1e6]  # scale 1.25e5: the spike is 8 scales, the zeros 0
  x[3] = [-1e6, 1e6, np.nan, 1, 2, 3, 4, 5]
  x[4] = [0, 0, 0, 0, 0, 0, 0, 1e-30]  # tiny but positive scale
  ids, mask, scale = TOKENIZER.tokenize(x)
  ids, mask, scale = np.asarray(ids), np.asarray(mask), np.asarray(scale)
  assert ids.shape == (5, 9) and ids.dtype == np.int32
  # all missing: every id PAD, mask False, scale 1; EOS still appended with mask True
  np.testing.assert_array_equal(ids[0], [0] * 8 + [1])
  np.testing.assert_array_equal(mask[0], [False] * 8 + [True])
  assert scale[0] == 1.0 and scale[1] == 1.0
  np.testing.assert_array_equal(ids[1, :8], 2049)  # 0 -> centre index 2046 -> id 2046 + 3
  assert ids[2, 7] == 2049 + round(8 / SPACING)
  assert ids[3, 2] == 0 and not mask[3, 2]
  assert scale[3] == np.float32((2e6 + 15) / 7)
  # +-1e6 in a series of ones: clamped to the outermost finite bins 3 and 4095
  y = np.array([[1, 1, 1, 1, 1, 1e6, -1e6, 1]], np.float32)
  ids_y, _, _ = TOKENIZER.tokenize(y, append_eos=False, scale=np.float32([1.0]))
  np.testing.assert_array_equal(np.asarray(ids_y), [[2185, 2185, 2185, 2185, 2185, 4095, 3,
                                                      2185]])
  # beyond +-1e20 (inf): bucketize gives 4094 -> clamped to 4095, and 0 -> id 2
  ids_inf, _, _ = TOKENIZER.tokenize(np.float32([np.inf, -np.inf]), scale=np.float32(1.0),
                                     append_eos=False)
  np.testing.assert_array_equal(np.asarray(ids_inf), [4095, 2])
  assert scale[4] == np.float32(1e-30 / 8)


def test_tokenize_1d_truncation_and_round_trip():
  rng = np.random.default_rng(3)
  x = (rng.standard_normal(700) * 40 + 5).astype(np.float32)
  ids, mask, scale = TOKENIZER.tokenize(x, context_length=512)
  assert ids.shape == (513,) and mask.shape == (513,) and scale.shape == ()
  assert bool(mask.all()) and int(ids[-1]) == 1
  kept = x[-512:]
  np.testing.assert_allclose(scale, np.abs(kept).mean(), rtol=1e-5)  # float32 sum of 512
  decoded = np.asarray(TOKENIZER.detokenize(ids[:-1], scale))
  inside = np.abs(kept / scale) <= 15
  assert inside.mean() > 0.99  # |x| / mean|x| > 15 is a > 18-sigma event for this Gaussian
  # nearest-centre quantization: error <= half a bin (+ float32 rounding of 15 * scale)
  err = np.abs(decoded - kept)[inside]
  assert np.all(err <= (SPACING / 2) * float(scale) * (1 + 1e-4))
  # decoding is idempotent: re-tokenising decoded values with the same scale gives the ids
  again, _, _ = TOKENIZER.tokenize(decoded, scale=scale, append_eos=False)
  np.testing.assert_array_equal(np.asarray(again), np.asarray(ids[:-1]))


def test_left_padding_is_masked_pad():
  out = np.float32([[np.nan, np.nan, 0, 1, 2], [0, 1, 2, 3, 4]])  # a ragged pair, left-padded
  ids, mask, _ = TOKENIZER.tokenize(out)
  np.testing.assert_array_equal(np.asarray(mask[0]), [False, False, True, True, True, True])
  assert int(ids[0, 0]) == 0


def test_tokenizer_rejects_bad_input():
  with pytest.raises(ValueError, match="context"):
    TOKENIZER.tokenize(np.float32(1.0))
  with pytest.raises(ValueError, match="context"):
    TOKENIZER.tokenize("abc")
  with pytest.raises(ValueError, match="context"):
    TOKENIZER.tokenize(np.zeros((2, 0)))
  with pytest.raises(ValueError, match="context"):
    TOKENIZER.tokenize(np.ones(3) + 1j)
  with pytest.raises(ValueError, match="scale"):
    TOKENIZER.tokenize(np.ones((2, 4)), scale=np.ones(3))
  with pytest.raises(ValueError, match="append_eos"):
    TOKENIZER.tokenize(np.ones(4), append_eos=1)
  with pytest.raises(ValueError, match="context_length"):
    TOKENIZER.tokenize(np.ones(4), context_length=0)
  with pytest.raises(ValueError, match="token_ids"):
    TOKENIZER.detokenize(np.ones((2, 3)), np.ones(2))
  with pytest.raises(ValueError, match="scale"):
    TOKENIZER.detokenize(np.ones((2, 3), int), np.ones(3))
  with pytest.raises(ValueError, match="scale"):
    TOKENIZER.detokenize(np.ones(3, int), np.ones(3))


def test_tokenize_window_is_tokenize_without_the_checks():
  context = _random_context(3)
  for ours, theirs in zip(TOKENIZER.tokenize_window(context), TOKENIZER.tokenize(context)):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
