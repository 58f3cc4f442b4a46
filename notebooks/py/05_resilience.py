# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Resilience: Redis disconnects during a replay
#
# **Question.** When L2 (Redis) drops out for 40 s under steady load, how fast does the circuit
# breaker notice, do requests keep getting correct answers meanwhile, how long after Redis returns
# is the system whole again, and is any write lost?
#
# *Real run:* the real `CacheManager`, `CircuitBreaker` and `FaultSchedule`; L2 is a `RedisTier`
# over fakeredis whose server is disconnected by the fault schedule (we never cut the shared Redis);
# L3 is a fresh SQLite file. The clock is a `ManualClock` stepped by the load's arrival gaps, so the
# run is exact and repeatable. While the breaker is open, recovery tries to reconnect every 10 s;
# when Redis answers, the breaker goes half-open, the next request tests it, and the manager replays
# the writes it journaled. *Simulated run:* the SimPy `fault_injection` model, same schedule and load.

# %% tags=["parameters"]
SEED = 0
DOWN_AT = 30.0       # s
DOWN_FOR = 40.0      # s
RECOVERY_INTERVAL = 10.0

# %%
from lab import resilience
from lab.style import use_style

use_style()
scenario = {"seed": SEED, "faults.redis.down_at": DOWN_AT, "faults.redis.down_for": DOWN_FOR,
            "recovery.interval": RECOVERY_INTERVAL}
real = resilience.run_real_outage(scenario)
sim = resilience.run_sim_outage(scenario)
fig = resilience.plot_outage({"real": real["log"], "sim": sim}, scenario)

# %% [markdown]
# The breaker's transitions in each world:

# %%
import pandas as pd

pd.concat({"real": resilience.breaker_timeline(real["log"]), "sim": resilience.breaker_timeline(sim)}, axis=1)

# %% [markdown]
# ## Conclusion (computed from both runs)

# %%
print(resilience.conclusion(real, sim, scenario))
