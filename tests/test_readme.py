"""The README's quick-start commands and Python examples stay true."""

import contextlib
import io
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


def _printed_claims(block: str) -> list[str]:
  """The values the README says each ``print(...)`` line shows: its trailing comment, after
  an optional ``label: `` prefix (``# eq. (1): 19`` claims ``19``)."""
  claims = []
  for line in block.splitlines():
    if line.lstrip().startswith("print(") and "#" in line:
      comment = line.split("#", 1)[1].strip()
      claims.append(comment.rsplit(": ", 1)[-1])
  return claims


def test_python_examples_run_and_print_what_they_claim():
  blocks = re.findall(r"```python\n(.*?)```", README, re.S)
  assert blocks
  checked = 0
  for block in blocks:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      exec(compile(block, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    claims = _printed_claims(block)
    assert printed == claims, f"README example prints {printed}, its comments say {claims}"
    checked += len(claims)
  assert checked >= 2  # the eps-rank and the forecast shapes
