# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Gateway diagrams: signal flow, request pipeline, API keys, sessions
#
# **Question.** Through the gateway's four diagrams, where does a request spend its (simulated) time,
# and how many requests do auth and rate limiting refuse under a mixed client population?
#
# Each SimPy model drives the real objects on simulated time: `trading_signal` and
# `request_pipeline` the real `SignalPipeline` (limiter, auth, cache manager, strategy engine,
# formatter), `api_key_auth` the real `AuthService` (signatures, scopes, nonces) with a population
# of good, badly signed, out-of-scope and replaying clients, `session_auth` the real session store.
# Only I/O time is simulated; every figure below is simulated and seeded.

# %% tags=["parameters"]
SEED = 0

# %%
import pandas as pd

from lab import diagrams

pd.set_option("display.max_rows", 80)
logs = diagrams.run_models(["trading_signal", "request_pipeline", "api_key_auth", "session_auth"], seed=SEED)
diagrams.summary_table(logs)

# %% [markdown]
# Time per step of the signal flow (simulated ms):

# %%
diagrams.per_step(logs["trading_signal"])

# %% [markdown]
# The request pipeline adds the load balancer and gateway in front of the same steps:

# %%
diagrams.per_step(logs["request_pipeline"])

# %% [markdown]
# Refusals by the real `AuthService` and session store under the mixed population:

# %%
pd.concat({n: diagrams.per_step(logs[n])[["rows", "not ok"]] for n in ("api_key_auth", "session_auth")})

# %% [markdown]
# ## Conclusion (computed)

# %%
t = diagrams.summary_table(logs)
ts, auth, sess = t["trading_signal"], t["api_key_auth"], t["session_auth"]
print(f"- signal flow: {int(ts['n_hit'])} hits / {int(ts['n_miss'])} misses, P99 {ts['p99'] * 1000:.3f} ms "
      f"(simulated), request pipeline P99 {t['request_pipeline']['p99'] * 1000:.3f} ms.")
print(f"- API keys: {int(auth['ok'])} of {int(auth['requests'])} accepted, {int(auth['rejected'])} refused "
      f"({', '.join(f'{k[8:]}={int(v)}' for k, v in auth.items() if str(k).startswith('refused_') and v == v)}).")
print(f"- sessions: {int(sess['logins'])} logins, {int(sess['refreshes'])} refreshes, "
      f"{int(sess['rejected'])} refused; session cache hit ratio {sess['session_cache_hit_ratio']:.3f}.")
