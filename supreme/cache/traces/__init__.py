"""Trace simulation over ``supreme.cache.trace`` traces (kernels first, Python classes as reference)."""

from supreme.cache.traces.simulate import SimResult, auto_sizes, miss_ratio_curve, simulate

__all__ = ["SimResult", "auto_sizes", "miss_ratio_curve", "simulate"]
