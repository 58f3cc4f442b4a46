"""Cache tiers: L1 memory (objects + eviction policy), L2 Redis and L3 SQL (bytes), a local double,
and the write-back wrapper the manager puts around a remote tier."""

from supreme.cache.tiers.base import CacheTier, LocalTier, TierError, TierUnavailable, ValueTooLarge
from supreme.cache.tiers.memory import MISSING, MemoryTier
from supreme.cache.tiers.redis_tier import RedisTier
from supreme.cache.tiers.sql_tier import SqlTier
from supreme.cache.tiers.writeback import WriteBackOverflow, WriteBackTier

__all__ = [
    "MISSING", "CacheTier", "LocalTier", "MemoryTier", "RedisTier", "SqlTier", "TierError",
    "TierUnavailable", "ValueTooLarge", "WriteBackOverflow", "WriteBackTier",
]
