"""Training and evaluation data (numpy; no JAX needed except for tokenisation).

``kernel_synth`` (GP-prior synthetic series), ``tsmixup`` (mixtures of mean-scaled windows),
``augment`` (missing values), ``instances`` (context/target windows), ``pipeline`` (the
deterministic, checkpointable batch iterator), ``tokens`` (Chronos token batches),
``real_series`` (R's datasets and Mauna Loa CO2, offline), ``benchmark`` (evaluation tasks).
"""
