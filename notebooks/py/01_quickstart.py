# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Quickstart: recorded data → feed → cache → strategy → signals
#
# **Question.** Does the whole signal path work end to end on recorded data with no servers, and
# how does the cache hierarchy share the work?
#
# We replay the bundled daily S&P 500 and NASDAQ Composite samples (from the `arch` package)
# through the real `ReplayConnector` and `MarketDataFeed`. Every new daily candle wakes two service
# replicas; each has its own L1 memory tier but shares L2 (fakeredis in process, or Redis when
# `SUPREME_REDIS_URL` is set) and L3 (a fresh SQLite file, or PostgreSQL when
# `SUPREME_DATABASE_URL` is set), and each asks its `StrategyEngine` for a signal twice (the
# strategy and a dashboard). The clock is a `ManualClock` moved one day per poll, so the run is
# fast and gives the same numbers every time. This is the same function (`run_quickstart`) that
# `make demo` runs; it also writes a Markdown report and the figures into `OUT_DIR`.

# %% tags=["parameters"]
OUT_DIR = "out/quickstart"
SYMBOLS = ("SPX", "IXIC")
CANDLES = 500              # daily candles replayed per symbol (after a 200-candle warm-up)
REPLICAS = 2
REQUESTS_PER_CANDLE = 2

# %%
from IPython.display import Image

from lab.quickstart import run_quickstart
from lab.style import use_style

use_style()
result = run_quickstart(OUT_DIR, symbols=SYMBOLS, candles=CANDLES, replicas=REPLICAS,
                        requests_per_candle=REQUESTS_PER_CANDLE)
print("report: ", result["report"].name, "| figures:", ", ".join(p.name for p in result["figures"].values()))
print("back-ends:", result["summary"]["backends"])

# %% [markdown]
# ## Signals on the price chart

# %%
Image(filename=str(result["figures"]["signals"]))

# %%
result["signals"].groupby(["symbol", "action"]).size().unstack(fill_value=0)

# %% [markdown]
# The last few signals (as of the close of each session):

# %%
result["signals"].tail(6)[["symbol", "date", "action", "confidence", "close"]]

# %% [markdown]
# ## Hit ratio per tier
#
# Per candle, the first request of the first replica misses every tier and goes to the source,
# which fills L3, L2 and L1; that replica's second request hits its L1; the other replica misses its
# own L1 and finds the value in L2. L3 is the durable backstop — it answers when L2 cannot
# (see notebook 05).

# %%
Image(filename=str(result["figures"]["cache_tiers"]))

# %%
result["tiers"]

# %% [markdown]
# ## Conclusion (computed from the run)

# %%
s, t = result["summary"], result["tiers"]
served_by_cache = 1 - t.loc["source", "hits"] / t.loc["L1", "lookups"]
print(f"{s['signals']} signals for {', '.join(s['symbols'])} from {s['first']} to {s['last']}; "
      f"{t.loc['L1', 'lookups']} requests, of which {served_by_cache:.0%} were served by a cache tier "
      f"(L1 {t.loc['L1', 'hit_ratio']:.2f}, L2 {t.loc['L2', 'hit_ratio']:.2f}, L3 {t.loc['L3', 'hit_ratio']:.2f}); "
      f"the source was asked {t.loc['source', 'hits']} times — once per symbol and candle: "
      f"{t.loc['source', 'hits'] == s['candles'] * len(s['symbols'])}.")

# %% [markdown]
# ## A month of BTC-PERP 1m candles through the pipeline replay
#
# The same signal path, shaped for history: `supreme replay --pipeline` replays the 45,031 one-minute
# candles of the FTX BTC-PERP recording in `../shared/data` through the `ReplayConnector`, the feed's
# numpy windows, the cache manager (L1 by reference; L2 fakeredis and L3 SQLite written in
# write-behind batches, each batch one breaker-guarded call per tier) and the signal blocks, which give
# candle for candle the signal `StrategyEngine.generate` gives. Afterwards L3 is read back and
# compared with the file. Without `../shared` the bundled SPX daily sample takes its place (same path).

# %%
from lab.replay import replay_recording

btc = replay_recording(f"{OUT_DIR}/btc-perp")
r = btc["result"]
print("replayed:", btc["source"])
print(f"{r.candles} candles -> {len(r.signals)} signals; {r.candles_per_s:,.0f} candles/s (live); "
      f"L3 holds {btc['blocks_in_l3']} candle blocks, equal to the file: {btc['l3_equals_file']}; "
      f"breakers {r.breakers}")
btc["counts"]

# %%
Image(filename=str(btc["figure"]))

# %% [markdown]
# What each tier received (entries, in how many batches) and the steps recorded in the event log:

# %%
btc["writes"]

# %%
btc["steps"]
