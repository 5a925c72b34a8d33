"""``python -m lowrank_ts COMMAND [ARGS]``: the ``lowrank-ts`` console script."""

import sys

from lowrank_ts.cli.main import main

sys.exit(main())
