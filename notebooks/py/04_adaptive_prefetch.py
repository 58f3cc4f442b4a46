# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Adaptive caching and prefetching: does learning beat the best static policy?
#
# **Question.** The adaptive layer watches every access (a Hebbian "synaptic network" of key →
# successor links), and every 60 s learning cycle it may switch the eviction policy (when a sampled
# shadow cache of another policy wins with statistical confidence), move budget between demand and
# prefetch areas, and tune the prefetch threshold. Over time, does its miss ratio beat the best
# static policy chosen in hindsight — and how good are its prefetches (accuracy = used / issued,
# coverage = misses avoided / misses without prefetching, timeliness = arrived before needed)?
#
# Capacity is a fixed fraction of each workload's distinct keys. Prefetched entries live inside
# the same budget, so prefetching gets no extra room; `fetch ratio` counts every source fetch,
# demand and prefetch, per request. Beside the synthetic workloads, a **captured service trace**
# (`lab.service_trace`): the real signal pipeline serving a seeded request stream over 12 markets
# of the shared exchange recordings (bundled daily samples when `../shared` is absent), its cache
# manager's gets in the order they happened.

# %% tags=["parameters"]
N_REQUESTS = 20_000
SEED = 0
CAPACITY_FRAC = 0.1       # cache capacity as a fraction of distinct keys
THRESHOLD = 0.4           # initial prefetch threshold
TIMELINE_WORKLOAD = "dashboard_replay"
SERVICE_REQUESTS = 5_000  # signal requests served for the captured service trace

# %%
from lab import adaptive
from lab.service_trace import as_workload, capture_service_trace
from lab.style import use_style

use_style()
workloads = adaptive.make_workloads(N_REQUESTS, seed=SEED)
service = capture_service_trace(SERVICE_REQUESTS, seed=SEED)
workloads["service (captured)"] = as_workload(service)
print(f"captured service trace: {len(service.trace):,} requests, {service.distinct_keys:,} keys ({service.source})")
w = workloads[TIMELINE_WORKLOAD]
capacity = adaptive.capacity_for(w, CAPACITY_FRAC)
tl, log = adaptive.timeline(w, capacity, threshold=THRESHOLD)
fig = adaptive.plot_timeline(tl, log, f"{TIMELINE_WORKLOAD}: miss ratio per learning cycle (capacity {capacity})")

# %% [markdown]
# The adaptations behind that curve, as the `Cache_Adapter` logged them:

# %%
adaptive.adaptations(log).head(12)

# %% [markdown]
# ## Every workload: static policies vs the adaptive cache

# %%
cmp = adaptive.compare(workloads, CAPACITY_FRAC, THRESHOLD)
fig = adaptive.plot_compare(cmp)

# %%
cmp[["workload", "capacity", "best_static", "best_static_mr", "lru_mr", "adaptive_mr",
     "adaptive_prefetch_mr", "fetch_ratio", "accuracy", "coverage"]]

# %% [markdown]
# ## Conclusion (computed from the results above)

# %%
print(adaptive.conclusion(cmp, tl, log))
