"""The adaptive ("neuromorphic") cache layer: a cache that learns its access patterns.

==================  ==============================================================
module              job (seed participant)
==================  ==============================================================
``synapses``        Hebbian key → successor links with decay (Synaptic_Network)
``stride``          next member of numbered key sequences, e.g. the next candle
``analyzer``        per-cycle analysis of the recent window (Pattern_Analyzer)
``adapter``         budget split, policy switching, thresholds (Cache_Adapter)
``shadow``          candidate policies replayed in batch over the sampled stream, their statistics
``prefetch``        predictive prefetching (Prefetch_Engine)
``prefetch_stats``  what became of the prefetches: counters, accuracy, coverage
``layer``           the manager's access observer and the 60-s learning cycle
``simulate``        trace simulation of all of the above
``workloads``       seeded market-data and classic workloads
==================  ==============================================================

What the cache manager and this layer promise each other is :mod:`supreme.cache.protocols`.
"""

from supreme.adaptive.adapter import Adaptation, AdapterSettings, CacheAdapter
from supreme.adaptive.analyzer import AnalysisReport, PatternAnalyzer, stack_distances
from supreme.adaptive.layer import AdaptiveLayer
from supreme.adaptive.prefetch import PrefetchEngine
from supreme.adaptive.prefetch_stats import PrefetchStats
from supreme.adaptive.shadow import ShadowBank
from supreme.adaptive.simulate import SimCache, simulate_adaptive
from supreme.adaptive.stride import StridePredictor
from supreme.adaptive.synapses import AdaptiveConfigError, SynapticNetwork

__all__ = [
    "Adaptation", "AdapterSettings", "AdaptiveConfigError", "AdaptiveLayer", "AnalysisReport", "CacheAdapter",
    "PatternAnalyzer", "PrefetchEngine", "PrefetchStats", "ShadowBank", "SimCache", "StridePredictor",
    "SynapticNetwork", "simulate_adaptive", "stack_distances",
]
