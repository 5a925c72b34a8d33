"""Every command line under bad input: one line naming the argument (exit 2) or the file and
tensor (exit 1), in the words the user typed; limits that say why; outputs checked before any
work and never written over an input."""

import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file, save_file

from lowrank_ts import checks
from lowrank_ts.cli import compress, evaluate, forecast, learning_curve, train
from lowrank_ts.inference import forecasting
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import BOLT_CONFIGS, CHRONOS_CONFIGS, registry

NAN_TENSOR = "encoder.block.1.layer.0.SelfAttention.q.weight"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("files")
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), root / "bolt")
  hf.save(registry.build(CHRONOS_CONFIGS["chronos-t5-cpu-mini"], seed=0), root / "t5")
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), root / "nan")
  tensors = load_file(root / "nan" / "model.safetensors")
  tensors[NAN_TENSOR][3, 5] = np.nan
  save_file(tensors, root / "nan" / "model.safetensors", metadata={"format": "pt"})
  (root / "series.csv").write_text("a,b\n" + "".join(f"{t},{t % 5}\n" for t in range(30)))
  return root


def _fails(main, args, capsys):
  """``(exit code, the one stderr line)``; fails if stderr has more than one line."""
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    main([str(a) for a in args])
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1, lines
  return exit_info.value.code, lines[0]


def test_a_non_finite_weight_is_refused_at_load_naming_the_tensor(files):
  with pytest.raises(ValueError, match=rf"^checkpoint {files / 'nan'}: tensor '{NAN_TENSOR}' "
                                       r"holds 1 NaN and 0 infinite values \(of 4096\)"):
    hf.load(files / "nan")
  model = hf.load(files / "bolt")  # a workdir's checkpoint is checked the same way
  params = nnx.state(model, nnx.Param)
  checks.finite_tensors(params, "checkpoint 7 of run")
  norm = params["encoder"]["final_norm"]["weight"]
  norm.set_value(norm.get_value().at[3].set(np.inf))
  with pytest.raises(ValueError, match=r"^checkpoint 7 of run: tensor 'encoder\.final_norm\."
                                       r"weight' holds 0 NaN and 1 infinite values \(of 64\)"):
    checks.finite_tensors(params, "checkpoint 7 of run")


@pytest.mark.parametrize("command", ["forecast", "compress", "evaluate"])
def test_every_command_refuses_a_model_with_a_non_finite_weight_with_exit_1(files, tmp_path,
                                                                           capsys, command):
  main, args = {
      "forecast": (forecast.main, ["--input", files / "series.csv", "--horizon", 2, "--out",
                                   tmp_path / "out.csv"]),
      "compress": (compress.main, ["--eps", 0.1, "--out", tmp_path / "out"]),
      "evaluate": (evaluate.main, ["--out", tmp_path / "out"]),
  }[command]
  code, line = _fails(main, ["--model", files / "nan", *args], capsys)
  assert code == 1
  assert line == (f"lowrank-ts {command}: error: checkpoint {files / 'nan'}: tensor "
                  f"'{NAN_TENSOR}' holds 1 NaN and 0 infinite values (of 4096); a model with "
                  "non-finite weights forecasts NaN")
  assert not (tmp_path / "out").exists() and not (tmp_path / "out.csv").exists()


SEED = 99999999999999999999
SEED_LIMIT = "must be <= 9223372036854775807 (jax.random.key takes a signed 64-bit seed)"
STEP_LIMIT = "must be <= 2147483647 (the compiled train step counts steps in int32)"


