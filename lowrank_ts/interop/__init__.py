"""Interoperability: Hugging Face checkpoints (:mod:`.hf`), small reference checkpoints built
locally with transformers (:mod:`.hf_reference`, needs the ``reference`` extra), and what
``--model`` names (:mod:`.resolve`)."""
