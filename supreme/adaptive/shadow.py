"""Shadow caches of candidate policies that persist across windows, and the statistics the adapter decides on.

The hot path only appends each demand key to a list; when the window's figures are read the bank
feeds the accesses not fed yet to every shadow, each exactly once: a shadow is a policy's compiled
kernel whose state is kept between calls (:class:`~supreme.cache.kernels.resume.Resumable`,
hit-for-hit one replay of the whole stream; ``use_kernels=False`` feeds the policy classes, the
reference they are tested against, as does a policy without a kernel).  Feeding costs ~40 ns per
sampled access per candidate, whatever the cache size — the shadows used to replay a warm-up of
about 8 fills before every window, which made a short window cost in proportion to the capacity.

Large caches are *spatially sampled* (SHARDS: Waldspurger, Park, Garthwaite & Ahmad, "Efficient MRC
Construction with SHARDS", FAST 2015; miniature simulation: Waldspurger et al., USENIX ATC 2017): a key
takes part iff ``hash(key) < R · 2^64`` (a fixed, seed-free hash, so the same keys every window) and
each shadow has capacity ``R · C`` with ``R = max(rate, min_shadow_capacity / C)`` — the minimum
sample size keeps small shadows from degenerating (``R = 1``, exact, below ``min_shadow_capacity``).
``R`` is set for the first size and kept while the demand size stays within a factor 2 of it, so a
resize keeps the sampled key set.

Rebuilds: a shadow is rebuilt (a fresh state replaying the kept tail of the last ``warmup`` sampled
accesses, about 4 fills, then this window) when the demand size changes, for the smaller twin when
the current policy changes, and for all when the dense-id table or a state's request bound fills
(the table then keeps only the tail's keys: memory is bounded by the capacity, not the trace).  A
resize's rebuild waits until the shadows have been fed ``warmup`` sampled accesses since the last
one, so rebuilding at most doubles the feeding work, at any size.

Statistics: per candidate the window's hit ratio, its paired gain over the current policy with a
batch-means t statistic (:meth:`ShadowBank.advantage`), the batch means themselves, and
:func:`paired_gain` over several windows' batch means with decaying weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from supreme.adaptive import _policies
from supreme.adaptive.synapses import AdaptiveConfigError
from supreme.cache.kernels.resume import RESUMABLE, Resumable

__all__ = ["SMALLER", "ShadowBank", "lower_bound", "paired_gain"]

#: the smaller twin of the current policy's shadow (``delta`` slots less: the marginal demand slots)
SMALLER = "__current_smaller__"


class _ClassShadow:
    """A policy class fed dense ids one by one (the reference, or a policy without a kernel)."""

    def __init__(self, policy: str, cap: int) -> None:
        self._req = _policies.make(policy, cap).request

    def feed(self, ids: np.ndarray) -> np.ndarray:
        req = self._req
        return np.fromiter((req(c) for c in ids.tolist()), dtype=np.uint8, count=len(ids))


class ShadowBank:
    """Key-only shadow caches of candidate policies, persistent and fed once per sampled access."""

    def __init__(
        self,
        candidates: Sequence[str],
        capacity: int,
        current: str,
        *,
        rate: float = 0.1,
        min_shadow_capacity: int = 256,
        warmup: int | None = None,
        max_window: int = 1 << 15,
        batches: int = 8,
        use_kernels: bool = True,
    ) -> None:
        if not candidates:
            raise AdaptiveConfigError("ShadowBank needs at least one candidate policy")
        if not 0.0 < rate <= 1.0:
            raise AdaptiveConfigError(f"shadow sampling rate must be in (0, 1], got {rate}")
        if min_shadow_capacity < 2:
            raise AdaptiveConfigError(f"min_shadow_capacity must be >= 2, got {min_shadow_capacity}")
        if batches < 2:
            raise AdaptiveConfigError(f"shadow batches must be >= 2, got {batches}")
        if max_window < 1:
            raise AdaptiveConfigError(f"max_window must be >= 1, got {max_window}")
        self.candidates = list(dict.fromkeys(candidates))
        self.base_rate = float(rate)
        self.min_shadow_capacity = int(min_shadow_capacity)
        self.current = current
        self.fixed_warmup = warmup
        self.max_window = int(max_window)  # raw accesses fed per chunk
        self.batches = int(batches)
        self.use_kernels = bool(use_kernels)
        self.capacity = 0  # the demand size the shadows model
        self.rate = 1.0
        self._rate_for = 0  # the demand size the rate was set for
        self.shadows: dict[str, int] = {}  # name -> shadow capacity (the smaller twin under SMALLER)
        self._live: dict[str, Any] = {}  # name -> its state (Resumable or _ClassShadow)
        self._window: list[Hashable] = []  # every demand key of this window
        self._fed_raw = 0  # keys of _window fed so far
        # sampled dense ids kept for rebuilds: the tail before this window, then the window's; the
        # window's first _win_lost sampled accesses were dropped from it by a renewal
        self._hist: list[np.ndarray] = []
        self._win_start = 0  # where this window starts in the joined _hist
        self._win_lost = 0
        self._win_n = 0  # sampled accesses of this window
        self._win_flags: dict[str, list[np.ndarray]] = {}  # per shadow, hit flags per fed chunk
        self._flags: dict[str, np.ndarray] | None = None  # the window's flags, joined (cache)
        self._ids: dict[Hashable, int] = {}  # sampled key -> dense id
        self._keys: list[Hashable] = []  # dense id -> key
        self._id_limit = 0
        self._fed = 0  # sampled accesses fed to the current states (their request bound)
        self._since_rebuild = 0
        self._pending: int | None = None  # a resize waiting for its rebuild
        self.replays = 0  # rebuilds (each replays the tail)
        self.dormant: set[str] = set()  # candidates left out of the decision for now (still fed)
        self.resize(capacity)

    # -- geometry --------------------------------------------------------------------
    def resize(self, capacity: int) -> None:
        """Follow a new demand size (shadows rebuilt from the tail, when the rebuild budget allows)."""
        if capacity < 1:
            raise AdaptiveConfigError(f"shadow capacity must be >= 1, got {capacity}")
        capacity = int(capacity)
        self.dormant.clear()
        if not self._live or not 0.5 <= capacity / self._rate_for <= 2.0:
            self._reset_sampling(capacity)
        elif set(self._live) != {*self.candidates, self.current, SMALLER}:  # other candidates: all anew
            self._geometry(capacity)
            self._pending = None
            self._rebuild(list(self.shadows))
        elif capacity != self.capacity:
            self._pending = capacity
            self._apply_pending()
        else:
            self._pending = None

    def _geometry(self, capacity: int) -> None:
        self.capacity = capacity
        cap = max(2, round(self.rate * capacity))
        self.shadows = dict.fromkeys(self.candidates, cap)
        self.shadows[self.current] = cap
        self.shadows[SMALLER] = max(1, cap - max(1, cap // 8))
        self._id_limit = max(1 << 12, 4 * self.warmup)

    def _reset_sampling(self, capacity: int) -> None:
        """A new sampling rate: the sampled key set changes, so the shadows start cold (rare)."""
        self.rate = min(1.0, max(self.base_rate, self.min_shadow_capacity / capacity))
        self._rate_for = capacity
        self._geometry(capacity)
        self._ids, self._keys = {}, []
        self._hist, self._win_start, self._win_lost, self._win_n = [], 0, 0, 0
        self._win_flags = {}
        self._window = self._window[self._fed_raw:]  # fed keys were sampled at the old rate: drop them
        self._fed_raw = 0
        self._pending = None
        self._rebuild(list(self.shadows))

    def _apply_pending(self) -> None:
        if self._pending is not None and self._since_rebuild >= self.warmup:
            self._geometry(self._pending)
            self._pending = None
            self._rebuild(list(self.shadows))

    @property
    def shadow_capacity(self) -> int:
        """Capacity of each full-size shadow (``rate`` x demand size)."""
        return self.shadows[self.current]

    @property
    def delta(self) -> int:
        """Slots between the full-size and the smaller shadow of the current policy."""
        return self.shadow_capacity - self.shadows[SMALLER]

    @property
    def warmup(self) -> int:
        """Sampled accesses kept to warm a rebuilt shadow (about 4 shadow fills)."""
        if self.fixed_warmup is not None:
            return int(self.fixed_warmup)
        return int(max(512, 4 * max(2, round(self.rate * max(self.capacity, 1)))))

    # -- hot path --------------------------------------------------------------------
    def access(self, key: Hashable) -> None:
        """Feed one demand access (O(1): appended; fed to the shadows when figures are read)."""
        self._window.append(key)
        self._flags = None

    @property
    def appender(self) -> Callable[[Hashable], None]:
        """``list.append`` of the window: the layer's hot path calls it directly (stable per bank)."""
        return self._window.append

    # -- feeding ---------------------------------------------------------------------
    def _new_state(self, name: str) -> Any:
        policy = self.current if name == SMALLER else name
        cap = self.shadows[name]
        if self.use_kernels and _policies.base_name(policy) in RESUMABLE:
            return Resumable(policy, cap, self._id_limit, self._request_bound())
        return _ClassShadow(policy, cap)

    def _request_bound(self) -> int:
        return 4 * self._id_limit

    def _joined_hist(self) -> np.ndarray:
        if len(self._hist) != 1:
            self._hist = [np.concatenate(self._hist) if self._hist else np.zeros(0, np.int64)]
        return self._hist[0]

    def _rebuild(self, names: list[str]) -> None:
        """Fresh states for ``names``, warmed by the kept ids; their window flags re-derived."""
        seq = self._joined_hist()
        if set(names) == set(self.shadows):
            old, self._live, self._win_flags = self._win_flags, {}, {}
        else:
            old = self._win_flags
        for name in names:
            state = self._new_state(name)
            flags = state.feed(seq) if len(seq) else np.zeros(0, np.uint8)
            self._live[name] = state
            parts = [flags[self._win_start:]]
            if self._win_lost:  # the window's start is gone from the kept ids: keep what was flagged
                before = np.concatenate(old[name]) if old.get(name) else np.zeros(0, np.uint8)
                parts.insert(0, np.resize(before, self._win_lost) if len(before) else
                             np.zeros(self._win_lost, np.uint8))
            self._win_flags[name] = [np.concatenate(parts)]
        if set(names) == set(self.shadows):
            self._fed = len(seq)
            self._since_rebuild = 0
        self.replays += 1
        self._flags = None

    def _renew(self) -> None:
        """The id table or a state's request bound is full: keep the last ``warmup`` sampled ids only.

        The window's hit flags so far stay as fed; fresh states are warmed by the kept ids.
        """
        seq = self._joined_hist()[-self.warmup:]
        keep, codes = np.unique(seq, return_inverse=True)
        self._keys = [self._keys[i] for i in keep.tolist()]
        self._ids = {k: i for i, k in enumerate(self._keys)}
        self._hist = [codes.astype(np.int64).reshape(-1)]
        self._win_lost, self._win_start = self._win_n, len(seq)
        flags = self._win_flags
        self._win_flags = {}
        self._rebuild(list(self.shadows))
        self._win_flags = {n: flags.get(n, []) or self._win_flags[n] for n in self._win_flags}
        self._flags = None

    def _keep_mask(self, uniques: Any) -> np.ndarray:
        """SHARDS membership of each distinct key at the current rate (a fixed, seed-free hash)."""
        if self.rate >= 1.0:
            return np.ones(len(uniques), dtype=bool)
        hashed = pd.util.hash_array(np.asarray([str(u) for u in uniques], dtype=object), categorize=False)
        return np.asarray(hashed < np.uint64(int(self.rate * float(1 << 64)) - 1))

    def _feed_chunk(self, chunk: list[Hashable]) -> None:
        codes, uniq = pd.factorize(np.asarray(chunk, dtype=object), sort=False)
        keep = self._keep_mask(uniq)
        kept = [u for u, k in zip(uniq.tolist(), keep.tolist(), strict=True) if k]
        ids = self._ids
        fresh = sum(1 for u in kept if u not in ids)
        n_samp = int(keep[codes].sum()) if len(codes) else 0
        if len(self._keys) + fresh > self._id_limit or self._fed + n_samp > self._request_bound():
            self._renew()
        for u in kept:
            if u not in ids:
                ids[u] = len(self._keys)
                self._keys.append(u)
        dense = np.full(len(uniq), -1, np.int64)
        dense[np.flatnonzero(keep)] = [ids[u] for u in kept]
        seq = dense[codes]
        seq = seq[seq >= 0]
        if not len(seq):
            return
        self._hist.append(seq)
        self._win_n += len(seq)
        for name, state in self._live.items():
            self._win_flags[name].append(state.feed(seq))
        self._fed += len(seq)
        self._since_rebuild += len(seq)
        self._apply_pending()

    def _evaluate(self) -> dict[str, np.ndarray]:
        window = self._window
        if self._flags is not None and self._fed_raw == len(window):
            return self._flags  # the hot path appends to the window directly: its length tells news
        step = max(1, min(self.max_window, self._id_limit // 4))  # a chunk's new ids fit after a renewal
        while self._fed_raw < len(window):
            chunk = window[self._fed_raw: self._fed_raw + step]
            self._fed_raw += len(chunk)
            self._feed_chunk(chunk)
        self._flags = {name: (np.concatenate(parts) if parts else np.zeros(0, np.uint8))
                       for name, parts in self._win_flags.items() if name not in self.dormant}
        return self._flags

    @property
    def _sampled(self) -> int:
        return self._win_n

    @property
    def sampled(self) -> int:
        """Sampled demand accesses in the window (the shadows' sample size)."""
        self._evaluate()
        return self._sampled


    def hit_ratios(self) -> dict[str, float]:
        """Hit ratio of each candidate over the sampled window (NaN if empty)."""
        flags = self._evaluate()
        n = self._sampled
        return {name: (float(f.sum()) / n if n else math.nan)
                for name, f in flags.items() if name != SMALLER}

    def advantage(self, name: str) -> tuple[float, float]:
        """(hit-ratio gain of ``name`` over the current policy, its t statistic by batch means).

        Both shadows saw the same accesses, so the per-access difference is paired; accesses are
        autocorrelated, so the standard error comes from ``batches`` contiguous batch means.
        """
        flags = self._evaluate()
        n = self._sampled
        if not n or name not in flags:
            return math.nan, math.nan
        diff = flags[name].astype(np.int8) - flags[self.current].astype(np.int8)
        gain = float(diff.mean())
        b = self.batches
        per = n // b
        if per < 1:
            return gain, math.nan
        means = diff[: per * b].reshape(b, per).mean(axis=1)
        sd = float(means.std(ddof=1))
        if sd == 0.0:
            return gain, (math.inf if gain > 0 else 0.0 if gain == 0 else -math.inf)
        return gain, float(means.mean()) / (sd / math.sqrt(b))

    def batch_means(self) -> dict[str, np.ndarray] | None:
        """Per candidate, the hit ratio of each of ``batches`` contiguous batches of the window.

        None when the window has fewer sampled accesses than batches.
        """
        flags = self._evaluate()
        per = self._sampled // self.batches
        if per < 1:
            return None
        return {name: f[: per * self.batches].reshape(self.batches, per).mean(axis=1)
                for name, f in flags.items() if name != SMALLER}

    def marginal_hits_per_slot(self) -> float:
        """Demand hits per slot per access earned by the current policy's last ``delta`` slots."""
        flags = self._evaluate()
        if not self._sampled:
            return math.nan
        extra = int(flags[self.current].sum()) - int(flags[SMALLER].sum())
        return extra / self.delta / self._sampled

    def reset_window(self) -> None:
        """Start a new window (feeds what is left of this one; its ids join the kept tail)."""
        self._evaluate()
        keep = self.warmup
        tail = self._joined_hist()[-keep:] if keep else np.zeros(0, np.int64)
        self._hist, self._win_start, self._win_lost, self._win_n = [tail], len(tail), 0, 0
        self._window.clear()
        self._fed_raw = 0
        self._win_flags = {name: [] for name in self._live}
        self._flags = None

    def set_current(self, name: str) -> None:
        """The cache now runs ``name``: its smaller twin is rebuilt from the tail and this window."""
        self._evaluate()
        self.current = name
        self.shadows[name] = max(2, round(self.rate * self.capacity))
        self.dormant.discard(name)
        names = [SMALLER] if name in self._live else [name, SMALLER]
        self._rebuild(names)


def paired_gain(hist: list[dict[str, np.ndarray]], name: str, current: str,
                 decay: float) -> tuple[float, float, float]:
    """(weighted hit ratio, weighted gain over ``current``, its t) of ``name`` over its windows.

    ``hist``: per window (oldest first) the batch hit ratios per candidate; a window counts for
    ``name`` when it was replayed there.  Weights are ``decay^age``; the t statistic uses the
    weights' effective sample size (Kish).
    """
    last = len(hist) - 1
    sel = [(last - i, h[name], h[current]) for i, h in enumerate(hist) if name in h]
    if not sel:
        return math.nan, math.nan, math.nan
    vals = np.concatenate([v for _, v, _ in sel])
    base = np.concatenate([c for _, _, c in sel])
    ages = np.repeat(np.array([age for age, _, _ in sel], float), [len(v) for _, v, _ in sel])
    w = np.power(decay, ages)
    w_sum = float(w.sum())
    d = vals - base
    gain = float(w @ d) / w_sum
    ratio = float(w @ vals) / w_sum
    n_eff = w_sum * w_sum / float(w @ w)
    var = float(w @ (d - gain) ** 2) / w_sum * n_eff / max(n_eff - 1.0, 1e-9)
    if var <= 0.0:
        return ratio, gain, (math.inf if gain > 0 else 0.0 if gain == 0 else -math.inf)
    return ratio, gain, gain / math.sqrt(var / n_eff)



def lower_bound(gain: float, t: float, z: float) -> float:
    """``gain - z * se`` with ``se = gain / t``: a lower confidence bound of a paired gain.

    The adapter ranks candidates by it: the argmax of several noisy means is biased towards the
    noisiest candidate (the winner's curse), a lower bound prefers the gain that is also sure.
    """
    if math.isnan(gain) or math.isnan(t) or (t == 0.0 and gain != 0.0):
        return -math.inf
    return gain if t == 0.0 or math.isinf(t) else gain - z * gain / t
