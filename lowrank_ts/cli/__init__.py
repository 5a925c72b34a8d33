"""The command lines, one module each, thin over the library: ``lowrank-ts COMMAND`` (the console
script, :mod:`.main`) or ``python -m lowrank_ts COMMAND``. :mod:`.exits` holds what every one
does with a user's error."""
