"""Golden digests of model event logs: a speed change to the event log, the clock, the SimPy glue or the
signal pipeline's hot path must leave every model's DataFrame (values, dtypes, column order, attrs)
byte-for-byte identical for the same seed.

The digests in ``golden/event_logs.json`` were computed from the code before the speed work.  A change
that is *meant* to alter a model's output (a new step, a new latency book) regenerates them, stating so
in its commit::

    PYTHONPATH=$PWD .venv/bin/python -m tests.sim.test_event_log_golden --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.runner import MODELS, run_model

GOLDEN = Path(__file__).with_name("golden") / "event_logs.json"
#: the checkout this test runs in (its path must not reach a digest)
ROOT = Path(__file__).resolve().parents[2]

#: learning_cycle takes ~10 s at its defaults; a shorter run covers the same code.
_SHORT = {"learning_cycle": {"duration": 120.0}}

#: The signal flow's other paths: refusals (429s), faults (5xx and breakers), log off (aggregates only),
#: bursts of misses (many symbols re-keyed by a short TTL) and the load-balanced request pipeline.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, _SHORT.get(name, {})) for name in MODELS},
    "trading_signal/limited": ("trading_signal", {"requests": 3000, "load.rate": 800.0, "clients": 3,
                                                  "ratelimit.rate": 20.0, "ratelimit.burst": 5,
                                                  "ratelimit.ip.rate": 100.0, "ratelimit.ip.burst": 50}),
    "trading_signal/faults": ("trading_signal", {"requests": 3000, "faults.redis.down_at": 2.0,
                                                 "faults.redis.down_for": 4.0,
                                                 "faults.postgresql.error_at": 5.0,
                                                 "faults.postgresql.error_for": 5.0,
                                                 "faults.postgresql.error_rate": 0.3,
                                                 "faults.exchange.slow_at": 1.0,
                                                 "faults.exchange.slow_for": 8.0,
                                                 "faults.exchange.slow_factor": 5.0, "signal.ttl": 0.5,
                                                 "faults.exchange.error_at": 9.0,
                                                 "faults.exchange.error_for": 4.0,
                                                 "faults.exchange.error_rate": 0.6}),
    "trading_signal/log_off": ("trading_signal", {"requests": 5000, "log.enabled": False, "seed": 3}),
    "trading_signal/misses": ("trading_signal", {"requests": 3000, "signal.ttl": 0.05, "seed": 7,
                                                 "auth.cache_ttl": 0.2, "cache.l1.capacity": 2}),
    "request_pipeline/seed5": ("request_pipeline", {"requests": 3000, "seed": 5, "lb.backends": 3}),
}


def digest(df: pd.DataFrame) -> str:
    """sha256 of a log's columns, dtypes, values (CSV, floats round-trip exactly) and attrs."""
    h = hashlib.sha256()
    h.update(json.dumps([list(df.columns), [str(t) for t in df.dtypes]]).encode())
    h.update(df.to_csv(index=True).encode())
    # attrs may name files of this checkout (the manifests a model read): digest them checkout-free
    attrs = json.dumps(df.attrs, sort_keys=True, default=str).replace(str(ROOT), "<root>")
    h.update(attrs.encode())
    return h.hexdigest()


def compute(case: str) -> dict[str, Any]:
    """Rows and digest of one case's event log."""
    model, scenario = CASES[case]
    df = run_model(model, scenario)
    return {"rows": len(df), "digest": digest(df)}


def _golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_log_matches_golden(case: str) -> None:
    """The model's log for this seed is the one the pre-speed-work code produced."""
    golden = _golden()
    assert case in golden, f"no golden digest for {case!r}: regenerate with --write (see module docstring)"
    assert compute(case) == golden[case]


def test_digest_sees_a_changed_value() -> None:
    """The digest is sensitive to one changed latency, a changed dtype and a changed attr."""
    df = run_model("trading_signal", {"requests": 50})
    base = digest(df)
    changed = df.copy()
    changed.loc[3, "latency"] = changed.loc[3, "latency"] + 1e-12
    assert digest(changed) != base
    assert digest(df.astype({"bytes": "int32"})) != base
    other = df.copy()
    other.attrs = {**df.attrs, "sim_seconds": -1.0}
    assert digest(other) != base


if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.write_text(json.dumps({c: compute(c) for c in sorted(CASES)}, indent=1, sort_keys=True) + "\n",
                      encoding="utf-8")
    print(f"wrote {GOLDEN}")
