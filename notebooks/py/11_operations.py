# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Operations diagrams: breaker, escalation, connection pool, learning cycle
#
# **Question.** How do the operations paths behave: how many calls the breaker turns away during a
# Redis failure, how long a critical incident waits for the human operator (and how that moves with
# the operator's acknowledgement delay), whether the connection pool keeps up with bursts, and what the
# learning cycle (and the prefetch engine it feeds) adapts on the live manager?
#
# Each SimPy model drives the real objects on simulated time (`CircuitBreaker`, `ErrorRecovery`,
# `ErrorHandler`/`AlertManager`, the adaptive layer); every figure is simulated and seeded, except the
# connection pool's real column, measured on the real psycopg_pool pool and stored with its provenance.

# %% tags=["parameters"]
SEED = 0
ACK_MEDIANS = [30.0, 120.0, 600.0]   # s, the operator's median acknowledgement delay
LOAD_RATES = [200.0, 2000.0, 8000.0]  # requests/s offered to the connection pool

# %%
import pandas as pd

from lab import diagrams

logs = diagrams.run_models(["circuit_breaker", "error_escalation", "connection_pool", "learning_cycle",
                            "prefetch"], seed=SEED)
diagrams.summary_table(logs)

# %% [markdown]
# Error escalation with a slower or faster human operator (`operator.ack_median`; the p99 is kept at
# least as long):

# %%
ack = diagrams.sweep("error_escalation", "operator.ack_median", ACK_MEDIANS, seed=SEED,
                     base={"operator.ack_p99": 1800.0})
ack[["critical_incidents", "escalations", "time_to_ack", "time_to_resolve"]]

# %% [markdown]
# The connection pool (min 2, max 10 connections) under heavier bursts:

# %%
pool = diagrams.sweep("connection_pool", "load.rate", LOAD_RATES, seed=SEED, base={"duration": 5.0})
pool[["requests", "served", "timeouts", "queued", "connections", "wait_p50", "wait_p99"]]

# %% [markdown]
# ### The connection pool beside the real psycopg_pool pool
#
# The model in `pool.growth = "psycopg"` mode follows psycopg_pool 3's own algorithm (one background
# opener growing the pool while clients wait, a `check_connection` on each hand-out, `max_idle`
# shrinking) on the **real pool configuration**, read from the `psycopg_pool.ConnectionPool` that
# `supreme.db.Database` builds, and is **calibrated from that pool's own `get_stats()` counters**
# (connect time `connections_ms / connections_num`, service time `usage_ms / served`) of a real open-loop
# burst on PostgreSQL (`sim.poolcal.run_real_burst`: request *i* due at *i*/rate, each holding its
# connection for `pg_sleep(20 ms)`).  SQLite, the embedded default, has no pool, so this notebook reads
# the real figures stored in `sim/models/defaults/connection_pool_calibration.json` (measured on the
# machine and date below) and runs the model on them; `lab.pool.pool_comparison(path, url=...)`
# measures afresh on a PostgreSQL server.  The first burst is the one calibrated on; the second, lighter
# one (no timeouts, so its P99 is not pinned by the timeout) is out of sample.

# %%
from lab import pool as pool_lab

prov = pool_lab.provenance()
print(f"real figures measured {prov['created']} on {prov['machine']}, {prov['backend']}")
print("real pool config:", {k: prov["config"][k] for k in ("min_size", "max_size", "timeout", "max_idle",
                                                            "max_waiting", "check")})
for label, text in prov["bursts"].items():
    print(f"{label}: {text}")
print("calibrated:", {k: round(v * 1000, 3) for k, v in prov["parameters"].items() if k.endswith("_s")}, "ms")
real_vs_sim = pool_lab.pool_comparison()
real_vs_sim

# %% [markdown]
# The burst runs `Database(url, min_size=1, max_size=4, timeout=0.5)` so that four connections saturate.
# The project's default pool (`Database`'s own defaults, read from its signature and psycopg_pool's) under
# the same calibrated burst, simulated only:

# %%
from sim import poolcal

