# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---


# %% [markdown]
# # 08 · Deployment: blue-green rollout with a rollback, and the HPA under a load ramp
#
# **Questions.** (1) When a new build goes out blue-green (Argo Rollouts style: green comes up,
# passes probes and a smoke test, traffic switches, analysis watches error rate and P99), how long
# until users are on the new build, and how much do users suffer when the build is bad and is rolled
# back? (2) Under a load ramp, how fast does a Kubernetes HPA (default tolerance 0.1, 15 s sync,
# 300 s scale-down stabilisation) add pods, and what does the lag cost in latency?
#
# Both answers come from the SimPy models `sim.models.blue_green` and `sim.models.autoscaling`,
# seeded, so the numbers below are the same on every run.

# %% tags=["parameters"]
SEED = 0
BAD_ERROR_RATE = 0.2   # share of failing requests in the bad green build

# %%
from lab import deployment
from lab.style import use_style

use_style()
logs = deployment.rollouts(SEED, bad={"green.error_rate": BAD_ERROR_RATE})
fig = deployment.plot_rollouts(logs)

# %% [markdown]
# The control steps of the bad rollout — the analysis fails on its first report and the load
# balancer points back at blue:

# %%
deployment.rollout_steps(logs["bad build"])

# %% [markdown]
# ## HPA under a ramp from 5 to 40 req/s

# %%
hpa_log = deployment.autoscale(SEED)
fig = deployment.plot_autoscaling(hpa_log)

# %%
deployment.hpa_timeline(hpa_log).iloc[3:16]

# %% [markdown]
# ## Conclusion (computed from the runs above)

# %%
print(deployment.conclusion(logs, hpa_log))
