"""Docstrings and comments speak of the code: what it does and why, never the project's issue
numbers or a diary of when and on what machine something ran (that is what git log, the
ledger paper_repro.md and benchmarks/README.md are for)."""

import ast
import io
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ("lowrank_ts", "experiments", "benchmarks", "tests")
# References to this project's issue tracker: the word issue or a hash sign before a number.
ISSUE = re.compile(r"\bissues? ?#?\d+\b|\bthe issue'?s\b|(?<![\w&/-])#\d+\b", re.I)
# When and where something ran: the work period, the machine's load, dates of runs.
DIARY = re.compile(
    r"\bsessions?\b|\b(quiet|loaded|busy|idle|shared) (machine|host|cores?)\b"
    r"|\bload average\b|\bload ~?\d|\bniced\b|\bcontention\b|\bother jobs\b"
    r"|\bbeside a training run\b|\b20[2-9]\d-\d\d-\d\d\b|\bthis week\b|\byesterday\b", re.I)


def prose(source: str) -> list[tuple[int, str]]:
  """``(line, text)`` of every comment and every module, class and function docstring."""
  lines = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
           if t.type == tokenize.COMMENT]
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      doc = ast.get_docstring(node, clean=False)
      if doc is not None:
        first = node.body[0].lineno
        lines += [(first + i, text) for i, text in enumerate(doc.splitlines())]
  return sorted(lines)


def offending(source: str) -> list[tuple[int, str]]:
  return [(n, text.strip()) for n, text in prose(source)
          if ISSUE.search(text) or DIARY.search(text)]


def test_no_issue_numbers_or_machine_diaries_in_docstrings_and_comments():
  found = [f"{path.relative_to(ROOT)}:{n}: {text}"
           for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))
           for n, text in offending(path.read_text())]
  assert not found, "\n".join(found)


def test_the_check_finds_what_it_looks_for():
  source = '''"""A module (issue 12)."""

def f():
  """Measured in session 7."""
  x = "issue 3 in a string is data, not prose"
  return x  # 2.0x faster on a quiet machine, 2026-12-01


def g():
  """Fixed by #14; the issue's target."""


def h():
  # cut under load ~8 beside a training run
  """Nothing to see: issue-free, #-free, a SessionLog and an idle model."""
'''
  assert [n for n, _ in offending(source)] == [1, 4, 6, 10, 14]
