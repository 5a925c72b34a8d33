"""Inference: the KV-cached sampler (:mod:`.sampling`), forecasts of any model
(:mod:`.forecasting`), in fixed-shape batches (:mod:`.batching`, :mod:`.progress`) and over a
device mesh (:mod:`.data_parallel`), pandas DataFrames (:mod:`.dataframe`) and the wide CSV
format of the forecast CLI (:mod:`.csv_io`)."""
