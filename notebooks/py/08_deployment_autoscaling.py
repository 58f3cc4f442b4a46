# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Deployment: blue-green rollouts with analysis and rollback, and the HPA under a load ramp
#
# **Questions.** (1) When a new build goes out through the Argo Rollout of `deploy/k8s/base`
# (green comes up behind the preview service, passes readiness and a smoke test, a pre-promotion
# analysis checks its error rate and P99, an operator promotes it, a post-promotion analysis watches
# live traffic), how long until users are on the new build, and what do users see when the build is
# bad? (2) Under a load ramp, how fast does the HorizontalPodAutoscaler of `deploy/k8s/base/hpa.yaml`
# add pods, and what does the lag cost in latency?
#
# Both answers come from the SimPy models `sim.models.blue_green` and `sim.models.autoscaling`,
# seeded, so the numbers below are the same on every run. **The models read the manifests**
# (`sim/manifests.py`): editing a manifest changes the simulation. What they read:

# %% tags=["parameters"]
SEED = 0

# %%
import pandas as pd

from lab import deployment
from lab.style import use_style

use_style()
pd.set_option("display.max_colwidth", 90)
deployment.manifest_table()

# %% [markdown]
# ## Three rollouts
#
# A good build; a bad build (a fifth of its requests fail); and a build whose bug only live
# traffic hits (preview traffic passes, a fifth of live requests fail). Plotted is the live traffic
# per environment (preview requests are left out).

# %%
logs = deployment.rollouts(SEED)
fig = deployment.plot_rollouts(logs)

# %% [markdown]
# The bad build never reaches users: the pre-promotion analysis fails its first conclusive
# error-rate measurement and Argo aborts the rollout. The live-traffic bug passes the pre-promotion
# analysis, is promoted, and the post-promotion analysis fails 10 s later; the active service is
# pointed back at blue (the rollback) and green is scaled down. Its control steps:

# %%
deployment.rollout_steps(logs["bug on live traffic"])

# %% [markdown]
# ## The HPA under a ramp from 5 to 40 req/s, and the same ramp on an edited `hpa.yaml`
#
# The second run uses a temporary copy of the manifests with `maxReplicas: 6` and a scale-down
# policy of one pod per 30 s instead of 50 % per minute.

# %%
def edit(doc):
    doc["spec"]["maxReplicas"] = 6
    doc["spec"]["behavior"]["scaleDown"]["policies"] = [{"type": "Pods", "value": 1, "periodSeconds": 30}]


hpa_logs = {
    "hpa.yaml as committed": deployment.autoscale(SEED),
    "edited: maxReplicas 6, scale-down 1 pod / 30 s": deployment.autoscale_edited(edit, SEED),
}
fig = deployment.plot_autoscaling(hpa_logs)

# %%
deployment.hpa_timeline(hpa_logs["hpa.yaml as committed"]).iloc[3:16]

# %% [markdown]
# ## Conclusion (computed from the runs above)
#
# Per-pod cost is a model parameter (`pods.service_time`, 0.1 CPU-s per request): the repository
# has no calibrated per-request CPU cost, so the HPA's per-pod load is not derived from measurements.

# %%
print(deployment.conclusion(logs, hpa_logs))
