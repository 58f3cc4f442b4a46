"""Trace I/O and simulation over ``supreme.cache.trace`` traces.

Readers, one module per format (all through :func:`supreme.cache.trace.load_trace`): :mod:`.oracle`
(oracleGeneral; also the writer :func:`.oracle.write_oracle_general`), :mod:`.lcs`, :mod:`.vscsi`,
:mod:`.twr`, :mod:`.delimited` (csv/txt with a column mapping); :mod:`.stream` reads any of them
plain or zstd-compressed (told by magic bytes), :mod:`.formats` tells which reader a file needs, and
:mod:`.info` summarises a trace.  :mod:`.simulate` replays traces through the kernels (Python
classes as reference); one-pass curves are in :mod:`supreme.cache.mrc`.
"""

from supreme.cache.traces.simulate import SimResult, auto_sizes, miss_ratio_curve, simulate

__all__ = ["SimResult", "auto_sizes", "miss_ratio_curve", "simulate"]
