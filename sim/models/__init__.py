"""One SimPy model per seed diagram; each exposes ``NAME``, ``FLOW``, ``DEFAULTS``, ``run``, ``summarize``."""
