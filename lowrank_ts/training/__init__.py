"""Pretraining, one concern per module: :mod:`.config` (TrainConfig, recipes, overrides),
:mod:`.data` (the input pipeline), :mod:`.trainer` (sharded state, optimizer, jitted step),
:mod:`.checkpoints` (Orbax checkpoints and their checksums, the recorded config, loading
finished models), :mod:`.workdir_lock` (one run per workdir),
:mod:`.metrics` (CSV, TensorBoard, loss plot), :mod:`.loop` (``train``), :mod:`.fixed_vocabulary` (appendix
I's fixed token table) and :mod:`.finetune` (healing a compressed model). The command line is
``lowrank-ts train`` (:mod:`lowrank_ts.cli.train`)."""
