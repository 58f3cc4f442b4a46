"""The cache: eviction policies, the codec, the tiers (L1 memory, L2 Redis, L3 SQL) and the manager.

Exceptions::

    SupremeError
    ├── CodecError           (ValueError) a value cannot be encoded / stored bytes cannot be decoded
    ├── CacheError           (ValueError) bad argument to the manager
    ├── WriteBackOverflow    a tier's pending-write journal is full
    ├── PolicyError          (ValueError) bad policy name, capacity or size
    └── TierError            a tier operation failed
        ├── TierUnavailable  (ConnectionError) the back-end cannot be reached
        └── ValueTooLarge    (ValueError) over the tier's size limit
"""

from supreme.cache.codec import CodecError, decode, decode_entry, encode, encode_entry
from supreme.cache.manager import CacheError, CacheManager
from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.cache.singleflight import SingleFlight
from supreme.cache.tiers import (
    MISSING,
    CacheTier,
    LocalTier,
    MemoryTier,
    RedisTier,
    SqlTier,
    TierError,
    TierUnavailable,
    ValueTooLarge,
    WriteBackOverflow,
)

__all__ = [
    "MISSING", "CacheError", "CacheManager", "CacheTier", "CodecError", "EvictionPolicy", "LocalTier",
    "MemoryTier", "PolicyError", "RedisTier", "SingleFlight", "SqlTier", "TierError", "TierUnavailable",
    "ValueTooLarge", "WriteBackOverflow", "decode", "decode_entry", "encode", "encode_entry",
]
