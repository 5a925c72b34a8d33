"""lowrank-ts: rank structure, flow-of-ranks and compression of time-series transformers.

Reproduces arXiv 2510.03358 in JAX/Flax. Submodules: ``spectral`` (SVD utilities),
``embeddings``, ``attention``, ``theory`` (the theorems' constructions and bounds), ``models``.
Importing the package has no side effects (no global JAX flags are set).
"""

__version__ = "0.1.0"
