"""A pipeline replay's output folder: signals, the event log, cache statistics, a summary and a figure.

``signals.parquet`` (one row per candle: action, score, confidence and every indicator),
``events.parquet`` (the shared event-log schema), ``cache_stats.csv`` (per tier), ``summary.json``
and ``price_signals.png`` (close price with the BUY/SELL signals, one panel per symbol).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from supreme.events import EventLog

if TYPE_CHECKING:
    from supreme.replay.pipeline import PipelineResult

__all__ = ["SignalSink", "plot_signals", "write_outputs"]


class SignalSink:
    """Signal blocks into ``signals.parquet`` as they are made, keeping each symbol's last ``tail``
    signals (for the figure): a long replay's memory does not grow with its length."""

    def __init__(self, path: str | Path, tail: int = 2880) -> None:
        self.path = Path(path)
        self.tail = tail
        self.rows = 0
        self._writer: Any = None
        self._tails: dict[str, list[Any]] = {}

    def __call__(self, block: Any) -> None:
        """Append one :class:`~supreme.strategy.block.SignalBlock`."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not len(block):
            return
        table = pa.Table.from_pandas(block.frame(), preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += len(block)
        kept = self._tails.setdefault(block.symbol, [])
        kept.append(block)
        while len(kept) > 1 and sum(len(b) for b in kept[1:]) >= self.tail:
            kept.pop(0)

    def tail_frame(self) -> pd.DataFrame:
        """The kept signals of every symbol (at least ``tail`` each, where there were that many)."""
        from supreme.strategy.block import signals_frame

        return signals_frame([b for blocks in self._tails.values() for b in blocks])

    def close(self) -> None:
        """Finish the file (an empty replay writes the columns with no rows)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        elif not self.path.exists():
            self.tail_frame().to_parquet(self.path, index=False)


def plot_signals(signals: pd.DataFrame, *, last: int | None = 2880, max_points: int = 20_000) -> Any:
    """Close price and BUY/SELL turns per symbol over the ``last`` candles (None: all), a Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    symbols = list(dict.fromkeys(signals["symbol"])) or ["(none)"]
    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 3.4 * len(symbols)), squeeze=False, dpi=110,
                             layout="constrained")
    for ax, sym in zip(axes[:, 0], symbols, strict=True):
        s = signals[signals["symbol"] == sym]
        s = s if last is None else s.iloc[-last:]
        t = pd.to_datetime(s["as_of"], unit="ms", utc=True)
        stride = max(1, len(s) // max_points)  # a long replay is thinned for the line, not for markers
        ax.plot(t.iloc[::stride], s["close"].iloc[::stride], color="0.3", lw=0.8, label="close")
        for action, marker, colour in (("BUY", "^", "tab:green"), ("SELL", "v", "tab:red")):
            m = s[s["action"] == action]
            m = m[m["action"].ne(s["action"].shift()).loc[m.index]]  # where the signal turns, not every bar
            ax.scatter(pd.to_datetime(m["as_of"], unit="ms", utc=True), m["close"], marker=marker, s=14,
                       color=colour, label=f"{action} (turns)", zorder=3)
        span = "" if last is None or len(s) < last else f", last {last} candles"
        ax.set_title(f"{sym}: close and signal turns{span}", loc="left")
        ax.set_ylabel("price")
        # above the panel, right of the title: the legend never hides the price line
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncol=3)
        ax.set_xlabel("time (UTC)")
        for label in ax.get_xticklabels():
            label.set_rotation(20)
            label.set_horizontalalignment("right")
    return fig


def write_outputs(result: PipelineResult, folder: str | Path, event_log: EventLog,
                  *, figure: bool = True, sink: SignalSink | None = None) -> dict[str, Path]:
    """Write the output files of ``result`` into ``folder`` (created); return their paths by name.

    With ``sink`` the signals were streamed to ``signals.parquet`` already; the figure uses its tail.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("signals.parquet", "events.parquet", "cache_stats.csv",
                                            "summary.json")}
    if sink is None:
        result.signals.to_parquet(paths["signals.parquet"], index=False)
    events = event_log.to_frame()
    events["detail"] = events["detail"].astype("string")
    events.to_parquet(paths["events.parquet"], index=False)
    result.cache_stats.to_csv(paths["cache_stats.csv"])
    summary = {**result.summary(), "notes": result.notes, "queue": result.queue_stats}
    paths["summary.json"].write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if figure:
        import matplotlib.pyplot as plt

        fig = plot_signals(result.signals if sink is None else sink.tail_frame())
        paths["price_signals.png"] = out / "price_signals.png"
        fig.savefig(paths["price_signals.png"])
        plt.close(fig)
    return paths
