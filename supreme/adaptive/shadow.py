"""Shadow caches of candidate policies, replayed in batch, and the statistics the adapter decides on.

The hot path only appends each demand key to a list; once per learning cycle :class:`ShadowBank`
*replays* the window, preceded by the tail of earlier windows as warm-up, through every candidate
in one batch — the compiled trace kernels of :mod:`supreme.cache.kernels` (hit-for-hit equal to
the policy classes; ``use_kernels=False`` replays the classes, the reference they are tested
against, as does a policy without a kernel).  Replaying costs ~40 ns per sampled access per
candidate instead of 0.5-10 µs per access per candidate for live Python shadows, and removes all
warm-state bookkeeping on resize and switch.

Large caches are *spatially sampled* (SHARDS: Waldspurger, Park, Garthwaite & Ahmad, "Efficient MRC
Construction with SHARDS", FAST 2015; miniature simulation: Waldspurger et al., USENIX ATC 2017): a key
takes part iff ``hash(key) < R · 2^64`` (a fixed, seed-free hash, so the same keys every window) and
each shadow has capacity ``R · C`` with ``R = max(rate, min_shadow_capacity / C)`` — the minimum
sample size keeps small shadows from degenerating (``R = 1``, exact, below ``min_shadow_capacity``).
With sampling (``R < 1``) the warm-up keeps only its sampled keys (and their positions) from one
window to the next, so each cycle hashes and factorises only the new window.

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
from supreme.cache.kernels import KERNELS, run_kernel

__all__ = ["SMALLER", "ShadowBank", "paired_gain"]

#: the smaller twin of the current policy's shadow (``delta`` slots less: the marginal demand slots)
SMALLER = "__current_smaller__"


class ShadowBank:
    """Key-only shadow caches of candidate policies, replayed in batch over a spatially sampled stream."""

    def __init__(
        self,
        candidates: Sequence[str],
        capacity: int,
        current: str,
        *,
        rate: float = 0.1,
        min_shadow_capacity: int = 256,
        warmup: int | None = None,
        max_window: int = 1 << 17,
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
        self.candidates = list(dict.fromkeys(candidates))
        self.base_rate = float(rate)
        self.min_shadow_capacity = int(min_shadow_capacity)
        self.current = current
        self.fixed_warmup = warmup
        self.max_window = int(max_window)
        self.batches = int(batches)
        self.use_kernels = bool(use_kernels)
        self.capacity = 0
        self.rate = 1.0
        self.shadows: dict[str, int] = {}  # name -> shadow capacity (the smaller twin under SMALLER)
        self._window: list[Hashable] = []  # every demand key of this window; sampling happens in batch
        self._warm: list[Hashable] = []  # tail of earlier windows, replayed first to warm the shadows
        self._flags: dict[str, np.ndarray] | None = None  # per sampled window access: 1 = shadow hit
        # sampled warm-up keys and their positions in _warm, valid for _warm_rate (SHARDS only)
        self._warm_keys: list[Hashable] = []
        self._warm_pos = np.zeros(0, np.int64)
        self._warm_rate = math.nan
        self._win_pos: np.ndarray | None = None  # positions of the sampled window keys (last replay)
        self._win_len = -1  # window length when _win_pos was taken
        self._sampled = 0
        self.replays = 0
        self.dormant: set[str] = set()  # candidates not replayed for now (the adapter rests losers)
        self.resize(capacity)

    # -- geometry --------------------------------------------------------------------
    def resize(self, capacity: int) -> None:
        """Follow a new demand size (shadows hold no state between replays, so this is free)."""
        if capacity < 1:
            raise AdaptiveConfigError(f"shadow capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.rate = min(1.0, max(self.base_rate, self.min_shadow_capacity / self.capacity))
        cap = max(2, round(self.rate * self.capacity))
        small = max(1, cap - max(1, cap // 8))
        self.shadows = dict.fromkeys(self.candidates, cap)
        self.shadows[self.current] = cap
        self.shadows[SMALLER] = small
        self.dormant.clear()
        self._flags = None

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
        """Raw accesses of earlier windows replayed before the window (about 8 shadow fills)."""
        if self.fixed_warmup is not None:
            return int(self.fixed_warmup)
        return int(min(1 << 16, max(1024, math.ceil(8 * self.shadow_capacity / self.rate))))

    # -- hot path --------------------------------------------------------------------
    def access(self, key: Hashable) -> None:
        """Feed one demand access (O(1): appended; shadows are replayed once per window)."""
        self._window.append(key)
        self._flags = None

    @property
    def appender(self) -> Callable[[Hashable], None]:
        """``list.append`` of the window: the layer's hot path calls it directly (stable per bank)."""
        return self._window.append

    # -- evaluation --------------------------------------------------------------------
    def _evaluate(self) -> dict[str, np.ndarray]:
        if self._flags is not None:
            return self._flags
        window = self._window[-self.max_window:]
        flags: dict[str, np.ndarray] = {}
        if not window:
            self._sampled = 0
            self._win_pos = np.zeros(0, np.int64)
            self._flags = {name: np.zeros(0, np.uint8) for name in self.shadows}
            return self._flags
        if self.rate < 1.0:
            # SHARDS: a key takes part iff hash(key) < rate * 2^64, the same keys in every window;
            # the warm-up keeps only its sampled keys, so only the window is hashed here
            warm = self._warm_sampled_keys()
            wcodes, wuniq = pd.factorize(np.asarray(window, dtype=object), sort=False)
            keep = self._keep_mask(wuniq)
            pos = np.flatnonzero(keep[wcodes])
            self._win_pos = pos
            self._win_len = len(self._window)
            win_arr = np.asarray(window, dtype=object)[pos] if len(pos) else np.zeros(0, dtype=object)
            seq = np.concatenate([np.asarray(warm, dtype=object), win_arr]) if warm else win_arr
            n_warm = len(warm)
        else:
            seq = np.asarray(self._warm + window, dtype=object)
            n_warm = len(self._warm)
        codes, uniques = pd.factorize(seq, sort=False)
        codes = codes.astype(np.int64, copy=False)
        self._sampled = len(codes) - n_warm
        n_obj = len(uniques)
        for name, cap in self.shadows.items():
            if name in self.dormant:
                continue
            policy = self.current if name == SMALLER else name
            flags[name] = _replay(policy, codes, cap, n_obj, self.use_kernels)[n_warm:]
        self.replays += 1
        self._flags = flags
        return flags

    def _keep_mask(self, uniques: Any) -> np.ndarray:
        """SHARDS membership of each distinct key at the current rate (a fixed, seed-free hash)."""
        hashed = pd.util.hash_array(np.asarray([str(u) for u in uniques], dtype=object), categorize=False)
        return np.asarray(hashed < np.uint64(int(self.rate * float(1 << 64)) - 1))

    def _warm_sampled_keys(self) -> list[Hashable]:
        """The sampled keys of the warm-up (kept with their positions; re-derived if the rate moved)."""
        if self._warm_rate != self.rate:
            if self._warm:
                codes, uniq = pd.factorize(np.asarray(self._warm, dtype=object), sort=False)
                self._warm_pos = np.flatnonzero(self._keep_mask(uniq)[codes])
            else:
                self._warm_pos = np.zeros(0, np.int64)
            self._warm_keys = [self._warm[i] for i in self._warm_pos.tolist()]
            self._warm_rate = self.rate
        return self._warm_keys

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
        """Start a new window; its predecessor's tail becomes the warm-up of the next replay."""
        keep = self.warmup
        window = self._window
        if self.rate < 1.0 and self._warm_rate == self.rate and self._win_pos is not None \
                and len(window) == self._win_len and len(window) <= self.max_window:
            # carry the sampled positions over instead of hashing the warm-up again
            pos = np.concatenate([self._warm_pos, self._win_pos + len(self._warm)])
            keys = self._warm_keys + [window[i] for i in self._win_pos.tolist()]
            drop = len(self._warm) + len(window) - keep if keep else len(self._warm) + len(window)
            if drop > 0:
                first = int(np.searchsorted(pos, drop))
                pos = pos[first:] - drop
                keys = keys[first:]
            self._warm_pos, self._warm_keys = pos, keys
        else:
            self._warm_rate = math.nan
        self._warm = (self._warm + window)[-keep:] if keep else []
        if not keep:
            self._warm_pos, self._warm_keys = np.zeros(0, np.int64), []
        window.clear()
        self._win_pos = None
        self._flags = None

    def set_current(self, name: str) -> None:
        """The cache now runs ``name`` (its smaller twin follows it at the next replay)."""
        self.shadows[name] = self.shadow_capacity
        self.current = name
        self.dormant.discard(name)
        self._flags = None



def _replay(policy: str, codes: np.ndarray, cap: int, n_obj: int, use_kernels: bool = True) -> np.ndarray:
    """Hit flags of ``policy`` (a registry spec) at ``cap`` over ``codes``: its kernel, else its class.

    A kernel's failure propagates: only a policy without a kernel (or ``use_kernels=False``) replays
    through the class.
    """
    if use_kernels and _policies.base_name(policy) in KERNELS:
        flags = run_kernel(policy, codes, np.ones(len(codes), np.int64), cap, n_obj)
        return np.asarray(flags, dtype=np.uint8)
    pol = _policies.make(policy, cap)
    req = pol.request
    return np.fromiter((req(c) for c in codes.tolist()), dtype=np.uint8, count=len(codes))


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

