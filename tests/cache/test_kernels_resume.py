"""Resumable kernels: feeding a stream in pieces equals one replay; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache.kernels import run_kernel
from supreme.cache.kernels.resume import RESUMABLE, Resumable


@pytest.mark.parametrize("policy", [*sorted(RESUMABLE), "lrfu:4"])
def test_pieces_equal_one_replay(policy: str) -> None:
    rng = np.random.default_rng(3)
    ids = (rng.zipf(1.2, 20_000) % 1500).astype(np.int64)
    full = run_kernel(policy, ids, np.ones(len(ids), np.int64), 120, 1500)
    r = Resumable(policy, 120, 1500, len(ids))
    cuts = np.sort(rng.choice(len(ids), 9, replace=False))
    parts = [r.feed(p) for p in np.split(ids, cuts)]
    assert np.array_equal(full, np.concatenate(parts))
    assert r.fed == len(ids) and 0 < r.used <= 120


def test_bounds_are_checked() -> None:
    r = Resumable("lru", 4, 10, 5)
    with pytest.raises(ValueError, match="ids must be in"):
        r.feed(np.array([10]))
    r.feed(np.arange(5))
    with pytest.raises(ValueError, match="max_requests"):
        r.feed(np.array([1]))
    with pytest.raises(ValueError, match="no resumable kernel"):
        Resumable("opt", 4, 10, 5)
    with pytest.raises(ValueError, match=">= 1"):
        Resumable("lru", 0, 10, 5)


@pytest.mark.parametrize("policy", sorted(RESUMABLE))
def test_growing_keeps_the_replay_exact(policy: str) -> None:
    rng = np.random.default_rng(5)
    ids = (rng.zipf(1.1, 12_000) % 3000).astype(np.int64)
    full = run_kernel(policy, ids, np.ones(len(ids), np.int64), 200, 3000)
    r = Resumable(policy, 200, 1, 1)
    parts = []
    for piece in np.array_split(ids, 7):
        r.grow(int(piece.max()) + 1, r.fed + len(piece))
        parts.append(r.feed(piece))
    assert np.array_equal(full, np.concatenate(parts))
