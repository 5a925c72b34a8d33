"""Imports run one way: a lower layer of lowrank_ts never imports a higher one (models/ nothing
from inference/), and no modules of lowrank_ts, experiments or benchmarks import each other in a
circle, also through an import placed inside a function."""

import pathlib
import textwrap

import pytest

from tests import import_graph

ROOT = pathlib.Path(__file__).resolve().parents[1]
# lowrank_ts/'s layers, lowest first: a module may import its own layer and those below.
LAYERS = (
    ("checks", "xla", "sharding", "atomic"),  # infrastructure
    ("spectral", "embeddings", "attention", "blocks", "theory"),  # the paper's maths
    ("data",),
    ("models",),  # parameters, the jittable cores, the per-family rules
    ("training",),
    ("interop", "pretrained"),  # checkpoints in and out, the shipped weights, --model
    ("inference",),  # batching, buckets, row blocks, the compiled-program cache
    ("evaluation",),
    ("finetuning",),  # fine-tuning on a user's series, scored on its hold-out
    ("cli", "__main__"),  # the command lines
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


@pytest.fixture(scope="module")
def graph():
  return import_graph.read(ROOT)


def _upward(graph) -> list[str]:
  found = []
  for module, targets in sorted(graph.edges().items()):
    if not module.startswith("lowrank_ts."):
      continue
    for target in sorted(t for t in targets if t.startswith("lowrank_ts.")):
      if LAYER[target.split(".")[1]] > LAYER[module.split(".")[1]]:
        found.append(f"{module} -> {target}")
  return found


def test_every_part_of_the_package_has_a_layer(graph):
  parts = {m.split(".")[1] for m in graph.modules if m.startswith("lowrank_ts.")}
  assert parts <= set(LAYER), f"add {sorted(parts - set(LAYER))} to LAYERS"


def test_models_import_nothing_from_inference(graph):
  arrows = [f"{m} -> {t}" for m, targets in graph.edges().items() for t in targets
            if m.startswith("lowrank_ts.models") and t.startswith("lowrank_ts.inference")]
  assert not arrows, arrows


def test_no_lower_layer_imports_a_higher_one(graph):
  assert not _upward(graph), _upward(graph)


def test_no_import_cycles(graph):
  """Counting imports inside functions too: such an import that closes a circle only moves the
  circle to run time."""
  assert not import_graph.cycles(graph.edges()), import_graph.cycles(graph.edges())


def test_no_import_inside_a_function_closes_a_circle(graph):
  module_level = graph.edges(inner=False)
  closing = [f"{m} -> {t} (inside a function; {t} imports {m} back)"
             for m, targets in graph.inner.items() for t in targets
             if import_graph.reaches(module_level, t, m)]
  assert not closing, closing


def test_the_checks_find_what_they_look_for(tmp_path):
  """The same checks on a small tree with each fault: a circle broken by an import inside a
  function, and a model importing inference."""
  def write(path, text):
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(textwrap.dedent(text))

  write("lowrank_ts/__init__.py", "")
  write("lowrank_ts/models/__init__.py", "")
  write("lowrank_ts/models/chronos.py", "from lowrank_ts.inference import sampling\n")
  write("lowrank_ts/inference/__init__.py", "")
  write("lowrank_ts/inference/sampling.py", "from lowrank_ts import checks\n")
  write("lowrank_ts/checks.py", "")
  write("experiments/__init__.py", "")
  write("experiments/a.py", "from experiments import b\n")
  write("experiments/b.py", """\
      def main():
        from experiments.a import thing
        return thing
      """)
  write("benchmarks/__init__.py", "")
  graph = import_graph.read(tmp_path)
  assert graph.top["experiments.a"] == {"experiments.b"}
  assert graph.inner["experiments.b"] == {"experiments.a"}
  assert import_graph.cycles(graph.edges()) == [["experiments.a", "experiments.b"]]
  assert import_graph.cycles(graph.edges(inner=False)) == []  # hidden at module level
  assert import_graph.reaches(graph.edges(inner=False), "experiments.a", "experiments.b")
  assert _upward(graph) == ["lowrank_ts.models.chronos -> lowrank_ts.inference.sampling"]
