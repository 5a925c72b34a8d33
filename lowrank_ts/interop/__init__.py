"""Interoperability: Hugging Face checkpoints (:mod:`.hf`) and small reference checkpoints built
locally with transformers (:mod:`.hf_reference`, needs the ``reference`` extra)."""
