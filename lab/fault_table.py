"""The comparison of a fault scenario's two worlds: one row per world, the same columns for every kind.

Columns: requests served / wrong / failed, where the answers came from (tier counts), errors per
tier and at the exchange, retries, the faulted target's breaker (openings, transitions, recovery
time after the last window), latency P50/P99 during and after the fault (of the faulted tier's
calls, and of whole answers), writes checked and lost on read-back.  A value a world cannot measure
is NaN (the replay runs on a manual market clock: no wall latencies, no per-request answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from supreme.resilience.fault_schedule import FaultSchedule

__all__ = ["compare", "compare_stream", "conclusion", "plot_timelines", "stream_deliveries", "transitions"]

_BREAKER = {"redis": ("L2", "redis"), "pg": ("L3", "L3"), "pool": ("L3", "L3"),
            "exchange": ("exchange", "exchange"), "ratelimit": ("exchange", "exchange")}
_TIER = {"redis": "Redis_Cache_L2", "pg": "PostgreSQL_L3", "pool": "PostgreSQL_L3",
         "exchange": "Exchange", "ratelimit": "Exchange"}
_COLOR = {"down": "tab:red", "slow": "tab:orange", "error": "tab:purple"}


def _target(schedule: FaultSchedule) -> str:
    return sorted(schedule.windows, key=lambda w: w.start)[0].target if schedule.windows else "redis"


def transitions(log: pd.DataFrame, breaker: str) -> pd.DataFrame:
    """The transitions of the breakers whose name contains ``breaker``: time and state entered."""
    tr = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    tr = tr[tr["key"].astype(str).str.contains(breaker, regex=False)]
    return tr[["time", "outcome"]].rename(columns={"outcome": "to"}).reset_index(drop=True)


def _pct_ms(values: np.ndarray) -> tuple[float, float]:
    if not len(values):
        return float("nan"), float("nan")
    p50, p99 = np.percentile(values, [50, 99]) * 1000.0
    return round(float(p50), 4), round(float(p99), 4)


def _tier_latency(log: pd.DataFrame, component: str, lo: float, hi: float) -> tuple[float, float]:
    rows = log[(log["component"] == component) & (log["time"] >= lo) & (log["time"] < hi)]
    return _pct_ms(rows["latency"].dropna().to_numpy(dtype=float))


def _answers(log: pd.DataFrame) -> pd.DataFrame:
    """One row per answered request: its start, its end and its outcome (empty when there are none)."""
    ans = log[(log["operation"] == "answer") & log["component"].isin(["Client", "System_Components"])]
    req = log[(log["operation"] == "request") & log["component"].isin(["Client", "Chaos_Engine"])]
    start = req.drop_duplicates("request_id").set_index("request_id")["time"]
    out = ans[["request_id", "time", "outcome"]].rename(columns={"time": "end"})
    out = out.assign(start=out["request_id"].map(start))
    return out.dropna(subset=["start"])


def _answer_latency(ans: pd.DataFrame, lo: float, hi: float) -> tuple[float, float]:
    rows = ans[(ans["start"] >= lo) & (ans["start"] < hi) & (ans["outcome"] != "failed")]
    return _pct_ms((rows["end"] - rows["start"]).to_numpy(dtype=float))


def _from_tiers(log: pd.DataFrame) -> str:
    gets = log[(log["component"] == "Cache_Manager") & (log["operation"] == "get")]
    if not len(gets):
        return "-"
    tier = gets["tier"].where(gets["outcome"] == "hit", "source").fillna("source")
    counts = tier.value_counts()
    return " · ".join(f"{t} {int(counts[t])}" for t in ("L1", "L2", "L3", "source") if t in counts)


def _world_row(log: pd.DataFrame, schedule: FaultSchedule, duration: float, world: int) -> dict[str, Any]:
    comp, out = log["component"], log["outcome"]
    target = _target(schedule)
    end = max((w.end for w in schedule.windows if np.isfinite(w.end)), default=0.0)
    start = min((w.start for w in schedule.windows), default=0.0)
    tr = transitions(log, _BREAKER[target][world])
    closed_after = tr[(tr["to"] == "closed") & (tr["time"] >= end)]["time"]
    opened = int((tr["to"] == "open").sum())
    recovery = round(float(closed_after.iloc[-1]) - end, 3) if opened and len(closed_after) else 0.0
    tier = _TIER[target]
    during, after = _tier_latency(log, tier, start, end), _tier_latency(log, tier, end, duration)
    ans = _answers(log)
    a_during, a_after = _answer_latency(ans, start, end), _answer_latency(ans, end, duration)
    return {"answered from": _from_tiers(log),
            "L2 errors": int(((comp == "Redis_Cache_L2") & (out == "error")).sum()),
            "L3 errors": int(((comp == "PostgreSQL_L3") & (out == "error")).sum()),
            "exchange errors": int(((comp == "Exchange") & out.isin(["error", "rate_limited"])).sum()),
            "retries": int(((comp == "Error_Recovery") & (log["operation"] == "retry")
                            & (out == "retry")).sum()),
            "journaled": int(comp.isin(["Redis_Cache_L2", "PostgreSQL_L3"]).mul(out == "journaled").sum()),
            "breaker": _BREAKER[target][world], "breaker opened": opened,
            "transitions": " → ".join(tr["to"]) or "-", "recovery s after fault": recovery,
            "tier P50 ms during": during[0], "tier P99 ms during": during[1],
            "tier P50 ms after": after[0], "tier P99 ms after": after[1],
            "answer P50 ms during": a_during[0], "answer P99 ms during": a_during[1],
            "answer P50 ms after": a_after[0], "answer P99 ms after": a_after[1]}


def compare(real: dict[str, Any], sim: pd.DataFrame, schedule: FaultSchedule, duration: float = 120.0,
            modelled: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per world: served, errors, breaker, recovery time, latency during/after, writes lost."""
    from sim.runner import get_model

    s = real.get("summary") or real["run"].summary
    r = {"world": "real", "served": s["signals"], "wrong": s.get("wrong", 0), "failed": s.get("failed", 0),
         **_world_row(real["log"], schedule, duration, 0),
         "writes checked": s["l3_entries"], "writes lost": s["lost"],
         "L3 backends ended": s["pg_terminated"], "faults modelled": "all"}
    if "summary" not in real:  # the replay runs on a manual market clock: its event log has no wall latency
        for col in [c for c in r if " P" in c and " ms " in c]:
            r[col] = float("nan")
    ss = get_model("fault_injection").summarize(sim)
    val = sim.attrs.get("validations") or [{}]
    m = {"world": "sim", "served": ss["answered"], "wrong": ss["wrong"], "failed": ss["failed"],
         **_world_row(sim, schedule, duration, 1),
         "writes checked": int(val[-1].get("writes", 0)), "writes lost": int(val[-1].get("lost", 0)),
         "L3 backends ended": 0,
         "faults modelled": ", ".join(sorted({w.target for w in schedule.windows if w.target in modelled}))
         or "none"}
    return pd.DataFrame([r, m]).set_index("world")


