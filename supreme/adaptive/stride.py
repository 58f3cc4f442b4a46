"""Stride predictor: the next key of a numbered sequence (candles, pages, scan chunks).

The synaptic network only predicts keys it has seen follow another; a candle that has never been
read (``ohlcv:BTC/USDT:1m:<ts>`` with a new ``ts``) cannot be predicted by it.  Keys that end in an
integer form sequences, and their next member is computable.

Mechanism: a *reference prediction table* (Chen & Baer, "Effective Hardware-Based Data Prefetching
for High-Performance Processors", IEEE ToC 1995) indexed by the key's non-numeric prefix instead of
an instruction address::

    observe(key):
        prefix, n = split trailing digits of key           # "ohlcv:BTC/USDT:1m:" , 1640995200000
        entry = table[prefix]  (new: last=n, stride=0, state=0; no prediction)
        d = n - entry.last
        if d == entry.stride and d != 0: state = min(3, state + 1)        # steady
        else:
            state = max(0, state - 1)
            if state == 0: stride = d                     # re-learn only once confidence is gone
        last = n
        if state >= 2: predict prefix + str(n + stride) with confidence state / 3

The 2-bit saturating state makes the table tolerant of the jump back at the start of every
look-back window (``+1 x 7, -6 x 1`` keeps predicting ``+1``), and unpredictable prefixes (random
ids such as ``obj:<n>``) never reach ``state >= 2``.

Departures: numbers keep their zero padding; the table holds at most ``max_prefixes`` prefixes
(oldest first out); the split of a key is memoised (at most 65 536 keys, then the memo is
cleared), so a repeated key costs one dict lookup and a key without a trailing integer nothing more.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import cast

from supreme.adaptive.synapses import AdaptiveConfigError

__all__ = ["StridePredictor"]

_DIGITS = "0123456789"
_MEMO_MAX = 1 << 16  # keys whose split is remembered (the memo is cleared when full)
_UNSEEN = object()


class StridePredictor:
    """Per-prefix stride detection over keys that end in an integer."""

    def __init__(self, *, max_prefixes: int = 4096, min_state: int = 2) -> None:
        if max_prefixes < 1:
            raise AdaptiveConfigError(f"max_prefixes must be >= 1, got {max_prefixes}")
        if not 1 <= min_state <= 3:
            raise AdaptiveConfigError(f"min_state must be in [1, 3], got {min_state}")
        self.max_prefixes = int(max_prefixes)
        self.min_state = int(min_state)
        # prefix -> [last number, stride, state]
        # OrderedDict: a plain dict as a FIFO makes next(iter(d)) skip every slot deleted since its resize
        self._table: OrderedDict[str, list[int]] = OrderedDict()
        self._memo: dict[str, object] = {}  # key -> its split (repeated keys skip rstrip and int())
        self.observed = 0

    @staticmethod
    def split(key: str) -> tuple[str, str]:
        """(prefix, digits) of ``key``; digits is empty when the key does not end in an integer."""
        head = key.rstrip(_DIGITS)
        return head, key[len(head):]

    def _split(self, key: str) -> tuple[str, int, int] | None:
        """(prefix, number, zero-padded width or 0) of ``key``, memoised; None without a number."""
        head = key.rstrip(_DIGITS)
        if len(head) == len(key):
            parts = None
        else:
            digits = key[len(head):]
            parts = (head, int(digits), len(digits) if len(digits) > 1 and digits[0] == "0" else 0)
        memo = self._memo
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = parts
        return parts

    def observe(self, key: str) -> tuple[str, float] | None:
        """Learn from an access of ``key``; return ``(next key, confidence)`` or None."""
        found = self._memo.get(key, _UNSEEN)
        parts = self._split(key) if found is _UNSEEN else cast("tuple[str, int, int] | None", found)
        if parts is None:
            return None
        head, n, pad = parts
        self.observed += 1
        table = self._table
        entry = table.get(head)
        if entry is None:
            if len(table) >= self.max_prefixes:
                table.popitem(last=False)
            table[head] = [n, 0, 0]
            return None
        d = n - entry[0]
        if d == entry[1] and d != 0:
            if entry[2] < 3:
                entry[2] += 1
        else:
            if entry[2] > 0:
                entry[2] -= 1
            if entry[2] == 0:
                entry[1] = d
        entry[0] = n
        state = entry[2]
        if state < self.min_state:
            return None
        nxt = n + entry[1]
        if nxt < 0:
            return None
        text = str(nxt)
        if pad:
            text = text.zfill(pad)
        return head + text, state / 3.0

    def predict(self, key: str, k: int = 1) -> list[tuple[str, float]]:
        """The predicted successor of ``key`` without learning from it (``[]`` or one pair)."""
        head, digits = self.split(key)
        entry = self._table.get(head)
        if not digits or entry is None or entry[2] < self.min_state:
            return []
        nxt = int(digits) + entry[1]
        if nxt < 0:
            return []
        text = str(nxt)
        if len(digits) > 1 and digits[0] == "0":
            text = text.zfill(len(digits))
        return [(head + text, entry[2] / 3.0)][:k]

    def __len__(self) -> int:
        return len(self._table)
