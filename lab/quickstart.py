"""Notebook 01 and the README's main job: recorded data → feed → cache hierarchy → strategy → signals.

:func:`run_quickstart` replays the bundled daily samples (S&P 500 and NASDAQ Composite from the
``arch`` package) through the real :class:`~supreme.market.ReplayConnector` and
:class:`~supreme.market.MarketDataFeed`.  Each new daily candle wakes ``replicas`` service replicas;
each has its own L1 but shares one L2 (fakeredis, or Redis when ``SUPREME_REDIS_URL`` is set) and one
L3 (a fresh SQLite file, or PostgreSQL when ``SUPREME_DATABASE_URL`` is set), and each asks its
:class:`~supreme.strategy.StrategyEngine` for a signal ``requests_per_candle`` times (e.g. the
strategy and a dashboard).  So per candle: the first request goes to the source and fills every
tier, the other requests of that replica hit its L1, the other replicas find the value in L2.

Time is a :class:`~supreme.clock.ManualClock` moved one day per poll, so the run is as fast as the
code and gives the same signals and hit ratios every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lab.embedded import backend_names, shared_tiers
from supreme.clock import ManualClock, SystemClock
from supreme.events import NULL_LOG, EventLog
from supreme.market import MarketDataFeed, ReplayConnector, load_sample
from supreme.market.feed import Update
from supreme.strategy import RuleConfig, StrategyEngine

__all__ = [
    "DAY_MS",
    "QuickstartResult",
    "format_result",
    "plot_signals",
    "plot_tiers",
    "run_quickstart",
    "tier_table",
    "write_report",
]

DAY_MS = 86_400_000
QuickstartResult = dict[str, Any]


def tier_table(managers: list[Any]) -> pd.DataFrame:
    """Hits, misses and hit ratio per tier, summed over every replica's cache manager."""
    frames = [m.stats()[["hits", "misses"]] for m in managers]
    total = pd.concat(frames).groupby(level=0, sort=False).sum()
    total = total.reindex([t for t in ("L1", "L2", "L3", "source") if t in total.index])
    total["lookups"] = total["hits"] + total["misses"]
    total.loc["source", "lookups"] = total.loc["source", "hits"] + total.loc["source", "misses"]
    total["hit_ratio"] = (total["hits"] / total["lookups"].where(total["lookups"] > 0)).round(4)
    total = total.astype({"hits": "int64", "misses": "int64", "lookups": "int64"})
    total.index.name = "tier"
    return total[["lookups", "hits", "misses", "hit_ratio"]]


