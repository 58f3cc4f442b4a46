"""Miss-ratio curves in one pass: exact LRU by stack distances (Mattson) and SHARDS sampling.

See :mod:`.stack` (the Fenwick-tree pass), :mod:`.shards` (the samplers) and :mod:`.curve` (the
curves as DataFrames, with :func:`compare_curves` for the sampling error).
"""

from supreme.cache.mrc.curve import compare_curves, curve_table, lru_distances, lru_mrc, shards_mrc

__all__ = ["compare_curves", "curve_table", "lru_distances", "lru_mrc", "shards_mrc"]
