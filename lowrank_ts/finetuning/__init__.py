"""Fine-tuning a model on a user's own series, with a hold-out that chooses the checkpoint and
scores it against the model before and Seasonal Naive (:mod:`.tuning`; the command line is
``lowrank-ts finetune``)."""

from lowrank_ts.finetuning.tuning import finetune, finetune_df

__all__ = ["finetune", "finetune_df"]
