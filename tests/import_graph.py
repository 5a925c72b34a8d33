"""The import graph of the project's packages, read from the source with ``ast`` (nothing is
imported): module -> the project modules it imports, at module level and inside functions."""

from __future__ import annotations

import ast
import dataclasses
import pathlib

PACKAGES = ("lowrank_ts", "experiments", "benchmarks")


@dataclasses.dataclass
class Graph:
  modules: dict[str, pathlib.Path]
  top: dict[str, set[str]]  # imports at module level (run when the module is imported)
  inner: dict[str, set[str]]  # imports inside a function or method (run when it is called)

  def edges(self, inner: bool = True) -> dict[str, set[str]]:
    return {m: self.top[m] | (self.inner[m] if inner else set()) for m in self.modules}


def _module_name(root: pathlib.Path, path: pathlib.Path) -> str:
  parts = list(path.relative_to(root).with_suffix("").parts)
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read(root: pathlib.Path, packages=PACKAGES) -> Graph:
  """The graph of every ``.py`` file under ``root/<package>``. ``from pkg import name`` points
  at ``pkg.name`` when that is a module, else at ``pkg``; parent packages that Python runs on
  the way (``pkg/__init__``) are not counted as imports."""
  modules = {_module_name(root, p): p for package in packages
             for p in sorted((root / package).rglob("*.py"))}
  top = {m: set() for m in modules}
  inner = {m: set() for m in modules}

  def resolve(name: str) -> str | None:
    parts = name.split(".")
    while parts:
      if ".".join(parts) in modules:
        return ".".join(parts)
      parts.pop()
    return None

  for module, path in modules.items():
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node, in_function: bool, module=module, package=package):
      for child in ast.iter_child_nodes(node):
        nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda))
        targets = []
        if isinstance(child, ast.Import):
          targets = [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
          base = child.module or ""
          if child.level:
            anchor = package.split(".")[:len(package.split(".")) - (child.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
          targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in child.names]
        for target in targets:
          found = target if target in modules else resolve(target)
          if found is not None and found != module:
            (inner if nested else top)[module].add(found)
        visit(child, nested)

    visit(ast.parse(path.read_text(), str(path)), False)
  return Graph(modules, top, inner)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components of more than one module (Tarjan), each sorted."""
  index, low, on_stack, stack, found = {}, {}, set(), [], []

  def strong(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges.get(v, ())):
      if w not in index:
        strong(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      strong(v)
  return sorted(found)


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
  """Whether ``goal`` is reachable from ``start`` along ``edges``."""
  seen, todo = set(), [start]
  while todo:
    v = todo.pop()
    if v == goal:
      return True
    if v not in seen:
      seen.add(v)
      todo.extend(edges.get(v, ()))
  return False
