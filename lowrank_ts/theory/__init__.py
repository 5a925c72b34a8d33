"""The paper's theorems as functions: each construction returns its matrices, each bound is a
function of the quantities the theorem names. One module per group of results:

- ``embedding_bounds``: Theorem 1 (both statements), Corollary 2 (Time-MoE), Theorem 2.
- ``compression``: Theorem 3 (upper-bound construction W U_r U_r^T and lower-bound
  construction) and Theorem 5 (multi-head).
- ``flow_of_ranks``: Theorem 4 (upper bound eq. (5), lower-bound construction and eq. (6)),
  Corollary 1.
- ``sketching``: Theorem 6 (both claims' constructions).

Everything is re-exported here, so ``from lowrank_ts import theory; theory.<name>`` works.
"""

from lowrank_ts.theory.compression import *  # noqa: F401,F403
from lowrank_ts.theory.embedding_bounds import *  # noqa: F401,F403
from lowrank_ts.theory.flow_of_ranks import *  # noqa: F401,F403
from lowrank_ts.theory.sketching import *  # noqa: F401,F403
