# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Latency SLA: P50/P95/P99 of the signal flow, real vs simulated
#
# **Question.** Does `POST /api/v1/trading/signal` meet the seed's SLA (P95 < 50 ms, P99 < 100 ms)
# in the real app, and does the simulation agree?
#
# *Real:* the FastAPI app runs in this process over fresh embedded back-ends (fakeredis, temporary
# SQLite); an open-loop harness sends signed requests on a fixed schedule through
# `httpx.ASGITransport` (latency counts from the *scheduled* send time, so stalls show in the tail);
# a short warm-up is sent first and not measured. The server's event log is judged by the real
# validator `supreme.api.sla.validate` (nearest-rank percentiles). *Simulated:* the SimPy
# `sla_validation` model, judged by the same validator. Real latencies are live measurements; they are
# printed marked `(live)` and masked by the sanitiser, while the simulated figures are exact.

# %% tags=["parameters"]
N_REAL = 400
RATE = 100.0          # requests per second, open loop
CONCURRENCY = 16
N_SIM = 1000
SEED = 0

# %%
from lab import latency
from lab.style import use_style

use_style()
real = latency.measure_real(N_REAL, RATE, CONCURRENCY)
sim = latency.run_sim(N_SIM, SEED)
fig = latency.plot_latency(real["latencies"], sim)

# %% [markdown]
# The simulated verdict (exact) as the validator reports it:

# %%
sim.attrs["sla"]

# %% [markdown]
# ## Conclusion (computed from both runs)

# %%
print(latency.conclusion(real, sim))
