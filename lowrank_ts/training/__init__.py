"""Pretraining, one concern per module: :mod:`.config` (TrainConfig, recipes, overrides),
:mod:`.data` (the input pipeline), :mod:`.trainer` (sharded state, optimizer, jitted step),
:mod:`.checkpoints` (Orbax checkpoints and their checksums, the recorded config, loading
finished models), :mod:`.workdir_lock` (one run per workdir),
:mod:`.metrics` (CSV, TensorBoard, loss plot), :mod:`.loop` (``train``) and
:mod:`.learning_curve` (scoring every checkpoint). The CLIs are :mod:`lowrank_ts.train` and
:mod:`lowrank_ts.learning_curve`."""
