"""lowrank_ts.interop.resolve: what ``--model`` names (a checkpoint folder, a training workdir,
a shipped model's name, nothing) and the one error for anything else."""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from lowrank_ts import pretrained
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import BOLT_CONFIGS, registry
from lowrank_ts.training import loop
from lowrank_ts.training.config import TRAIN_CONFIGS


def _same_parameters(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param)),
      strict=True))


def test_nothing_and_the_shipped_name_are_the_shipped_model():
  default = resolve.source()
  assert default == resolve.source(pretrained.DEFAULT)
  assert default.kind == "shipped" and default.path == pretrained.path()
  assert _same_parameters(default.load(), hf.load(pretrained.path()))


def test_a_checkpoint_folder(tmp_path):
  model = registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=3)
  hf.save(model, tmp_path / "bolt")
  source = resolve.source(tmp_path / "bolt")
  assert (source.kind, source.name) == ("folder", "bolt")
  assert _same_parameters(resolve.load_model(str(tmp_path / "bolt")), model)


def test_a_training_workdir_is_its_latest_checkpoint(tmp_path):
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], steps=2, checkpoint_every=1)
  state = loop.train(config, str(tmp_path / "run"), progress=False)
  source = resolve.source(tmp_path / "run")
  assert (source.kind, source.name) == ("workdir", "run")
  loaded = source.load()
  assert loaded.config == config.model_config
  for a, b in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(nnx.state(loaded, nnx.Param)),
                  strict=True):
    np.testing.assert_array_equal(a, b)  # step 2's parameters, bit for bit


@pytest.mark.parametrize("make, reason", [
    (lambda d: d / "missing", "no such folder"),
    (lambda d: d, "the folder has neither config.json nor train_config.json"),
    (lambda d: 3, "not a path (int)"),
])
def test_anything_else_is_one_error_naming_the_argument(tmp_path, make, reason):
  with pytest.raises(ValueError, match=r"^--model must be a checkpoint folder \(config.json\), a "
                     r"training workdir \(train_config.json\) or one of .*, got .*: ") as err:
    resolve.source(make(tmp_path), "--model")
  assert str(err.value).endswith(reason)
  with pytest.raises(ValueError,
                     match=f"or one of {', '.join(pretrained.NAMES)}, seasonal-naive, got"):
    resolve.source(tmp_path / "missing", "--model", ("seasonal-naive",))
