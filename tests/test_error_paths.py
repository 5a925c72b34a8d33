"""Bad input raises a ValueError that names the argument and says what was wrong: the paths no
other test reaches (attention sketches, T5 inputs, theory helpers, real series, training
configs and files). Each pattern is anchored on the argument's name and the complaint."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts import attention as attn
from lowrank_ts.data import real_series
from lowrank_ts.models import CHRONOS_CONFIGS, Chronos
from lowrank_ts.theory import compression as comp
from lowrank_ts.theory import embedding_bounds as eb
from lowrank_ts.theory import flow_of_ranks as fr
from lowrank_ts.theory import sketching as sk
from lowrank_ts.training import checkpoints, metrics
from lowrank_ts.training import config as train_config

U, W = np.ones((4, 5)), np.ones((4, 4))

CASES = {
    # attention.py: the factored projections' shapes.
    "shared sketch w2 columns": (
        lambda: attn.multi_head_attention(U, attn.SharedSketch(np.ones((4, 2)), np.ones((2, 3))),
                                          W, W, 1),
        r"^w_q\.w2 must have d=4 columns, got shape \(2, 3\)"),
    "sparse sketch cols vs values": (
        lambda: attn.multi_head_attention(U, attn.SparseHeadSketch(
            np.ones((2, 2, 1)), np.zeros((2, 1, 2), int), np.ones((2, 1, 1))), W, W, 2),
        r"^w_q\.cols and w_q\.values must have the same shape, got \(2, 1, 2\) and \(2, 1, 1\)"),
    "sparse sketch values shape": (
        lambda: attn.multi_head_attention(U, attn.SparseHeadSketch(
            np.ones((2, 2, 1)), np.zeros((2, 3, 1), int), np.ones((2, 3, 1))), W, W, 2),
        r"^w_q\.values must have shape \(h, r, nnz\) with \(h, r\)=\(2, 1\), got \(2, 3, 1\)"),
    "sparse sketch densified without d": (
        lambda: attn.to_dense(attn.SparseHeadSketch(np.ones((1, 1, 1)), np.zeros((1, 1, 1), int),
                                                    np.ones((1, 1, 1)))),
        r"^d is required to densify a SparseHeadSketch"),
    # theory/compression.py (Theorem 3).
    "compression basis not thin": (
        lambda: comp.compress_attention(W, W, W, np.eye(4)),
        r"^basis must have fewer columns than rows \(r < d\), got shape \(4, 4\)"),
    "compression square weights": (
        lambda: comp.compress_attention(np.ones((4, 3)), W, W, np.eye(4)[:, :2]),
        r"^w_q must have shape \(d, d\)=\(4, 4\), got \(4, 3\)"),
    "sigma_next outside [0, 1]": (
        lambda: comp.compression_token_error_bound(1.0, 4, 1.5),
        r"^sigma_next must lie in \[0, 1\] \(Theorem 3 needs sigma_\(r\+1\) <= 1\), got 1\.5"),
    "sigma_next not a number": (
        lambda: comp.compression_token_error_bound(1.0, 4, "x"),
        r"^sigma_next must be a number in \[0, 1\], got 'x'"),
    "incompressible needs L >= d": (
        lambda: comp.incompressible_log_weight(8, 4),
        r"^seq_len=4 must be >= d=8 \(Theorem 3\.2 needs L >= d\)"),
    # theory/embedding_bounds.py (Theorems 1, 2).
    "index range": (
        lambda: eb.theorem1_s_bound_smooth(1.0, 2, 8, [0, 9]),
        r"^j must lie in \[\d+, \d+\], got range \[0, 9\]"),
    "empty index": (lambda: eb.theorem1_s_bound_smooth(1.0, 2, 8, np.array([], int)),
                    r"^j must not be empty"),
    "non-integer index": (
        lambda: eb.theorem1_s_bound_smooth(1.0, 2, 8, 1.5),
        r"^j must be an integer or an integer array, got 1\.5"),
    "quadrature fn shape": (
        lambda: eb.quasimatrix_singular_values(lambda x: np.ones((2, 3)), n_nodes=4),
        r"^fn must return \[d, 4\], got \(2, 3\)"),
    "quadrature fn callable": (
        lambda: eb.quasimatrix_singular_values(3), r"^fn must be callable, got 3"),
    "theorem 2 w1 columns": (
        lambda: eb.theorem2_threshold(np.ones((3, 5)), np.ones((6, 2)), np.ones((4, 6)), 0.1),
        r"^w1_FxK must have 3 columns \(rows of x_KxL\), got \(6, 2\)"),
    "theorem 2 w2 columns": (
        lambda: eb.theorem2_threshold(np.ones((3, 5)), np.ones((6, 3)), np.ones((4, 5)), 0.1),
        r"^w2_DxF must have 6 columns \(rows of w1_FxK\), got \(4, 5\)"),
    "count_above threshold shape": (
        lambda: eb.count_above(np.ones((2, 3)), np.ones(3)),
        r"^threshold must be a scalar or have shape \(2,\), got \(3,\)"),
    # theory/flow_of_ranks.py and sketching.py (Theorems 4, 6).
    "spectrum normalised": (
        lambda: fr.theorem4_singular_value_bound(np.array([0.5, 0.25]), 1, 1),
        r"^sigma\[0\] must be 1 \(Theorem 4 normalises sigma_1 = 1\), got 0\.5"),
    "theorem 6 stability constant": (
        lambda: sk.theorem6_epsilon(0.9 ** np.arange(4), 2, 0.5),
        r"^stability must be >= 1 \(Theorem 6's C\), got 0\.5"),
    # data/real_series.py.
    "real series names empty": (lambda: real_series.load([]),
                                r"^names must be a non-empty list of series names, got \[\]"),
    "real series unknown": (lambda: real_series.load(["nope"]),
                            r"^names contains unknown series \['nope'\]; known: "),
    "real series freq": (lambda: real_series.seasonality(3),
                         r"^freq must be a frequency string or None, got 3"),
    # training/config.py.
    "compute dtype": (lambda: train_config.TrainConfig(compute_dtype="fp8"),
                      r"^compute_dtype must be one of \('float32', 'bfloat16'\), got 'fp8'"),
    "mesh shape": (lambda: train_config.TrainConfig(mesh_shape=(0, 1)),
                   r"^mesh_shape must be a \(data, fsdp\) tuple of positive ints, got \(0, 1\)"),
    "kernel synth weight": (lambda: train_config.TrainConfig(kernel_synth_weight=1.5),
                            r"^kernel_synth_weight must be in \[0, 1\], got 1\.5"),
    "tsmixup weighting": (lambda: train_config.TrainConfig(tsmixup_weighting="odd"),
                          r"^tsmixup_weighting must be one of .*, got 'odd'"),
    "kernel synth path": (lambda: train_config.TrainConfig(kernel_synth_path="k.csv"),
                          r"^kernel_synth_path must be a \.npy file, got 'k\.csv'"),
    "override bool": (lambda: train_config.with_overrides(
        train_config.TrainConfig(), {"real_series": "maybe"}),
        r"^real_series: cannot parse 'maybe' \(real_series must be true or false, got 'maybe'\)"),
    "override int": (lambda: train_config.with_overrides(
        train_config.TrainConfig(), {"steps": "many"}), r"^steps: cannot parse 'many'"),
    # training/checkpoints.py.
    "config differences": (lambda: checkpoints.config_differences(
        train_config.TrainConfig(), {"steps": 3}), r"^config must be a TrainConfig, got dict"),
    "check reusable": (lambda: checkpoints.check_reusable(".", "cpu-test"),
                       r"^config must be a TrainConfig, got str"),
    # training/metrics.py.
    "logdir": (lambda: metrics.TensorBoardScalars(""), r"^logdir must be a non-empty path"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_names_the_argument_and_the_problem(name):
  call, pattern = CASES[name]
  with pytest.raises(ValueError, match=pattern):
    call()


@pytest.fixture(scope="module")
def t5():
  return Chronos(CHRONOS_CONFIGS["chronos-t5-cpu-mini"], rngs=nnx.Rngs(0))  # a T5


def test_t5_inputs_are_checked(t5):
  ids = jnp.ones((2, 3), jnp.int32)
  with pytest.raises(ValueError, match=r"^input_ids_BL must be a non-empty \[batch, length\] "
                                       r"array, got shape \(3,\)"):
    t5.encode(jnp.ones(3, jnp.int32))
  with pytest.raises(ValueError, match=r"^input_ids_BL must hold integer token ids, got dtype "
                                       r"float32"):
    t5.encode(jnp.ones((2, 3)))
  with pytest.raises(ValueError, match=r"^mask_BL must have shape \(2, 3\), got \(2, 4\)"):
    t5.encode(ids, jnp.ones((2, 4), bool))
  with pytest.raises(ValueError, match=r"^embeds_BLD must be \[batch, length, \d+\], got "
                                       r"\(2, 3, 5\)"):
    t5.encode_embeds(jnp.ones((2, 3, 5)))
  with pytest.raises(ValueError, match=r"^encoder_BSD must be \[batch=2, length, d_model\], "
                                       r"got \(1, 3"):
    t5.decode(ids, jnp.ones((1, 3, t5.d_model)))


def test_sampler_program_and_its_memory_check_their_arguments(t5):
  import jax

  from experiments import pretrain_scores
  from lowrank_ts.inference import sampling
  ids = jnp.ones((2, 3), jnp.int32)
  with pytest.raises(ValueError, match=r"^num_samples must be"):
    sampling.lowered(t5, ids, None, jax.random.key(0), num_samples=0, horizon=2)
  with pytest.raises(ValueError, match=r"^family must be one of \('bolt', 't5'\), got 'rnn'"):
    pretrain_scores.working_bytes(t5, np.ones((2, 8), np.float32), family="rnn")


def test_t5_config_type_is_checked():
  from lowrank_ts.models.t5 import T5
  with pytest.raises(ValueError, match=r"^config must be a T5Config, got dict"):
    T5({}, rngs=nnx.Rngs(0))


def test_saved_train_config_files_are_checked(tmp_path):
  with pytest.raises(ValueError, match=r"has no train_config\.json \(not a lowrank-ts train run\)"):
    checkpoints.read_config(str(tmp_path))
  path = tmp_path / checkpoints.CONFIG_FILE
  path.write_text("{not json")
  with pytest.raises(ValueError, match=r"train_config\.json is not a readable JSON file"):
    checkpoints.read_config(str(tmp_path))
  path.write_text("[1, 2]")
  with pytest.raises(ValueError, match=r"must hold a JSON object of TrainConfig fields, got list"):
    checkpoints.read_config(str(tmp_path))
  path.write_text(json.dumps({"steps": 3, "colour": "red"}))
  with pytest.raises(ValueError, match=r"has unknown fields \['colour'\]"):
    checkpoints.read_config(str(tmp_path))


def test_loop_train_rejects_an_init_params_that_is_not_a_function(tmp_path):
  from lowrank_ts.training import config as train_config
  from lowrank_ts.training import loop
  config = train_config.TRAIN_CONFIGS["cpu-test"]
  with pytest.raises(ValueError, match="^init_params must be a function params -> params, "
                                       "got dict"):
    loop.train(config, str(tmp_path), progress=False, init_params={})