def stream_deliveries(log: pd.DataFrame, received: Mapping[str, list[tuple[int, Any]]]) -> pd.DataFrame:
    """The ws_streaming model's deliveries: client, seq, skipped, time, delay (s since the candle closed)."""
    import json

    upd = log[(log["component"] == "Client") & (log["operation"] == "update")]
    rows, seen = [], {c: 0 for c in received}
    for t, d in zip(upd["time"], upd["detail"], strict=True):
        info = json.loads(d)
        c = info["client"]
        _, ts = received[c][seen[c]]
        seen[c] += 1
        rows.append((c, int(info["seq"]), int(info.get("skipped", 0)), float(t), float(t) - ts / 1000.0))
    return pd.DataFrame(rows, columns=["client", "seq", "skipped", "time", "delay"])


def _stream_row(d: pd.DataFrame, stalled: str, schedule: FaultSchedule, duration: float, closed: int,
                cache_lost: int) -> dict[str, Any]:
    start = min(w.start for w in schedule.windows)
    end = max(min(w.end, duration) for w in schedule.windows)
    wrong = gaps = checked = 0
    for client, g in d.groupby("client"):
        seq = g["seq"].to_numpy()
        wrong += int((np.diff(seq) <= 0).sum())
        if client != stalled and len(seq):
            gaps += int(seq.max() - seq.min() + 1 - len(seq))
            checked += len(seq)
    mine = d[d["client"] == stalled]
    back = mine[mine["time"] >= end]["time"]
    during = d[(d["time"] >= start) & (d["time"] < end)]["delay"].to_numpy(dtype=float)
    after = d[d["time"] >= end]["delay"].to_numpy(dtype=float)
    p_during, p_after = _pct_ms(during), _pct_ms(after)
    return {"served": len(d), "wrong": wrong, "failed": gaps, "stalled received": len(mine),
            "coalesced away": int(mine["skipped"].sum()), "closed 4008": closed,
            "recovery s after fault": round(float(back.iloc[0]) - end, 3) if len(back) and not closed
            else float("nan"),
            "stalled max delay s": round(float(mine["delay"].max()), 3) if len(mine) else float("nan"),
            "delivery P50 ms during": p_during[0], "delivery P99 ms during": p_during[1],
            "delivery P50 ms after": p_after[0], "delivery P99 ms after": p_after[1],
            "writes checked": checked + 1, "writes lost": gaps + cache_lost, "faults modelled": "stream"}


