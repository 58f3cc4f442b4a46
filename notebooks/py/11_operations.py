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
# `ErrorHandler`/`AlertManager`, the adaptive layer); every figure is simulated and seeded.

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
print(f"- learning cycle: {int(lc['cycles'])} cycles, {int(lc['adaptations'])} adaptations, "
      f"L1 hit ratio {lc['l1_hit_ratio']:.3f}; with prefetching {t['prefetch']['l1_hit_ratio']:.3f} "
      f"(accuracy {t['prefetch']['prefetch_accuracy']:.3f}, coverage {t['prefetch']['prefetch_coverage']:.3f}).")
