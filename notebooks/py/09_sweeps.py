# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Sweeps: policy × cache size × prefetch threshold on dask.distributed
#
# **Question.** On the dashboard workload, which combination of demand eviction policy, cache size
# and prefetch threshold gives the lowest miss ratio, and what does it cost in source fetches?
#
# The grid runs on a `dask.distributed` `LocalCluster` (2 worker processes, 1 thread each); set
# `EXECUTOR` to a scheduler address (`tcp://host:8786`) to scale out, or to `"serial"`. Rows come
# back ordered by the grid, not by completion, and each carries its full scenario (dotted keys and
# one seed), so any cell can be re-run alone with `sweeps.run_one(row)`.

# %% tags=["parameters"]
EXECUTOR = "dask"
N_WORKERS = 2
GRID = {
    "cache.policy": ["lru", "arc", "s3fifo", "wtinylfu"],
    "cache.size": [20, 40, 80],
    "prefetch.threshold": [0.2, 0.4, 0.6, 1.0],   # 1.0 = no prefetching
}
BASE = {"workload.name": "dashboard_replay", "workload.n": 8000, "seed": 0}
SERVICE_BASE = {"workload.name": "service_captured", "workload.n": 3000, "seed": 0}  # signal requests

# %%
from lab import sweeps
from lab.style import use_style

use_style()
df = sweeps.run_grid(GRID, BASE, executor=EXECUTOR, n_workers=N_WORKERS)
print(f"{len(df)} rows x {df.shape[1]} columns:", ", ".join(df.columns))
df.head(8)

# %% [markdown]
# Miss ratio (lower is better) per cache size; "off" is the same policy with no prefetching:

# %%
fig = sweeps.plot_heatmaps(df, "miss_ratio")

# %% [markdown]
# …and what the prefetches cost: source fetches per request (demand + prefetch).

# %%
fig = sweeps.plot_heatmaps(df, "fetch_ratio")

# %% [markdown]
# Any row reproduces on its own (the same figure, from its scenario alone):

# %%
row = df.iloc[5]
again = sweeps.run_one(row[list(GRID) + list(BASE)].to_dict())
print(row["miss_ratio"] == again["miss_ratio"], again)

# %% [markdown]
# ## The same grid on a captured service trace
#
# `service_captured` is the cache manager's own get sequence while the real signal pipeline serves
# a seeded request stream over 12 markets of the shared exchange recordings (`lab.service_trace`;
# bundled daily samples when `../shared` is absent);
# each worker captures it from the scenario's seed alone.

# %%
svc = sweeps.run_grid(GRID, SERVICE_BASE, executor=EXECUTOR, n_workers=N_WORKERS)
fig = sweeps.plot_heatmaps(svc, "miss_ratio")

# %% [markdown]
# ## Conclusion (computed from the grids)

# %%
print(sweeps.conclusion(df))
print(sweeps.conclusion(svc))
