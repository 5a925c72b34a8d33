"""The README's layout section matches the tree.

The layout block (README "## Layout") names every module of the package on a line of its own,
indented under its folder, and every experiment and benchmark script by name; a module added,
moved or deleted without the README fails here.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
# An entry line of the block: a folder ("name/") or module names ("a.py" / "a.py, b.py"), at
# a tree indentation (wrapped descriptions are indented past the names' column).
ENTRY = re.compile(r"^(?P<indent> {0,10})(?P<names>[\w-]+/|[\w]+\.py(?:, [\w]+\.py)*)(?:\s|$)")


def _layout_block() -> list[str]:
  text = (ROOT / "README.md").read_text()
  section = text.split("## Layout", 1)[1]
  return section.split("```", 2)[1].splitlines()[1:]


def _package_entries() -> set[str]:
  """Paths (relative to the repository root) of the modules the block lists under
  lowrank_ts/, from its indentation."""
  listed, stack = set(), []
  for line in _layout_block():
    match = ENTRY.match(line)
    if not match or line.lstrip().startswith("#"):
      continue
    depth = len(match["indent"]) // 2
    stack = stack[:depth]
    names = match["names"]
    if names.endswith("/"):
      stack.append(names.rstrip("/"))
      continue
    for name in names.split(", "):
      listed.add("/".join([*stack, name]))
  return {p for p in listed if p.startswith("lowrank_ts/")}


def test_readme_layout_lists_every_package_module_and_nothing_else():
  actual = {str(p.relative_to(ROOT)) for p in (ROOT / "lowrank_ts").rglob("*.py")
            if p.name != "__init__.py" and "__pycache__" not in p.parts}
  listed = _package_entries()
  assert not actual - listed, f"modules missing from the README layout: {sorted(actual - listed)}"
  assert not listed - actual, f"README layout names files that do not exist: {sorted(listed - actual)}"


def test_readme_layout_names_every_script():
  block = "\n".join(_layout_block())
  words = set(re.findall(r"[\w]+", block))
  for folder in ("experiments", "benchmarks"):
    stems = {p.stem for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"}
    missing = sorted(stems - words)
    assert not missing, f"{folder}/ scripts missing from the README layout: {missing}"


def test_the_entry_parser_reads_nesting():
  """The parser the layout tests rely on: folders nest by indentation, lists split."""
  assert ENTRY.match("  models/")["names"] == "models/"
  assert ENTRY.match("    t5.py            blocks")["names"] == "t5.py"
  assert ENTRY.match("  train.py, forecast.py")["names"] == "train.py, forecast.py"
  assert ENTRY.match("                     wrapped text.py") is None  # a wrapped description


def test_no_branch_on_the_model_family_outside_models():
  """Code outside lowrank_ts/models/ asks the model interface
  (lowrank_ts.models.registry.ForecastModel), never which class it holds."""
  family = re.compile(r"isinstance\([^)]*\b(Chronos|ChronosBolt|ChronosConfig|BoltConfig)\b"
                      r"|type\([^)]*\)\s*(is|==|in)\s*\(?\s*(Chronos|ChronosBolt)\b")
  hits = []
  for folder in ("lowrank_ts", "experiments"):
    for path in (ROOT / folder).rglob("*.py"):
      if (ROOT / "lowrank_ts" / "models") in path.parents:
        continue
      for number, line in enumerate(path.read_text().splitlines(), 1):
        if family.search(line):
          hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
  assert not hits, "\n".join(hits)
  assert family.search("if isinstance(model, ChronosBolt):")  # the pattern itself works
  assert family.search("type(m) is Chronos")