def plot_signals(prices: dict[str, pd.DataFrame], signals: pd.DataFrame) -> Any:
    """Close price per symbol with the BUY/SELL signals marked."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(prices), 1, figsize=(11, 3.4 * len(prices)), sharex=True, squeeze=False,
                             layout="constrained")
    for ax, (sym, frame) in zip(axes.flat, prices.items(), strict=True):
        when = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
        ax.plot(when, frame["close"], lw=0.9, color="tab:gray", label=f"{sym} close")
        sig = signals[signals["symbol"] == sym]
        for action, marker, color in (("BUY", "^", "tab:green"), ("SELL", "v", "tab:red")):
            s = sig[sig["action"] == action]
            ax.scatter(
                s["date"],
                s["close"],
                marker=marker,
                color=color,
                s=18,
                label=f"{action} ({len(s)})",
                zorder=3,
            )
        ax.set_ylabel("close")
        # the legend sits above the panel, right of the title: off the price line
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3)
        ax.set_title(f"{sym}: daily close and the strategy engine's signals", loc="left")
    axes.flat[-1].set_xlabel("session date (UTC)")
    return fig


def plot_tiers(tiers: pd.DataFrame) -> Any:
    """Lookups answered per tier (hits) and hit ratio."""
    import matplotlib.pyplot as plt

    t = tiers.drop(index="source", errors="ignore")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    ax1.bar(t.index, t["hits"], color="tab:green", label="hits")
    ax1.bar(t.index, t["misses"], bottom=t["hits"], color="tab:red", alpha=0.6, label="misses")
    ax1.set_title("lookups per tier", loc="left")
    ax1.set_xlabel("tier")
    ax1.set_ylabel("lookups")
    ax1.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
    ax2.bar(t.index, t["hit_ratio"].fillna(0.0), color="tab:blue")
    for i, v in enumerate(t["hit_ratio"].fillna(0.0)):
        ax2.text(i, v, f"{v:.2f}", ha="center", va="bottom")
    ax2.set_ylim(0, 1.1)
    ax2.set_title("hit ratio per tier")
    ax2.set_xlabel("tier")
    ax2.set_ylabel("hit ratio")
    return fig


def _replay(
    prices: dict[str, pd.DataFrame],
    candles: int,
    replicas: int,
    requests_per_candle: int,
    l1_capacity: int,
    rules: RuleConfig,
    event_log: EventLog,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    warm = rules.history
    first = min(int(f["timestamp"].iloc[warm - 1]) for f in prices.values())
    clock = ManualClock(first / 1000.0 + DAY_MS / 1000.0)  # `warm` candles closed: the engine can start
    connector = ReplayConnector(prices, clock, "1d")
    rows: list[dict[str, Any]] = []
    with shared_tiers(clock) as tiers:
        engines = []
        for _ in range(replicas):
            cache = tiers.manager(clock, l1_capacity=l1_capacity, event_log=event_log)
            feed = MarketDataFeed(connector, clock, cache=cache, event_log=event_log)
            engines.append(StrategyEngine(feed, clock, rules, event_log=event_log))
        driver = MarketDataFeed(connector, clock, event_log=event_log)  # the subscription side
        news: list[Update] = []
        for sym in prices:
            driver.subscribe(sym, "candles", news.append, timeframe="1d")
        end = max(int(f["timestamp"].iloc[-1]) for f in prices.values()) / 1000.0 + DAY_MS / 1000.0
        while clock.now() < end:
            clock.advance(DAY_MS / 1000.0)
            driver.poll()
            for upd in news:
                for r, engine in enumerate(engines):
                    for k in range(requests_per_candle):
                        sig = engine.generate(upd["symbol"], "1d")
                        if r == 0 and k == 0:
                            rows.append(
                                {
                                    "symbol": sig.symbol,
                                    "as_of": sig.as_of,
                                    "action": sig.action.value,
                                    "confidence": round(sig.confidence, 4),
                                    "close": float(upd["data"][4]),
                                }
                            )
            news.clear()
        stats = tier_table(tiers.managers)
        backends = backend_names(tiers.settings)
    signals = pd.DataFrame.from_records(rows)
    signals.insert(1, "date", pd.to_datetime(signals["as_of"] - DAY_MS, unit="ms", utc=True))
    return signals, stats, backends


def write_report(
    path: Path, summary: dict[str, Any], tiers: pd.DataFrame, counts: pd.DataFrame, figures: dict[str, Path]
) -> Path:
    """The Markdown report: what ran, the per-tier table, the signal counts, the figures."""
    lines = [
        "# Supreme quickstart",
        "",
        f"Replayed {summary['candles']} daily candles per symbol ({', '.join(summary['symbols'])}, "
        f"{summary['first']} to {summary['last']}) through ReplayConnector → MarketDataFeed → "
        f"CacheManager (L1 memory, L2 {summary['backends']['L2']}, L3 {summary['backends']['L3']}) → "
        f"StrategyEngine, with {summary['replicas']} replicas x {summary['requests_per_candle']} requests "
        "per candle.",
        "",
        "## Cache hierarchy",
        "",
        "| tier | lookups | hits | misses | hit ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for tier, r in tiers.to_dict("index").items():
        ratio = "-" if pd.isna(r["hit_ratio"]) else f"{r['hit_ratio']:.3f}"
        lines.append(f"| {tier} | {r['lookups']} | {r['hits']} | {r['misses']} | {ratio} |")
    lines += ["", "## Signals", "", "| symbol | BUY | SELL | HOLD |", "|---|---:|---:|---:|"]
    for sym, r in counts.to_dict("index").items():
        lines.append(f"| {sym} | {r.get('BUY', 0)} | {r.get('SELL', 0)} | {r.get('HOLD', 0)} |")
    lines += ["", "## Figures", ""] + [f"![{k}]({p.name})" for k, p in figures.items()]
    lines += ["", f"Wall time: {summary['wall_seconds']:.2f} s.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_quickstart(
    out_dir: str | Path = "out",
    *,
    symbols: tuple[str, ...] = ("SPX", "IXIC"),
    candles: int = 500,
    replicas: int = 2,
    requests_per_candle: int = 2,
    l1_capacity: int = 64,
    event_log: EventLog = NULL_LOG,
) -> QuickstartResult:
    """Run the quickstart; write ``signals.png``, ``cache_tiers.png`` and ``report.md`` into ``out_dir``.

    Returns ``{"report", "figures", "signals", "tiers", "summary"}`` (paths, DataFrames, a dict).
    """
    if candles < 1 or replicas < 1 or requests_per_candle < 1:
        raise ValueError(
            f"candles, replicas and requests_per_candle must be >= 1, got "
            f"{candles}, {replicas}, {requests_per_candle}"
        )
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rules = RuleConfig()
    prices = {s: load_sample(s).iloc[-(candles + rules.history) :].reset_index(drop=True) for s in symbols}
    wall_clock = SystemClock()  # the report states how long the replay took in real seconds
    t0 = wall_clock.now()
    signals, tiers, backends = _replay(
        prices, candles, replicas, requests_per_candle, l1_capacity, rules, event_log
    )
    wall = wall_clock.now() - t0
    counts = signals.groupby(["symbol", "action"]).size().unstack(fill_value=0).reindex(list(symbols))
    shown = {s: f.iloc[rules.history :] for s, f in prices.items()}
    figures: dict[str, Path] = {}
    for name, fig in (("signals", plot_signals(shown, signals)), ("cache_tiers", plot_tiers(tiers))):
        figures[name] = out / f"{name}.png"
        fig.savefig(figures[name])
        plt.close(fig)
    ratios = tiers["hit_ratio"].to_dict()
    summary = {
        "symbols": list(symbols),
        "candles": candles,
        "replicas": replicas,
        "requests_per_candle": requests_per_candle,
        "backends": backends,
        "first": str(signals["date"].min().date()),
        "last": str(signals["date"].max().date()),
        "signals": len(signals),
        "l1_hit_ratio": float(ratios["L1"]),
        "l2_hit_ratio": float(ratios["L2"]),
        "source_fetches": int(tiers["hits"].to_dict()["source"]),
        "wall_seconds": wall,
    }
    report = write_report(out / "report.md", summary, tiers, counts, figures)
    return {"report": report, "figures": figures, "signals": signals, "tiers": tiers, "summary": summary}


def format_result(result: QuickstartResult, *, route: bool = False) -> str:
    """What ran, the tier table and where the report and figures are, as the commands print it.

    ``route`` names the path (feed -> cache -> strategy), for ``supreme demo`` where the quickstart
    follows the plain replay.
    """
    s = result["summary"]
    head = f"quickstart: {s['signals']} signals for {', '.join(s['symbols'])} ({s['first']} to {s['last']})"
    tiers = f"L2 {s['backends']['L2']}, L3 {s['backends']['L3']}"
    head += f" through feed -> cache ({tiers}) -> strategy" if route else f", {tiers}"
    lines = [head, result["tiers"].to_string(), f"report:  {result['report']}"]
    lines += [f"{name + ':':8s} {path}" for name, path in result["figures"].items()]
    return "\n".join(lines)
