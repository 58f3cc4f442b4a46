# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Streaming: WebSocket fan-out and the connection lifecycle
#
# **Questions.** (1) As clients are added, does every subscriber get every update, and what does
# the fan-out do to the delivery delay? (2) Does the server notice a client that vanishes without a
# close frame, and how fast? (3) Does the real server on loopback deliver every update, in order?
#
# *Simulated:* the SimPy models `ws_streaming` and `ws_lifecycle` drive the real connection,
# subscription and health managers and the real market-data feed (bundled SPX/IXIC sample) on
# simulated time; sockets and network delay (median 15 ms, P99 120 ms) are simulated. The delay is
# measured from each stream's broadcast to the client's receipt. *Real:* uvicorn on 127.0.0.1 with the
# real gateway and `StreamClient` clients; only counts and order are printed (timings are live).

# %% tags=["parameters"]
CLIENTS = [1, 5, 20, 50]
DURATION = 60.0            # simulated seconds per fan-out run
SEED = 0
REAL_LOOPBACK = True
REAL_CLIENTS = 4
REAL_UPDATES = 200

# %%
from lab import streaming
from lab.style import use_style

use_style()
table, delays = streaming.fanout(CLIENTS, SEED, DURATION)
fig = streaming.plot_fanout(table)
table

# %% [markdown]
# ## Connection lifecycle (simulated)
#
# Four clients connect; one vanishes at 60 s without a close frame; the others close gracefully
# around 150 s. The health monitor pings every 20 s and gives up after 10 s without an answer.

# %%
life = streaming.lifecycle(SEED)
fig = streaming.plot_lifecycle(life)
streaming.lifecycle_steps(life)

# %% [markdown]
# ## Real server on loopback

# %%
real = streaming.measure_loopback(REAL_CLIENTS, REAL_UPDATES) if REAL_LOOPBACK else None
if real is not None:
    print(f"{real['clients']} clients, {real['sent']} candles published; received per client:",
          [len(f) for f in real["frames"]])

# %% [markdown]
# ## Conclusion (computed from the runs above)

# %%
print(streaming.conclusion(table, life, real))