default_cfg = poolcal.default_pool_config()
cal_doc = poolcal.read_calibration("shipped")
what_if = poolcal.simulate_burst(cal_doc, {**cal_doc["burst"], **{k: default_cfg[k] for k in ("min_size", "max_size", "timeout")}})
print("project default pool:", {k: default_cfg[k] for k in ("min_size", "max_size", "timeout", "max_idle", "max_waiting")})
pd.Series({k: what_if[k] for k in ("requests", "served", "timeouts", "connections_num")}
          | {"wait P50 ms": round(what_if["wait_p50"] * 1000, 3), "wait P99 ms": round(what_if["wait_p99"] * 1000, 3)})

# %% [markdown]
# Steps of the breaker's failure-recovery diagram:

# %%
diagrams.per_step(logs["circuit_breaker"])

# %% [markdown]
# ## Conclusion (computed)

# %%
t = diagrams.summary_table(logs)
cb, lc = t["circuit_breaker"], t["learning_cycle"]
print(f"- breaker: {int(cb['requests'])} requests, {int(cb['rejected'])} turned away while open, "
      f"{int(cb['errors'])} errors reached callers, opened {int(cb['opened'])}x, closed {int(cb['closed'])}x.")
slowest, fastest = ack["time_to_ack"].iloc[-1], ack["time_to_ack"].iloc[0]
print(f"- escalation: time to acknowledge {fastest:.1f} s with a {ACK_MEDIANS[0]:g} s operator, "
      f"{slowest:.1f} s with a {ACK_MEDIANS[-1]:g} s one (slower operator, later ack: {slowest > fastest}).")
print(f"- pool: timeouts per load {dict(zip(LOAD_RATES, pool['timeouts'].astype(int), strict=True))}, "
      f"wait P99 at the heaviest load {pool['wait_p99'].iloc[-1] * 1000:.3f} ms (simulated).")
cal_burst, oos_burst = real_vs_sim.index.get_level_values("burst").unique()[:2]
rv = real_vs_sim.loc[cal_burst]
ov = real_vs_sim.loc[oos_burst]
print(f"- pool vs the real psycopg_pool (calibration burst): wait P99 {rv.loc['wait P99 ms', 'real']:.1f} ms real, "
      f"{rv.loc['wait P99 ms', 'sim']:.1f} ms simulated ({abs(rv.loc['wait P99 ms', 'sim/real'] - 1) * 100:.1f}% apart), "
      f"P50 {rv.loc['wait P50 ms', 'real']:.1f} vs {rv.loc['wait P50 ms', 'sim']:.1f} ms, timeouts "
      f"{int(rv.loc['timeouts', 'real'])} real vs {int(rv.loc['timeouts', 'sim'])} simulated"
      + (f" (the served P99 sits at the {prov['config']['timeout']:g} s acquire timeout, so P50 and timeouts are "
         f"what this burst tests)." if rv.loc['wait P99 ms', 'real'] >= 950 * prov["config"]["timeout"] else "."))
print(f"- out of sample (lighter burst): wait P99 {ov.loc['wait P99 ms', 'real']:.2f} ms real vs "
      f"{ov.loc['wait P99 ms', 'sim']:.2f} ms simulated (sim/real {ov.loc['wait P99 ms', 'sim/real']:.2f}); "
      f"queued {int(ov.loc['queued (requests_queued)', 'real'])} real vs "
      f"{int(ov.loc['queued (requests_queued)', 'sim'])} simulated "
      f"({'within' if abs(ov.loc['wait P99 ms', 'sim/real'] - 1) <= 0.3 else 'outside'} 30% on P99; the real pool "
      f"queues {'more' if ov.loc['queued (requests_queued)', 'sim/real'] < 1 else 'no more'} than the model below "
      f"saturation).")
print(f"- the project's default pool ({default_cfg['min_size']}..{default_cfg['max_size']} connections, "
      f"{default_cfg['timeout']:g} s timeout) on the same burst (simulated): {what_if['timeouts']} timeouts, "
      f"wait P99 {what_if['wait_p99'] * 1000:.1f} ms.")
print(f"- learning cycle: {int(lc['cycles'])} cycles, {int(lc['adaptations'])} adaptations, "
      f"L1 hit ratio {lc['l1_hit_ratio']:.3f}; with prefetching {t['prefetch']['l1_hit_ratio']:.3f} "
      f"(accuracy {t['prefetch']['prefetch_accuracy']:.3f}, coverage {t['prefetch']['prefetch_coverage']:.3f}).")
