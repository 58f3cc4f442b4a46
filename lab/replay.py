"""Notebook 01's second part: a month of BTC-PERP 1m candles through the pipeline replay, read back.

When the shared recordings are absent (a fresh clone without ``../shared``), the bundled daily SPX
sample is replayed instead, through the same path, and the result says so (``source``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.cache.codec import decode_entry
from supreme.market import load_sample
from supreme.market.loaders import load_ohlcv
from supreme.paths import SharedDataMissing, shared_data
from supreme.replay.runner import replay_files

__all__ = ["BTC_PERP", "replay_recording"]

BTC_PERP = "nautilus/btc-perp-20211231-20220201_1m.csv"


def _read_back(db: Path, namespace: str = "supreme:") -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value FROM cache_entries").fetchall()
    return {k.removeprefix(namespace): decode_entry(bytes(v))[0] for k, v in rows}


def replay_recording(out_dir: str | Path, relative: str = BTC_PERP,
                     symbol: str = "BTC-PERP") -> dict[str, Any]:
    """Replay a shared recording through ``replay --pipeline``'s path and check L3 against the file."""
    try:
        path = shared_data(relative)
        source = f"shared recording {relative}"
    except SharedDataMissing as exc:
        # degrade, do not fail: the bundled sample goes through the very same pipeline
        symbol = "SPX"
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        path = Path(out_dir) / "SPX-sample.csv"
        load_sample(symbol).to_csv(path, index=False)
        source = f"bundled SPX daily sample ({exc})"
    run = replay_files([f"{symbol}={path}"], out_dir, log_events=True)
    result = run.result
    stored = _read_back(Path(out_dir) / "l3.sqlite")
    blocks = sorted((k for k in stored if k.startswith("candles:")), key=lambda k: int(k.rsplit(":", 1)[1]))
    candles = np.concatenate([stored[k] for k in blocks])
    frame = load_ohlcv(path)
    prices = frame[["open", "high", "low", "close", "volume"]].to_numpy()
    same = bool(np.array_equal(candles[:, 0].astype(np.int64), frame["timestamp"].to_numpy())
                and np.array_equal(candles[:, 1:], prices))
    counts = result.signals.groupby("action").size().rename("signals").to_frame()
    counts["share"] = (counts["signals"] / counts["signals"].sum()).round(3)
    events = run.event_log.to_frame()
    steps = events.groupby(["component", "operation"]).size().rename("rows").to_frame()
    sets = result.cache_stats["sets"]
    writes = pd.DataFrame({"tier": ["L2", "L3"], "entries written": [int(sets["L2"]), int(sets["L3"])],
                           "batches": [int(result.queue_stats["batches"])] * 2})
    return {"result": result, "figure": run.outputs["price_signals.png"], "counts": counts,
            "steps": steps, "writes": writes.set_index("tier"), "l3_equals_file": same,
            "blocks_in_l3": len(blocks), "position": stored.get("replay:replay:position"), "source": source,
            "symbol": symbol}
