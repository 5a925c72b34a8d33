"""``lowrank-ts finetune``: a loadable checkpoint folder with finetune.json, written whole or not
at all, resumed after a kill, and one line for each bad input."""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lowrank_ts.cli import main as cli_main
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import registry
from lowrank_ts.models.config import named_config

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _write_wide(path, length=100, n=4, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  columns = [10 + 3 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6)) for _ in range(n)]
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow([f"s{i}" for i in range(n)])
    writer.writerows(np.stack(columns, 1).round(4).tolist())
  return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  root = tmp_path_factory.mktemp("finetune_cli")
  hf.save(registry.build(named_config("chronos-bolt-cpu-zs"), seed=0), root / "model")
  _write_wide(root / "series.csv")
  return root


def _run(argv, capsys):
  try:
    code = cli_main.main(argv)
  except SystemExit as err:
    code = err.code
  return code, capsys.readouterr()


def test_writes_a_folder_every_command_loads(folder, capsys):
  out = folder / "tuned"
  code, printed = _run(["finetune", "--model", str(folder / "model"), "--input",
                        str(folder / "series.csv"), "--horizon", "12", "--steps", "4",
                        "--learning-rate", "1e-3", "--seasonality", "12", "--quiet",
                        "--out", str(out)], capsys)
  assert code == 0, printed.err
  report = json.loads((out / "finetune.json").read_text())
  for key in ("before", "after", "seasonal_naive"):
    assert set(report[key]) == {"wql", "mase"}
  assert report["steps"] == 4 and report["rule"].startswith("hold-out WQL")
  assert "chosen_step" in report and report["series"] == 4
  assert not (folder / "tuned.partial").exists()
  assert "Seasonal Naive" in printed.out
  model = resolve.load_model(str(out))
  assert model.config == hf.load(folder / "model").config
  code, printed = _run(["forecast", "--model", str(out), "--input", str(folder / "series.csv"),
                        "--horizon", "12", "--quiet", "--out", str(folder / "f.csv")], capsys)
  assert code == 0, printed.err


@pytest.mark.parametrize("case", ["short", "out-is-model", "out-is-input", "out-exists",
                                  "unknown-model", "horizon", "missing-input", "bad-column",
                                  "factors-on-dense"])
def test_bad_input_gets_one_line(folder, capsys, case):
  model, data = str(folder / "model"), str(folder / "series.csv")
  args = {"--model": model, "--input": data, "--horizon": "12", "--out": str(folder / "x")}
  code = 2
  if case == "short":
    args["--input"], code = str(_write_wide(folder / "short.csv", length=30)), 1
  elif case == "out-is-model":
    args["--out"] = model
  elif case == "out-is-input":
    args["--out"] = data
  elif case == "out-exists":
    (folder / "exists").mkdir(exist_ok=True)
    args["--out"] = str(folder / "exists")
  elif case == "unknown-model":
    args["--model"] = str(folder / "no-such-model")
  elif case == "horizon":
    args["--horizon"] = "0"
  elif case == "missing-input":
    args["--input"], code = str(folder / "none.csv"), 1
  elif case == "bad-column":
    (folder / "bad.csv").write_text("a,b\n1,x\n")
    args["--input"], code = str(folder / "bad.csv"), 1
  elif case == "factors-on-dense":
    args["--trainable"] = "factors"
  argv = ["finetune", "--quiet", "--steps", "2"] + [x for kv in args.items() for x in kv]
  got, printed = _run(argv, capsys)
  lines = printed.err.strip().splitlines()
  assert got == code, printed.err
  assert len(lines) == 1 and lines[0].startswith("lowrank-ts finetune: error: "), lines
  expected = {"short": "none of the 4 series can be used", "out-is-model": "model's folder",
              "out-is-input": "is the --input file", "out-exists": "exists: give a new folder",
              "unknown-model": "--model must be", "horizon": "--horizon must be > 0",
              "missing-input": "does not exist",
              "bad-column": "column 'b', row 2 holds 'x', which is not a number",
              "factors-on-dense": "--trainable: 'factors' selects no parameter"}[case]
  assert expected in lines[0]
  assert not (folder / "x").exists()


def _child(folder, out, steps):
  code = ("import sys; from lowrank_ts.cli import main; "
          f"sys.exit(main.main(sys.argv[1:]))")
  return [sys.executable, "-c", code, "finetune", "--model", str(folder / "model"),
          "--input", str(folder / "series.csv"), "--horizon", "12", "--steps", str(steps),
          "--learning-rate", "1e-3", "--quiet", "--out", str(out)]


@pytest.mark.slow
def test_kill_9_then_rerun_resumes_to_the_uninterrupted_result(folder):
  """SIGKILL once the first checkpoint exists, rerun: the same parameters as a run never
  interrupted, and no DIR2 until the run is complete."""
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  whole = folder / "whole"
  subprocess.run(_child(folder, whole, 40), cwd=ROOT, env=env, check=True, timeout=600,
                 capture_output=True)
  killed = folder / "killed"
  proc = subprocess.Popen(_child(folder, killed, 40), cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  checkpoints = folder / "killed.partial" / "run" / "checkpoints"
  deadline = time.time() + 600
  while time.time() < deadline and not any(
      (checkpoints / s / "checksums.json").exists() for s in ("4", "8")):
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not killed.exists()
  subprocess.run(_child(folder, killed, 40), cwd=ROOT, env=env, check=True, timeout=600,
                 capture_output=True)
  a = hf.read_tensors(whole)
  b = hf.read_tensors(killed)
  assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
  assert (json.loads((whole / "finetune.json").read_text())["history"]
          == json.loads((killed / "finetune.json").read_text())["history"])


def test_compress_then_heal_on_the_users_series(folder, capsys):
  """compress --finetune-input: the factors keep the ranks compression gave them, and
  compression.json holds the hold-out report."""
  base = ["compress", "--model", str(folder / "model"), "--ratio", "0.5"]
  code, printed = _run(base + ["--out", str(folder / "plain")], capsys)
  assert code == 0, printed.err
  code, printed = _run(base + ["--finetune-input", str(folder / "series.csv"), "--horizon", "12",
                               "--finetune-steps", "4", "--finetune-lr", "1e-3",
                               "--out", str(folder / "healed")], capsys)
  assert code == 0, printed.err
  report = json.loads((folder / "healed" / "compression.json").read_text())["finetune"]
  assert report["input"] == str(folder / "series.csv") and "after" in report
  plain, healed = hf.read_tensors(folder / "plain"), hf.read_tensors(folder / "healed")
  assert {k: v.shape for k, v in plain.items()} == {k: v.shape for k, v in healed.items()}
  assert any(k.endswith("sketch") for k in healed)
  code, printed = _run(base + ["--horizon", "12", "--out", str(folder / "no")], capsys)
  assert code == 2 and "--horizon is the hold-out of --finetune-input" in printed.err
