"""Inference: forecasts and embeddings of any model (:mod:`.forecasting`, the one entry that
validates contexts), in fixed-shape batches (:mod:`.batching`, :mod:`.progress`) run through
one cache of compiled programs (:mod:`.programs`: shape buckets, row blocks) and over a device
mesh (:mod:`.data_parallel`); pandas DataFrames (:mod:`.dataframe`), the forecast CLI's CSV
format (:mod:`.csv_io`) and token-level sampling (:mod:`.sampling`)."""
