# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Eviction tuning: which policy wins where?
#
# **Question.** For the access patterns of a trading-signal service — dashboards cycling through
# watchlists, strategies walking candles, volatility bursts, shifting popularity, history scans —
# and for a standard storage trace, which eviction policy gives the lowest miss ratio at each cache
# size, and how far is it from the offline optimum (Belady's OPT)?
#
# Every policy is the project's own implementation (`supreme.cache.policies`), run through the
# compiled kernels of `supreme.cache.traces.simulate`. The standard trace is libCacheSim's
# cloudPhysics sample from the shared traces folder; if it is absent the notebook says so and uses
# the workloads only. Beside them, a **captured service trace** (`lab.service_trace`): the real
# signal pipeline serving a seeded request stream over 12 markets of the shared exchange recordings
# (1m to 1h; the bundled SPX/IXIC daily samples when `../shared` is absent, and the printed line
# says which), its cache manager's own get sequence recorded as it happened: a key names the newest
# closed candle, so once the next candle closes its entry is never asked for again. The first 10 % of each
# trace warms the cache and is not counted.

# %% tags=["parameters"]
N_REQUESTS = 20_000          # requests per market-data workload
SEED = 0
FRACTIONS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4]   # cache sizes as fractions of the working set
MAX_TRACE_REQUESTS = None    # cut the standard trace (None: all of it)
SERVICE_REQUESTS = 5_000     # signal requests served for the captured service trace

# %%
from lab import eviction
from lab.service_trace import capture_service_trace
from lab.style import use_style
from supreme.market import load_sample

use_style()
traces = eviction.market_workloads(N_REQUESTS, seed=SEED, prices=load_sample("SPX"))
standard, trace_note = eviction.standard_trace(MAX_TRACE_REQUESTS)
if standard is not None:
    traces["cloudPhysicsIO"] = standard
service = capture_service_trace(SERVICE_REQUESTS, seed=SEED)
traces["service (captured)"] = service.trace
print(trace_note)
print(f"captured service trace: {service.source}; {service.distinct_keys:,} keys, "
      f"{service.one_hit_share:.0%} of them requested once")
for name, tr in traces.items():
    print(f"{name:18s} {len(tr):>7,} requests")

# %%
mrc = eviction.mrc_table(traces, fractions=FRACTIONS)
fig = eviction.plot_mrcs(mrc)

# %% [markdown]
# Each panel is one workload; the dashed black line is OPT, the bound for any online policy.
# Below, the mean distance of each policy from that bound (lower is better).

# %%
fig = eviction.plot_regret(mrc)

# %% [markdown]
# The best online policy per workload and cache size (% of the working set; ties go to the policy
# listed first in the registry):

# %%
eviction.winner_grid(mrc)

# %% [markdown]
# ## Conclusion (computed from the table above)

# %%
print(eviction.conclusion(mrc, trace_note))
