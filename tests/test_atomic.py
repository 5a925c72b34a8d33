"""Atomic outputs: whole or absent, never merged with an old folder; output paths refused before
any work when they cannot be written or are an input."""

import os

import pytest

from lowrank_ts import atomic


def test_a_file_appears_only_when_complete(tmp_path):
  path = tmp_path / "out.csv"
  path.write_text("old\n")
  with pytest.raises(KeyboardInterrupt), atomic.output_file(path) as temporary:
    temporary.write_text("new, half")
    assert temporary.parent == tmp_path and temporary.name.startswith(".out.partial-")
    assert temporary.suffix == ".csv"  # writers that pick a format by the suffix still do
    raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ["out.csv"] and path.read_text() == "old\n"
  with atomic.output_file(path) as temporary:
    temporary.write_text("new\n")
  assert os.listdir(tmp_path) == ["out.csv"] and path.read_text() == "new\n"


def test_a_folder_appears_whole_and_replaces_an_old_one_whole(tmp_path):
  out = tmp_path / "sub" / "model"
  with pytest.raises(RuntimeError), atomic.output_folder(out) as temporary:
    (temporary / "config.json").write_text("{}")
    raise RuntimeError
  assert os.listdir(tmp_path / "sub") == []
  with atomic.output_folder(out) as temporary:
    (temporary / "config.json").write_text("{}")
    (temporary / "README.md").write_text("old model")
  with pytest.raises(ValueError, match="exists and is not an empty folder"), \
      atomic.output_folder(out):
    pass
  with atomic.output_folder(out, replace=True) as temporary:
    (temporary / "config.json").write_text('{"new": 1}')
  assert os.listdir(out) == ["config.json"]  # the old README.md went with the old folder
  assert os.listdir(tmp_path / "sub") == ["model"]


def test_check_output_refuses_before_any_work(tmp_path):
  data = tmp_path / "series.csv"
  data.write_text("a\n1\n")
  model = tmp_path / "model"
  model.mkdir()
  (model / "config.json").write_text("{}")
  inputs = [data, model]
  assert atomic.check_output(tmp_path / "out.csv", "--out", inputs=inputs) == tmp_path / "out.csv"
  for path, match in [
      (data, r"^--out '.*series\.csv' would overwrite the file '.*series\.csv', an input"),
      (model / "config.json", r"^--out '.*config\.json' would overwrite a file of the folder "
                              r"'.*model'"),
      (tmp_path / "missing" / "out.csv", r"^--out '.*out\.csv': the folder '.*missing' does not"),
      (data / "out.csv", r"^--out '.*out\.csv': '.*series\.csv' is not a folder"),
      (tmp_path, r"^--out '.*' is a folder; name a file"),
  ]:
    with pytest.raises(ValueError, match=match):
      atomic.check_output(path, "--out", inputs=inputs)
  with pytest.raises(ValueError, match=r"^--export '.*model' exists and is not an empty folder: "
                                       r"it holds 'config.json'"):
    atomic.check_output(model, "--export", folder=True)
  with pytest.raises(ValueError, match=r"^--out '.*' would overwrite the folder '.*model'"):
    atomic.check_output(tmp_path, "--out", inputs=[model], folder=True)  # holds an input
  assert atomic.check_output(model, "--out", folder=True, replace=["config.json"]) == model
  assert atomic.check_output(tmp_path / "a" / "b", "--out", folder=True)  # parents are made
