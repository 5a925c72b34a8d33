"""The README's quick-start commands and Python examples stay true."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
  block = re.search(r"## Quick start\s+```bash\n(.*?)```", README, re.S).group(1)
  commands = [line for line in block.splitlines() if line.strip()]
  assert len(commands) == 2
  assert "experiments." in commands[0]
  assert "pytest" in commands[1]
  ci = (ROOT / ".ci" / "run").read_text()
  assert commands[1] in ci.splitlines(), "CI must run exactly the README's test command"


def test_python_examples_run():
  blocks = re.findall(r"```python\n(.*?)```", README, re.S)
  assert blocks
  for block in blocks:
    exec(compile(block, "README.md", "exec"), {})
