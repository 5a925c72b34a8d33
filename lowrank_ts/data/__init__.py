"""Training and evaluation data (numpy; no JAX).

``kernel_synth`` (GP-prior synthetic series), ``tsmixup`` (mixtures of mean-scaled windows),
``augment`` (missing values), ``instances`` (context/target windows), ``pipeline`` (the
deterministic, checkpointable batch iterator), ``real_series`` (R's datasets and Mauna Loa CO2,
offline), ``benchmark`` (evaluation tasks). Each model turns float batches into its own inputs
(``model.training_batch``: Chronos tokenises them).
"""
