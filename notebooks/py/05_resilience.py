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
# **Question.** When Redis (L2) is cut or slowed, or L3's database connections are killed, while recorded BTC-PERP 1m candles replay through
# the real signal path, does every signal still get served, how fast does the breaker notice and
# recover, and is any write lost?
#
# *Real run* (`lab.fault_scenarios.run_real`): the recording (the bundled S&P 500 sample when
# `../shared/data` is absent) goes feed → cache manager → strategy blocks; L2 is a
# `fakeredis.TcpFakeServer` on loopback behind the real `TcpProxy`, which the real `FaultSchedule`
# cuts or slows; `ErrorRecovery` (`redis_reconnect`) brings L2 back; afterwards every L3 entry is read
# back from L2. L3 is a fresh SQLite file. The replay's market span is mapped onto the scenario's
# 120 s. A `faults.pg.down_*` window ends L3's connections at every step inside it: on PostgreSQL
# `pg_terminate_backend` on this run's own backends, here on SQLite (no server process) the
# equivalent, closing the handle's connection. *Simulated run:* the SimPy `fault_injection` model on
# the same `faults.redis.*` windows (it has no L3 fault: "faults modelled" says so).
# A test (`tests/lab/test_fault_scenarios.py`) runs the same scenario on the real Redis and PostgreSQL.

# %% tags=["parameters"]
SEED = 0
DURATION = 120.0     # scenario seconds
ROWS = 20_000        # candles of the recording replayed
SCENARIOS = {
    "Redis disconnect": {"faults.redis.down_at": 30.0, "faults.redis.down_for": 40.0},
    "Redis latency": {"faults.redis.slow_at": 30.0, "faults.redis.slow_for": 40.0,
                      "faults.redis.slow_factor": 3.0, "faults.redis.slow_latency": 0.002},
    "PostgreSQL backend termination": {"faults.pg.down_at": 30.0, "faults.pg.down_for": 40.0},
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
# The comparison table, one row per scenario and world (the real replay runs on a manual market clock,
# so it has no wall latencies to show: its L2 P50/P99 are NaN; the model's are simulated ms):

# %%
pd.set_option("display.max_columns", 20)
pd.concat({name: out["table"] for name, out in runs.items()}).T

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
