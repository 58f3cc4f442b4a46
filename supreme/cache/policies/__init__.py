"""Eviction policies, one module each, behind :class:`EvictionPolicy`.

``make_policy("arc", 1000)`` builds one by name; :data:`POLICIES` lists them.
"""

from supreme.cache.policies.arc import ARC
from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.cache.policies.cacheus import Cacheus
from supreme.cache.policies.caffeine import AdaptiveWTinyLFU
from supreme.cache.policies.clock_eviction import Clock
from supreme.cache.policies.fifo import FIFO
from supreme.cache.policies.gdsf import GDSF
from supreme.cache.policies.hyperbolic import Hyperbolic
from supreme.cache.policies.lecar import LeCaR
from supreme.cache.policies.lfu import LFU
from supreme.cache.policies.lirs import LIRS
from supreme.cache.policies.lrfu import LRFU
from supreme.cache.policies.lru import LRU
from supreme.cache.policies.opt import OPT
from supreme.cache.policies.registry import ALIASES, POLICIES, make_policy, normalize_name, split_spec
from supreme.cache.policies.s3fifo import S3FIFO
from supreme.cache.policies.sieve import Sieve
from supreme.cache.policies.sketch import CountMinSketch
from supreme.cache.policies.ttl import TTL
from supreme.cache.policies.twoq import TwoQ
from supreme.cache.policies.wtinylfu import WTinyLFU

__all__ = [
    "ALIASES",
    "ARC",
    "FIFO",
    "GDSF",
    "LFU",
    "LIRS",
    "LRFU",
    "LRU",
    "OPT",
    "POLICIES",
    "S3FIFO",
    "TTL",
    "AdaptiveWTinyLFU",
    "Cacheus",
    "Clock",
    "CountMinSketch",
    "EvictionPolicy",
    "Hyperbolic",
    "LeCaR",
    "PolicyError",
    "Sieve",
    "TwoQ",
    "WTinyLFU",
    "make_policy",
    "normalize_name",
    "split_spec",
]