def compare_stream(real: dict[str, Any], sim: pd.DataFrame, schedule: FaultSchedule,
                   duration: float = 120.0) -> pd.DataFrame:
    """A slow consumer, one row per world: updates served, the stalled client's coalescing, its close or
    catch-up, delivery delay during/after, updates lost (the fast clients' gaps, the cache read-back)."""
    from supreme.replay.stream_faults import deliveries

    run = real["run"]
    stalled = sorted(run.received)[-1]
    r = {"world": "real", **_stream_row(deliveries(run.received), stalled, schedule, duration,
                                        int(run.summary["closed_slow"]), int(not run.summary["cache_ok"]))}
    received = sim.attrs["received"]
    d = stream_deliveries(sim, received)
    forced = sim[(sim["component"] == "WebSocket_Gateway") & (sim["operation"] == "force_close")]
    closed = int(forced["detail"].astype(str).str.startswith("4008").sum())
    latest = sim.attrs.get("cache_latest", {})
    newest = max((ts for got in received.values() for _, ts in got), default=None)
    cache_lost = int(newest is not None and newest not in latest.values())
    m = {"world": "sim", **_stream_row(d, sorted(received)[-1], schedule, duration, closed, cache_lost)}
    return pd.DataFrame([r, m]).set_index("world")


_LEVEL = {"closed": 0, "half_open": 1, "open": 2, "forced_open": 2}


