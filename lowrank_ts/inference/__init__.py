"""Inference: the KV-cached sampler (:mod:`.sampling`), forecasts of any model
(:mod:`.forecasting`) and the CSV formats of the forecast CLI (:mod:`.csv_io`)."""
