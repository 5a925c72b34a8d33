"""Mutation check of the suite: each mutation of the code must turn a test red.

Run: ``python tests/mutation_check.py`` (about 10 minutes on 2 cores). It clones this
repository's HEAD into a temporary folder, applies one mutation at a time there (never here),
runs the named tests with that clone first on the path, and prints CAUGHT or SURVIVED per
mutation; the exit code is 1 if any survived. Not collected by pytest (no ``test_`` prefix).
"""

import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMPORT = "    value = value.T if transposed else value\n"


def _scaled(tensor: str) -> str:
  return IMPORT + f"    if name == {tensor!r}:\n      value = value * 1.01\n"


# (description, file, text, replacement, pytest arguments)
MUTATIONS = [
    ("HF import: encoder block 0 q weight x1.01", "lowrank_ts/interop/hf.py", IMPORT,
     _scaled("encoder.block.0.layer.0.SelfAttention.q.weight"),
     ["tests/test_hf.py", "-k", "matches_transformers"]),
    ("HF import: decoder block 1 FF wo weight x1.01", "lowrank_ts/interop/hf.py", IMPORT,
     _scaled("decoder.block.1.layer.2.DenseReluDense.wo.weight"),
     ["tests/test_hf.py", "-k", "matches_transformers"]),
    ("HF import: Bolt patch-embedding output bias x1.01", "lowrank_ts/interop/hf.py", IMPORT,
     _scaled("input_patch_embedding.output_layer.bias"),
     ["tests/test_hf_bolt.py", "-k", "matches_reference"]),
    ("trainer ignores compute_dtype", "lowrank_ts/training/trainer.py",
     "params_c = jax.tree.map(lambda p: p.astype(self.compute_dtype), params)", "params_c = params",
     ["tests/test_train.py", "-k", "bfloat16"]),
    ("fig15 slope band widened to (0.8, 1.2)", "experiments/fig15.py",
     "SLOPE_BAND = (0.9, 1.1)", "SLOPE_BAND = (0.8, 1.2)",
     ["tests/test_experiments_thresholds.py", "-m", "", "-k", "fig15"]),
    ("Theorem 3 lower-bound constant 1/4 -> 1/8", "experiments/fig15.py",
     "LOWER_BOUND = 0.25", "LOWER_BOUND = 0.125",
     ["tests/test_experiments_thresholds.py", "-m", "", "-k", "fig15"]),
]


def main() -> int:
  survived = 0
  with tempfile.TemporaryDirectory() as tmp:
    clone = pathlib.Path(tmp) / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = dict(os.environ, PYTHONPATH=str(clone))
    for description, path, old, new, args in MUTATIONS:
      subprocess.run(["git", "checkout", "-q", "--", "."], cwd=clone, check=True)
      target = clone / path
      text = target.read_text()
      if old not in text:
        print(f"{description}: the code to mutate is gone ({path}); update this script")
        return 2
      target.write_text(text.replace(old, new, 1))
      result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                               "no:cacheprovider", *args], cwd=clone, env=env,
                              capture_output=True, text=True)
      caught = result.returncode != 0
      survived += not caught
      tail = result.stdout.strip().splitlines()[-1:] or [result.stderr[-200:]]
      print(f"{description}: {'CAUGHT' if caught else 'SURVIVED'} ({tail[0]})", flush=True)
  return 1 if survived else 0


if __name__ == "__main__":
  sys.exit(main())