@pytest.mark.parametrize("command, args, message", [
    ("forecast", ["--seed", SEED], f"--seed {SEED_LIMIT}, got {SEED}"),
    ("forecast", ["--horizon", 10 ** 9],
     ("--horizon must be <= 1024 (64 chunks of the model's 16-step prediction length: each "
      "chunk after the first forecasts from the model's own forecast, and the run time grows "
      "with every chunk), got 1000000000")),
    ("forecast", ["--num-samples", 10 ** 5],
     "--num-samples must be <= 1000 (each sample path is a decoder row with its own KV cache"),
    ("evaluate", ["--seed", SEED], f"--seed {SEED_LIMIT}, got {SEED}"),
    ("evaluate", ["--num-samples", 10 ** 5], "--num-samples must be <= 1000 ("),
    ("learning-curve", ["--seed", SEED], f"--seed {SEED_LIMIT}, got {SEED}"),
    ("compress", ["--finetune-steps", 10 ** 23, "--config", "cpu-test"],
     f"--finetune-steps {STEP_LIMIT}, got {10 ** 23}"),
    ("train", ["--steps", 10 ** 23], f"--steps {STEP_LIMIT}, got {10 ** 23}"),
    ("train", ["--steps", 5, "--batch_size=0"], "--batch_size must be >= 1, got 0"),
])
def test_limits_say_why_and_exit_2(files, tmp_path, capsys, command, args, message):
  main, common = {
      "forecast": (forecast.main, ["--model", files / "bolt", "--input", files / "series.csv",
                                   "--horizon", 2, "--out", tmp_path / "out.csv"]),
      "evaluate": (evaluate.main, ["--model", files / "bolt", "--out", tmp_path / "out"]),
      "learning-curve": (learning_curve.main, ["--workdir", tmp_path]),
      "compress": (compress.main, ["--model", files / "bolt", "--eps", 0.1, "--out",
                                   tmp_path / "out"]),
      "train": (train.main, ["--config", "cpu-test", "--workdir", tmp_path / "run"]),
  }[command]
  code, line = _fails(main, [*common, *args], capsys)
  assert code == 2
  assert line.startswith(f"lowrank-ts {command}: error: {message}"), line


def test_messages_name_the_flags_the_user_typed(files, tmp_path, capsys):
  code, line = _fails(forecast.main, ["--model", files / "t5", "--input", files / "series.csv",
                                      "--horizon", 2, "--top-p", 2, "--out",
                                      tmp_path / "out.csv"], capsys)
  assert code == 2 and line == "lowrank-ts forecast: error: --top-p must be <= 1.0, got 2.0"
  code, line = _fails(forecast.main, ["--model", files / "t5", "--input", files / "series.csv",
                                      "--long", "--horizon", 2, "--out", tmp_path / "out.csv"],
                      capsys)
  assert code == 1 and line.startswith(
      f"lowrank-ts forecast: error: --id-column: input {files / 'series.csv'} has no column "
      "'item_id' (columns: ['a', 'b'])")
  code, line = _fails(evaluate.main, ["--model", "no-such-model"], capsys)
  assert code == 2 and line.startswith("lowrank-ts evaluate: error: --model must be a checkpoint")


@pytest.mark.parametrize("out, message", [
    ("{root}/series.csv",
     "--out '{root}/series.csv' would overwrite the file '{root}/series.csv', an input"),
    ("{root}/bolt/config.json",
     "--out '{root}/bolt/config.json' would overwrite a file of the folder '{root}/bolt'"),
    ("{root}/missing/out.csv",
     "--out '{root}/missing/out.csv': the folder '{root}/missing' does not exist"),
    ("{root}", "--out '{root}' is a folder; name a file"),
])
def test_a_bad_out_is_refused_before_the_model_is_loaded(files, capsys, monkeypatch, out,
                                                         message):
  def never(*args, **kwargs):
    raise AssertionError("the model was loaded before --out was checked")

  monkeypatch.setattr(resolve.Source, "load", never)
  monkeypatch.setattr(forecasting, "forecast", never)
  before = {p: p.read_bytes() for p in files.rglob("*") if p.is_file()}
  code, line = _fails(forecast.main, ["--model", files / "bolt", "--input", files / "series.csv",
                                      "--horizon", 2, "--out", out.format(root=files)], capsys)
  assert code == 2
  assert line.startswith(f"lowrank-ts forecast: error: {message.format(root=files)}"), line
  assert {p: p.read_bytes() for p in files.rglob("*") if p.is_file()} == before


def test_export_into_a_model_folder_is_refused_before_scoring(files, tmp_path, capsys):
  old = tmp_path / "old-model"
  old.mkdir()
  (old / "README.md").write_text("another model")
  code, line = _fails(learning_curve.main, ["--workdir", tmp_path / "run", "--export", old],
                      capsys)
  assert code == 2
  assert line == (f"lowrank-ts learning-curve: error: --export '{old}' exists and is not an "
                  "empty folder: it holds 'README.md'; choose a new folder or remove it")
  code, line = _fails(compress.main, ["--model", files / "bolt", "--eps", 0.1, "--out", old],
                      capsys)
  assert code == 2 and "--out '" in line and "exists and is not an empty folder" in line
