"""Synaptic network: a bounded, decaying graph of "key B tends to follow key A".

Mechanism (Hebbian learning with forward decay)
-----------------------------------------------
Hebb's rule ("cells that fire together wire together"; D. O. Hebb, *The Organization of
Behavior*, 1949) applied to a stream of cache accesses: when key ``k`` is accessed, every
distinct key ``p`` among the previous ``W`` accesses (the window) strengthens the link
``p → k`` by ``gamma^(d-1)``, where ``d`` is ``p``'s distance back in the window (1 = the access just
before).  Each access of ``p`` that gets a successor adds 1 to ``p``'s *activation*.  Both decay
exponentially with a configurable half-life ``h`` on the injected clock.

Decay is applied lazily with *forward decay* (Cormode, Shkapenyuk, Srivastava & Xu, "Forward
Decay: A Practical Time Decay Model for Streaming Systems", ICDE 2009): an increment ``x`` at time
``t`` is stored as ``x * g(t)`` with ``g(t) = 2^((t - t_ref)/h)``, and the true value at ``now`` is
``stored / g(now)``.  Updates are therefore O(1) — nothing is rescanned when time passes.  When
``g`` grows large the whole network is rescaled once (amortised O(1)).

Pseudocode::

    record(k, t):
        g = 2 ** ((t - t_ref) / h)
        node(window[-1]).activation += g             # the previous access got its successor
        for d, p in enumerate(distinct keys of window, newest first, start=1):
            if p != k: node(p).links[k] += gamma**(d-1) * g   # top-k successors kept per node
        window.append(k)
        if #nodes > max_keys: drop the least recently used node

    predict(k, n):  confidence(k → j) = min(1, links[j] / activation(k))   # decay cancels

``confidence`` is thus a decayed estimate of "how often ``j`` followed ``k`` within the window,
discounted by distance", in [0, 1].  An access counts as an opportunity for ``k``'s links once its
successor arrives, so a deterministic successor has confidence exactly 1.

Bounds and departures
---------------------
* at most ``2·top_k - 1`` successors per key: new successors are added freely and, when ``2·top_k``
  is reached, one sort trims the node to its ``top_k`` strongest (amortised O(log top_k) per new
  link instead of an O(top_k) scan for the weakest on every new link of a full node);
* at most ``max_keys`` source keys (least recently accessed dropped first);
* :meth:`prune` drops links whose decayed weight fell below ``min_weight`` (run by the learning
  cycle, not on the hot path);
* self-links ``k → k`` are not learnt: a key that repeats is already cached when it repeats;
* the forward-decay factor ``g(now)`` is recomputed only when the clock has moved by more than
  ``h/1024`` since it was last computed (relative weight error < 0.07 %, no ``exp`` per access);
  ``window == 1`` has its own branch (no distinct-key scan).
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict, deque
from collections.abc import Hashable
from operator import itemgetter

from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

__all__ = ["AdaptiveConfigError", "SynapticNetwork"]

_LN2 = math.log(2.0)
#: rescale all stored weights when g(t) would exceed 2**_RESCALE_EXP (floats reach 2**1023)
_RESCALE_EXP = 400.0
_BY_WEIGHT = itemgetter(1)


class AdaptiveConfigError(SupremeError, ValueError):
    """A parameter of the adaptive layer is out of range; the message names it."""


class _Node:
    """One source key: its decayed activation and its successor links (stored forward-decayed)."""

    __slots__ = ("activation", "links")

    def __init__(self) -> None:
        self.activation = 0.0
        self.links: dict[Hashable, float] = {}


class SynapticNetwork:
    """Weighted key → successor links with Hebbian strengthening and exponential decay."""

    def __init__(
        self,
        *,
        window: int = 3,
        distance_decay: float = 0.5,
        half_life: float = 600.0,
        top_k: int = 8,
        max_keys: int = 50_000,
        min_weight: float = 0.05,
        event_log: EventLog = NULL_LOG,
    ) -> None:
        if window < 1:
            raise AdaptiveConfigError(f"window must be >= 1, got {window}")
        if not 0.0 < distance_decay <= 1.0:
            raise AdaptiveConfigError(f"distance_decay must be in (0, 1], got {distance_decay}")
        if not half_life > 0:
            raise AdaptiveConfigError(f"half_life must be > 0 seconds, got {half_life}")
        if top_k < 1:
            raise AdaptiveConfigError(f"top_k must be >= 1, got {top_k}")
        if max_keys < 1:
            raise AdaptiveConfigError(f"max_keys must be >= 1, got {max_keys}")
        if min_weight < 0:
            raise AdaptiveConfigError(f"min_weight must be >= 0, got {min_weight}")
        self.window = int(window)
        self.half_life = float(half_life)
        self.top_k = int(top_k)
        self.max_keys = int(max_keys)
        self.min_weight = float(min_weight)
        self._gains = tuple(distance_decay**d for d in range(window))
        self._log = event_log
        self._nodes: OrderedDict[Hashable, _Node] = OrderedDict()
        self._recent: deque[Hashable] = deque(maxlen=window)
        self._t_ref: float | None = None
        self._t_last = -math.inf
        self._rate = _LN2 / self.half_life
        self._g = 1.0
        self._g_time = -math.inf
        self._g_step = self.half_life / 1024.0
        self.accesses = 0

    # -- learning -----------------------------------------------------------
    def _scale(self, now: float) -> float:
        """g(now) = 2^((now - t_ref)/h), rescaling the network first if it would overflow."""
        if now < self._t_last:  # a clock that stepped back: learn as if at the last time seen
            now = self._t_last
        self._t_last = now
        if self._t_ref is None:
            self._t_ref = now
        expo = (now - self._t_ref) * self._rate
        if expo > _RESCALE_EXP * _LN2:
            self._rescale(now)
            expo = 0.0
        return math.exp(expo)

    def _rescale(self, now: float) -> None:
        assert self._t_ref is not None
        factor = math.exp(-(now - self._t_ref) * self._rate)
        for node in self._nodes.values():
            node.activation *= factor
            links = node.links
            for dst in links:
                links[dst] *= factor
        self._t_ref = now
        self._g_time = -math.inf  # the cached g belongs to the old reference time

    def record(self, key: Hashable, now: float) -> None:
        """Learn from one access of ``key`` at clock time ``now`` (O(window + top_k))."""
        # g(now) is recomputed only when the clock moved by more than h/1024 (a relative error
        # below 0.07 % in the weights, and no exp() per access)
        if now - self._g_time > self._g_step or now < self._g_time:
            self._g = self._scale(now)
            self._g_time = self._t_last
        g = self._g
        nodes = self._nodes
        node = nodes.get(key)
        if node is None:
            nodes[key] = _Node()
            if len(nodes) > self.max_keys:
                nodes.popitem(last=False)
        else:
            nodes.move_to_end(key)
        recent = self._recent
        if recent:
            # the previous access has now had a successor: one more opportunity for its links
            prev = recent[-1]
            last = nodes.get(prev)
            if last is not None:
                last.activation += g
            if self.window == 1:
                if prev != key and last is not None:
                    links = last.links
                    if key in links:
                        links[key] += g
                    else:
                        self._strengthen(links, key, g)
            else:
                seen: list[Hashable] = []
                gains = self._gains
                d = 0
                for prev in reversed(recent):
                    if prev == key or prev in seen:
                        continue
                    seen.append(prev)
                    src = nodes.get(prev)
                    if src is not None:
                        links = src.links
                        if key in links:
                            links[key] += gains[d] * g
                        else:
                            self._strengthen(links, key, gains[d] * g)
                    d += 1
        recent.append(key)
        self.accesses += 1
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Synaptic_Network", "Record access pattern",
                             "recorded", key=str(key), detail="Pattern recorded")

    def _strengthen(self, links: dict[Hashable, float], dst: Hashable, amount: float) -> None:
        links[dst] = amount
        if len(links) >= 2 * self.top_k:
            # amortised top-k: trim to the top_k strongest once per top_k new successors
            keep = sorted(links.items(), key=_BY_WEIGHT, reverse=True)[: self.top_k]
            links.clear()
            links.update(keep)

    # -- queries ------------------------------------------------------------
    def predict(self, key: Hashable, k: int = 3) -> list[tuple[Hashable, float]]:
        """Up to ``k`` likely successors of ``key`` with confidence in [0, 1], best first."""
        node = self._nodes.get(key)
        if node is None or not node.links or node.activation <= 0.0:
            return []
        act = node.activation
        links = node.links
        if k == 1 or len(links) == 1:
            best = max(links, key=links.__getitem__)
            return [(best, min(1.0, links[best] / act))]
        ranked = sorted(links.items(), key=_BY_WEIGHT, reverse=True)[:k]
        return [(dst, min(1.0, w / act)) for dst, w in ranked]

    def weight(self, src: Hashable, dst: Hashable, now: float) -> float:
        """Decayed weight of the link ``src → dst`` at ``now`` (0 if absent)."""
        node = self._nodes.get(src)
        if node is None or dst not in node.links or self._t_ref is None:
            return 0.0
        return node.links[dst] * math.exp(-(now - self._t_ref) * self._rate)

    def activation(self, key: Hashable, now: float) -> float:
        """Decayed activation (access count) of ``key`` at ``now``."""
        node = self._nodes.get(key)
        if node is None or self._t_ref is None:
            return 0.0
        return node.activation * math.exp(-(now - self._t_ref) * self._rate)

    def prune(self, now: float) -> int:
        """Drop links decayed below ``min_weight`` and cold empty nodes; return links dropped."""
        if self._t_ref is None:
            return 0
        cut = self.min_weight * math.exp((now - self._t_ref) * self._rate)
        dropped = 0
        dead: list[Hashable] = []
        for key, node in self._nodes.items():
            weak = [dst for dst, w in node.links.items() if w < cut]
            for dst in weak:
                del node.links[dst]
            dropped += len(weak)
            if not node.links and node.activation < cut:
                dead.append(key)
        for key in dead:
            del self._nodes[key]
        return dropped

    # -- size ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def n_links(self) -> int:
        """Number of links held."""
        return sum(len(n.links) for n in self._nodes.values())

    def successors(self, key: Hashable) -> int:
        """Number of successor links of ``key``."""
        node = self._nodes.get(key)
        return 0 if node is None else len(node.links)

    def memory_bytes(self) -> int:
        """Estimate of the bytes held (containers and nodes; keys are shared with the cache)."""
        total = sys.getsizeof(self._nodes) + sys.getsizeof(self._recent)
        for node in self._nodes.values():
            total += sys.getsizeof(node) + sys.getsizeof(node.links) + 24  # + the float activation
            total += 24 * len(node.links)  # one boxed float per link
        return total
