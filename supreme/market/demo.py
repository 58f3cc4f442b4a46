"""The main job on the embedded default: replay the bundled sample through the real feed.

No servers: a ManualClock, the ReplayConnector over the arch sample, the MarketDataFeed with
a candle subscriber.  Writes a figure (close and volume of what the feed delivered) and the
summary as JSON.  Later issues add the cache, breaker and strategy to :func:`run_demo`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supreme.events import NULL_LOG, EventLog
from supreme.market.runner import ReplayResult, replay_frame
from supreme.market.sample import SAMPLE_TIMEFRAME, load_sample

__all__ = ["plot_candles", "run_demo"]


def plot_candles(result: ReplayResult, path: Path, title: str) -> Path:
    """Close price and volume of the replayed candles, saved as PNG with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    candles = result.candles
    when = pd.to_datetime(candles["timestamp"], unit="ms", utc=True)
    fig, (ax_p, ax_v) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=[3, 1])
    try:
        ax_p.plot(when, candles["close"], lw=0.8, color="tab:blue")
        ax_p.set_ylabel("close")
        ax_p.set_title(title)
        ax_p.grid(alpha=0.3)
        ax_v.bar(when, candles["volume"], width=1.0, color="tab:gray")
        ax_v.set_ylabel("volume")
        ax_v.set_xlabel("date (UTC)")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def run_demo(
    out_dir: str | Path = "out",
    symbol: str = "SPX",
    *,
    event_log: EventLog = NULL_LOG,
    progress: bool = False,
) -> dict[str, Any]:
    """Replay the bundled ``symbol`` sample through the feed; write figure and summary into ``out_dir``.

    Returns ``{"summary": dict, "figure": Path, "summary_path": Path, "result": ReplayResult}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = load_sample(symbol)
    name = str(frame.attrs.get("symbol", symbol))
    result = replay_frame(frame, name, SAMPLE_TIMEFRAME, event_log=event_log, progress=progress)
    figure = plot_candles(
        result,
        out / f"demo_{name}.png",
        f"{name} daily, replayed through MarketDataFeed (source: arch sample)",
    )
    summary_path = out / f"demo_{name}_summary.json"
    summary_path.write_text(json.dumps(result.summary, indent=2, default=str) + "\n", encoding="utf-8")
    return {"summary": result.summary, "figure": figure, "summary_path": summary_path, "result": result}
