"""SIGINT / SIGTERM end forecast, compress, evaluate and learning-curve with one line and exit
130 / 143, leaving no output (and no temporary file) behind."""

import csv
import os
import signal

import pytest

from lowrank_ts.cli import compress, evaluate, exits, forecast, learning_curve
from lowrank_ts.evaluation import checkpoint_scores, plots
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry
from lowrank_ts.training import checkpoints
from lowrank_ts.training.config import TRAIN_CONFIGS


@pytest.fixture(scope="module")
def bolt(tmp_path_factory):
  folder = tmp_path_factory.mktemp("model") / "bolt"
  hf.save(registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0), folder)
  return folder


def _signal(sig):
  os.kill(os.getpid(), sig)  # the handler raises in this (the main) thread


def _interrupted(main, args, sig, capsys, prog):
  handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    main(args)
  err = capsys.readouterr().err
  assert exit_info.value.code == 128 + sig, err
  assert err.strip().splitlines() == [f"{prog}: interrupted by {sig.name}"], err
  assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_forecast_interrupted_while_writing_leaves_no_output(bolt, tmp_path, capsys,
                                                             monkeypatch, sig):
  data = tmp_path / "in" / "series.csv"
  data.parent.mkdir()
  data.write_text("a,b\n" + "".join(f"{t},{2 * t}\n" for t in range(1, 30)))
  writer = csv.writer

  class Interrupting:  # the signal arrives after the first row of the second series
    def __init__(self, f):
      self.writer, self.rows = writer(f), 0

    def writerow(self, row):
      self.rows += 1
      if self.rows == 2 + 3:  # header, 3 steps of "a", then "b"'s first
        _signal(sig)
      return self.writer.writerow(row)

  monkeypatch.setattr(csv, "writer", Interrupting)
  out = tmp_path / "out" / "forecast.csv"
  out.parent.mkdir()
  _interrupted(forecast.main, ["--model", str(bolt), "--input", str(data), "--horizon", "3",
                               "--quiet", "--out", str(out)], sig, capsys, "lowrank-ts forecast")
  assert os.listdir(out.parent) == []  # neither the output nor its temporary


def test_compress_interrupted_while_writing_leaves_no_folder(bolt, tmp_path, capsys,
                                                             monkeypatch):
  save = hf.save

  def interrupted_save(*args, **kwargs):  # the checkpoint is written, the report is not yet
    save(*args, **kwargs)
    _signal(signal.SIGTERM)

  monkeypatch.setattr(hf, "save", interrupted_save)
  _interrupted(compress.main, ["--model", str(bolt), "--eps", "0.1", "--out",
                               str(tmp_path / "out" / "small")], signal.SIGTERM, capsys,
               "lowrank-ts compress")
  assert os.listdir(tmp_path / "out") == []


def test_evaluate_interrupted_while_writing_leaves_no_folder(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(plots, "fan_charts", lambda *args, **kwargs: _signal(signal.SIGINT))
  (tmp_path / "out").mkdir()
  _interrupted(evaluate.main, ["--model", "seasonal-naive", "--out",
                               str(tmp_path / "out" / "eval")], signal.SIGINT, capsys,
               "lowrank-ts evaluate")
  assert os.listdir(tmp_path / "out") == []


def test_learning_curve_interrupted_exits_143_and_exports_nothing(tmp_path, capsys,
                                                                   monkeypatch):
  checkpoints.record_config(str(tmp_path), TRAIN_CONFIGS["cpu-test"])
  monkeypatch.setattr(checkpoint_scores, "learning_curve",
                      lambda *args: _signal(signal.SIGTERM))
  _interrupted(learning_curve.main, ["--workdir", str(tmp_path), "--export",
                                     str(tmp_path.parent / f"{tmp_path.name}-hf")],
               signal.SIGTERM, capsys, "lowrank-ts learning-curve")
  assert not (tmp_path.parent / f"{tmp_path.name}-hf").exists()


def test_a_signal_inside_an_extension_import_ends_with_one_line(capsys):
  # A C extension's initialisation turns the handler's exception into an ImportError raised
  # from it (tensorstore, imported by orbax, does): still an interruption, not a traceback.
  signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  with pytest.raises(SystemExit) as exit_info, exits.interrupts("lowrank-ts compress"):
    try:
      raise exits.Interrupted(signal.SIGTERM)
    except exits.Interrupted as err:
      raise ImportError("initialization failed") from err
  assert exit_info.value.code == 143
  assert capsys.readouterr().err == "lowrank-ts compress: interrupted by SIGTERM\n"
  assert {s: signal.getsignal(s) for s in signals} == signals
  with pytest.raises(ImportError), exits.interrupts("lowrank-ts compress"):  # a real one
    raise ImportError("no module named x")