def plot_timelines(runs: Mapping[str, dict[str, Any]], duration: float = 120.0) -> Any:
    """One panel per scenario: the faulted target's breaker in each world on the scenario axis, faults
    shaded."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.3 * len(runs)), sharex=True, squeeze=False)
    for ax, (name, out) in zip(axes[:, 0], runs.items(), strict=True):
        target = _target(out["schedule"])
        if target == "stream":
            _plot_stream(ax, name, out)
            continue
        for world, log in enumerate((out["real"]["log"], out["sim"])):
            tr = transitions(log, _BREAKER[target][world])
            t = [0.0, *tr["time"], duration]
            levels = [0, *(_LEVEL[s] for s in tr["to"])]
            ax.step(t, [*levels, levels[-1]], where="post", label=("real", "sim")[world],
                    lw=2 if world == 0 else 1.2, ls="-" if world == 0 else "--")
        for w in out["schedule"].windows:
            ax.axvspan(w.start, min(w.end, duration), color=_COLOR.get(w.kind, "tab:red"), alpha=0.12)
        ax.set_yticks([0, 1, 2], ["CLOSED", "HALF_OPEN", "OPEN"])
        ax.set_title(f"{name}: {_BREAKER[target][0]} breaker (shaded: fault window)")
        ax.legend(loc="upper right")
    axes[-1, 0].set_xlabel("scenario time (s)")
    fig.tight_layout()
    return fig


def _plot_stream(ax: Any, name: str, out: dict[str, Any]) -> None:
    from supreme.replay.stream_faults import deliveries

    for world, d in enumerate((deliveries(out["real"]["run"].received),
                               stream_deliveries(out["sim"], out["sim"].attrs["received"]))):
        mine = d[d["client"] == sorted(d["client"].unique())[-1]]
        ax.step(mine["time"], mine["delay"], where="post", label=("real", "sim")[world],
                lw=2 if world == 0 else 1.2, ls="-" if world == 0 else "--")
    for w in out["schedule"].windows:
        ax.axvspan(w.start, w.end, color="tab:red", alpha=0.12)
    ax.set_ylabel("delay (s)")
    ax.set_title(f"{name}: the stalled client's delivery delay (shaded: not reading)")
    ax.legend(loc="upper right")


def conclusion(runs: Mapping[str, dict[str, Any]]) -> str:
    """Worded from the comparison tables: served, failed, lost, breaker and recovery per scenario and
    world."""
    lines = []
    for name, out in runs.items():
        t = out["table"]
        for world in t.index:
            r = t.loc[world]
            if "stalled received" in t:
                fate = ("closed 4008" if int(r["closed 4008"]) else
                        f"caught up {r['recovery s after fault']:g} s after the window")
                lines.append(f"- {name}, {world}: {int(r['served'])} updates served "
                             f"({int(r['wrong'])} out of order); the stalled client had "
                             f"{int(r['coalesced away'])} updates coalesced away and was {fate}; "
                             f"{int(r['writes lost'])} of {int(r['writes checked'])} updates lost "
                             f"(the other clients' gaps, the cache "
                             f"read-back).")
                continue
            opened = int(r["breaker opened"])
            breaker = (f"{r['breaker']} breaker opened {opened}x, closed {r['recovery s after fault']:g} s "
                       "after the fault ended" if opened else f"{r['breaker']} breaker stayed closed")
            lines.append(f"- {name}, {world}: {int(r['served'])} served ({int(r['wrong'])} wrong, "
                         f"{int(r['failed'])} failed), {int(r['L2 errors'])} L2 / {int(r['L3 errors'])} L3 / "
                         f"{int(r['exchange errors'])} exchange errors, {breaker}; {int(r['writes lost'])} "
                         f"of {int(r['writes checked'])} writes lost on read-back.")
    lost = sum(int(out["table"]["writes lost"].sum()) for out in runs.values())
    wrong = sum(int(out["table"]["wrong"].sum()) for out in runs.values())
    failing = [name for name, out in runs.items() if int(out["table"]["failed"].sum())]
    lines.append(f"Writes lost in every scenario and world: {lost}; wrong answers: {wrong}.")
    differ = []
    for name, out in runs.items():
        t = out["table"]
        col = "closed 4008" if "stalled received" in t else "breaker opened"
        if len({bool(int(v)) for v in t[col]}) > 1:
            differ.append(name)
    lines.append(f"Real and simulated worlds agree on whether the breaker opened (the stalled client was "
                 f"closed) in {len(runs) - len(differ)} of {len(runs)} scenarios"
                 + (f"; they differ in: {', '.join(differ)}." if differ else "."))
    lines.append("Scenarios where requests failed (the exchange refused past the retries and its "
                 f"breaker): {', '.join(failing) if failing else 'none'}.")
    return "\n".join(lines)
