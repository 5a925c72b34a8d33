"""Outputs that appear whole or not at all, and output paths checked before any work.

A file or folder is written under a temporary name in its own directory (``.NAME.partial-PID``,
hidden) and renamed into place once complete: a rename within one file system is atomic, so an
interrupted or killed command never leaves a partial output under the name the user asked for.
An interrupt removes the temporary; a SIGKILL may leave it behind, under its hidden name.

:func:`check_output` refuses, before anything is computed, an output whose directory is missing
or not writable, an existing folder where a file is expected (or a non-empty one where a new
folder is), and an output that is one of the command's inputs, an existing file inside an
input folder, or a folder holding an input.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from typing import Any


def _temporary(path: pathlib.Path, kind: str) -> pathlib.Path:
  # The suffix stays last, so that writers that choose a format by it (matplotlib) still do.
  return path.with_name(f".{path.stem}.{kind}-{os.getpid()}{path.suffix}")


def _fsync(path: pathlib.Path) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


@contextlib.contextmanager
def output_file(path: Any) -> Iterator[pathlib.Path]:
  """Yields a temporary path beside ``path`` to write; renames it to ``path`` when the block
  ends normally, removes it otherwise."""
  path = pathlib.Path(path)
  temporary = _temporary(path, "partial")
  try:
    yield temporary
    _fsync(temporary)
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def output_folder(path: Any, *, replace: bool = False) -> Iterator[pathlib.Path]:
  """Yields an empty temporary folder beside ``path`` to fill; when the block ends normally it
  takes the place of ``path`` (which must be absent or empty, or anything with ``replace``:
  the old folder is then removed whole, never merged with the new one)."""
  path = pathlib.Path(path)
  if path.exists() and not replace and (not path.is_dir() or any(path.iterdir())):
    raise ValueError(f"{path} exists and is not an empty folder")
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = _temporary(path, "partial")
  shutil.rmtree(temporary, ignore_errors=True)
  temporary.mkdir()
  try:
    yield temporary
    for name in os.listdir(temporary):
      _fsync(temporary / name)
    if path.exists():
      old = _temporary(path, "replaced")
      os.rename(path, old)
      os.rename(temporary, path)
      shutil.rmtree(old)
    else:
      os.rename(temporary, path)
  finally:
    shutil.rmtree(temporary, ignore_errors=True)


def _inside(path: pathlib.Path, folder: pathlib.Path) -> bool:
  return path == folder or folder in path.parents


def check_output(path: Any, name: str, *, inputs: Sequence[Any] = (), folder: bool = False,
                 replace: Collection[str] = ()) -> pathlib.Path:
  """``path`` as a Path if a command can write its output there (see the module doc): a file,
  or with ``folder`` a folder that is absent, empty or holds only names in ``replace`` (the
  command's own earlier output, which :func:`output_folder` then replaces whole); ``inputs``
  are the files and folders the command reads. A ValueError naming the argument ``name``
  otherwise."""
  path = pathlib.Path(path)
  target = path.resolve()
  for item in inputs:
    source = pathlib.Path(item).resolve()
    if target == source or (folder and _inside(source, target)):
      what = "the folder" if source.is_dir() else "the file"
    elif source.is_dir() and _inside(target, source) and target.exists():
      what = "a file of the folder"  # a new file beside an input folder's files is fine
    else:
      continue
    raise ValueError(f"{name} {str(path)!r} would overwrite {what} {str(item)!r}, an input of "
                     "this command; write the output elsewhere")
  if folder:
    if path.exists() and not path.is_dir():
      raise ValueError(f"{name} {str(path)!r} exists and is not a folder")
    others = sorted(set(os.listdir(path)) - set(replace)) if path.is_dir() else []
    if others:
      own = f" (only a folder of {', '.join(replace)} is replaced)" if replace else ""
      raise ValueError(f"{name} {str(path)!r} exists and is not an empty folder: it holds "
                       f"{others[0]!r}{own}; choose a new folder or remove it")
  elif path.is_dir():
    raise ValueError(f"{name} {str(path)!r} is a folder; name a file")
  parent = target.parent
  while not parent.exists():  # a folder output creates its missing parents
    if not folder:
      raise ValueError(f"{name} {str(path)!r}: the folder {str(parent)!r} does not exist")
    parent = parent.parent
  if not parent.is_dir():
    raise ValueError(f"{name} {str(path)!r}: {str(parent)!r} is not a folder")
  try:  # a real write: permissions, read-only file systems and full disks all show here
    with tempfile.TemporaryFile(dir=parent):
      pass
  except OSError as err:
    raise ValueError(f"{name} {str(path)!r}: the folder {str(parent)!r} is not writable "
                     f"({err.strerror})") from None
  return path
