"""lowrank-ts: rank structure, flow-of-ranks and compression of time-series transformers.

Reproduces arXiv 2510.03358 in JAX/Flax. Infrastructure: ``checks``, ``sharding``, ``xla``. The
paper's maths: ``spectral`` (SVD utilities), ``embeddings``, ``attention``, ``blocks``, ``theory``
(the theorems' constructions and bounds). Then ``data``, ``models``, ``training``, ``interop``,
``inference``, ``evaluation``, and the command lines in ``cli`` (``lowrank-ts COMMAND``).
Importing the package has no side effects (no global JAX flags are set).
"""

__version__ = "0.1.0"
