"""Supreme: a notebook-first simulation and research workbench for a trading-signal service."""

__version__ = "0.1.0"
