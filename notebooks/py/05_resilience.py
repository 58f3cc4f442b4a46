# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Resilience: faults during a real replay, beside the model
#
# **Question.** When Redis (L2) is cut or slowed, L3's database connections are killed or its pool is
# exhausted while recorded BTC-PERP 1m candles replay through the real signal path — or the exchange
# errs or rate-limits the feed, or a stream subscriber stops reading — does every request still get
# served, how fast does the breaker notice and recover, and is any write lost?
#
# *Real run* (`lab.fault_scenarios.run_real`): the recording (the bundled S&P 500 sample when
# `../shared/data` is absent) goes feed → cache manager → strategy blocks; L2 is a
# `fakeredis.TcpFakeServer` on loopback behind the real `TcpProxy`, which the real `FaultSchedule`
# cuts or slows; `ErrorRecovery` (`redis_reconnect`) brings L2 back; afterwards every L3 entry is read
# back from L2. L3 is a fresh SQLite file. The replay's market span is mapped onto the scenario's
# 120 s. A `faults.pg.down_*` window ends L3's connections at every step inside it (in the model, the
# next L3 call pays for a new connection, as psycopg_pool's check replaces the dead one): on PostgreSQL
# `pg_terminate_backend` on this run's own backends, here on SQLite (no server process) the
# equivalent, closing the handle's connection. A `faults.pool.down_*` window holds every L3 connection
# (psycopg_pool's on PostgreSQL; here SQLite's write lock), so L3 calls wait 0.25 s and fail.
#
# Exchange errors (`faults.exchange.error_*`) and rate limits (`faults.ratelimit.down_*`) run on the
# feed world (`supreme.replay.exchange_faults`): a client asks the real `MarketDataFeed` for the newest
# 50 candles every 0.2 s; the feed's connector is the real `CcxtConnector` over a ccxt-shaped exchange
# serving the recording (no network) that raises `ccxt.ExchangeNotAvailable` / `ccxt.RateLimitExceeded`
# on the schedule; `exchange_retry` (full-jitter backoff, the `exchange` breaker) handles them.
# A slow consumer (`faults.stream.down_*`) runs on the stream world (`supreme.replay.stream_faults`): the
# real stream managers fed by the recording, the last of three subscribers reading nothing for the
# window (no sockets here; the socket-level stall is tested in `tests/api/test_stream_server.py`).
#
# *Simulated run:* the SimPy `fault_injection` model on the same windows (Redis → its L2, pg and pool →
# its L3, exchange and ratelimit → its source, through the same retry), or for the stream the
# `ws_streaming` model with the same stalled reader.
# A test (`tests/lab/test_fault_scenarios.py`) runs the same scenario on the real Redis and PostgreSQL.

# %% tags=["parameters"]
SEED = 0
DURATION = 120.0     # scenario seconds
ROWS = 10_000        # candles of the recording replayed
SCENARIOS = {
    "Redis disconnect": {"faults.redis.down_at": 30.0, "faults.redis.down_for": 40.0},
    "Redis latency": {"faults.redis.slow_at": 30.0, "faults.redis.slow_for": 40.0,
                      "faults.redis.slow_factor": 3.0, "faults.redis.slow_latency": 0.002},
    "PostgreSQL backend termination": {"faults.pg.down_at": 30.0, "faults.pg.down_for": 40.0},
    "Pool exhaustion": {"faults.pool.down_at": 30.0, "faults.pool.down_for": 40.0},
    "Exchange errors": {"faults.exchange.error_at": 30.0, "faults.exchange.error_for": 40.0,
                        "faults.exchange.error_rate": 0.5},
    "Exchange rate limit": {"faults.ratelimit.down_at": 30.0, "faults.ratelimit.down_for": 40.0},
    "Slow consumer (8 s)": {"faults.stream.down_at": 30.0, "faults.stream.down_for": 8.0},
    "Slow consumer (20 s)": {"faults.stream.down_at": 30.0, "faults.stream.down_for": 20.0},
}

# %%
import pandas as pd

from lab import fault_scenarios
from lab.style import use_style

use_style()
stream = fault_scenarios.load_recording(rows=ROWS)
print(f"{stream.symbol} {stream.timeframe}: {len(stream.frame)} candles")
runs = {name: fault_scenarios.run_scenario(faults, stream=stream, duration=DURATION, seed=SEED)
        for name, faults in SCENARIOS.items()}

# %% [markdown]
# The comparison table, one row per scenario and world ("tier" is the faulted target's: L2, L3 or the
# exchange). The real replay runs on a manual market clock, so it has no wall latencies to show: its
# P50/P99 are NaN; the feed world's clock moves only by the retry's backoff and the connector's rate
# spacing, so its answer latencies are those waits; the model's are simulated ms. "served" counts
# different things per world: the real replay's signals (one per replayed candle after warm-up), the
# model's answered requests (one per 0.2 s); compare the failures, errors, breaker and writes lost:

# %%
pd.set_option("display.max_columns", 20)
streamed = {name for name, out in runs.items() if "stalled received" in out["table"]}
pd.concat({name: out["table"] for name, out in runs.items() if name not in streamed}).T

# %% [markdown]
# The slow consumer, one row per scenario and world: updates served, what the stalled client got and
# how many updates it had coalesced away (as the `skipped` field told it), whether it was closed
# `4008` (behind past `max_behind` = 10 s) or caught up, the delivery delay (seconds from a candle's close; the real world has no network, so only the stall
# shows), and the updates lost (the other clients' sequence gaps, the stream cache's read-back):

# %%
pd.concat({name: runs[name]["table"] for name in SCENARIOS if name in streamed}).T

# %%
fig = fault_scenarios.plot_timelines(runs, DURATION)

# %% [markdown]
# A bad schedule is refused before anything runs, naming the fault:

# %%
for bad in ({"faults.redis.down_at": 30.0, "faults.redis.down_for": 40.0, "faults.redis.slow_at": 50.0},
            {"faults.kafka.down_at": 10.0}):
    try:
        fault_scenarios.check_faults(bad)
    except ValueError as exc:
        print(type(exc).__name__, "-", exc)

# %% [markdown]
# ## Conclusion (computed from the runs)

# %%
print(fault_scenarios.conclusion(runs))
