"""Eviction policies, one module each, behind :class:`EvictionPolicy`."""

from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.cache.policies.lru import LRU

__all__ = ["EvictionPolicy", "PolicyError", "LRU"]
