"""The command lines as one console script: ``lowrank-ts COMMAND`` (pyproject's
[project.scripts]) and ``python -m lowrank_ts COMMAND`` reach every command of lowrank_ts.cli."""

import importlib
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

from lowrank_ts.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_console_script_is_the_dispatcher():
  scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
  module, _, function = scripts["lowrank-ts"].partition(":")
  assert getattr(importlib.import_module(module), function) is cli_main.main


def test_every_command_line_module_is_a_command():
  modules = {p.stem for p in (ROOT / "lowrank_ts" / "cli").glob("*.py")} - {
      "__init__", "main", "exits", "inputs"}  # helpers, not commands
  assert set(cli_main.COMMANDS.values()) == modules
  for name, module in cli_main.COMMANDS.items():
    assert name == module.replace("_", "-")
    assert cli_main.command(name).__name__ == f"lowrank_ts.cli.{module}"


@pytest.mark.parametrize("command", sorted(cli_main.COMMANDS))
def test_each_command_answers_help_under_its_console_name(command, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli_main.main([command, "--help"])
  assert exit_info.value.code == 0
  assert capsys.readouterr().out.startswith(f"usage: lowrank-ts {command} ")


def test_no_or_an_unknown_command(capsys):
  assert cli_main.main([]) == 2
  listed = capsys.readouterr().out
  assert all(f"\n  {command} " in listed for command in cli_main.COMMANDS)
  assert cli_main.main(["--help"]) == 0
  capsys.readouterr()
  assert cli_main.main(["forcast"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err == ["lowrank-ts: error: unknown command 'forcast'; commands: forecast, evaluate, "
                 "train, compress, learning-curve, finetune"]


def test_python_dash_m_lowrank_ts_is_the_same_script():
  out = subprocess.run([sys.executable, "-m", "lowrank_ts", "evaluate", "--help"], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                       text=True, timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.startswith("usage: lowrank-ts evaluate ")
