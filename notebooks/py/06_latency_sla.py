# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Latency SLA: P50/P95/P99 of the signal flow, real vs simulated after calibration
#
# **Question.** Does the signal flow meet the seed's SLA (P95 < 50 ms, P99 < 100 ms), and does the
# calibrated simulation predict the real percentiles and the real verdict?
#
# *Real:* the service's own `SignalPipeline` in process over fakeredis and a temporary SQLite file
# (`sim.realsignal`), one worker, open loop, on the default workload: 48 symbols of 1m candles cut from
# the shared recordings, Zipf-popular symbols, a market-open burst (5x the settled 200 requests/s), two
# candle closes (about 2.4 % of requests are signal-cache misses, i.e. strategy runs).
# *Calibration:* `supreme sim calibrate` measured this machine on another seed of the same workload
# and wrote the latency book shipped in `sim/models/defaults/latency_book.json`: per-request CPU of the
# real code (in situ, from the event log's step latencies), per-tier I/O, the worker's wake-up lag.
# The book also keeps the real run of the validation seed, so this notebook compares the model with a
# stored real measurement and every figure below reproduces exactly. Re-measure on your machine with
# `supreme sim calibrate` then `supreme sim validate trading_signal`.

# %% tags=["parameters"]
BOOK = None   # None: the shipped measured book (same numbers anywhere); "default": yours after `sim calibrate`
SEED = 0

# %%
from lab import latency
from lab.style import use_style

use_style()
book = latency.book_path(BOOK)
latency.book_info(book)

# %%
real = latency.stored_real(book)
sim = latency.run_calibrated(book, SEED)
sim_other = latency.run_calibrated(book, SEED + 1)
table = latency.compare_worlds(real, sim, sim_other)
table

# %%
fig = latency.plot_latency(latency.request_latencies(real)["latency"].to_numpy(float), sim)

# %% [markdown]
# The real validator (`supreme.api.sla.validate`) on both worlds, nothing masked:

# %%
judged = latency.verdicts(real, sim)
judged

# %% [markdown]
# ## Conclusion (computed from the table and the verdicts)

# %%
print(latency.calibrated_conclusion(table, judged))
