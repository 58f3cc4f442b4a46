"""Sim-vs-real comparison of two event logs of the same workload, with a noise floor.

* :func:`hit_ratios` — hits / (hits + misses) per tier; identical in both worlds
  when the access sequence is identical (the policies are the same objects).
* :func:`latency_errors` — P50/P95/P99 of ``latency`` per step (component,
  operation) in each log, the relative error ``(b - a) / a``, and the
  Kolmogorov-Smirnov *distance* (``scipy.stats.ks_2samp(...).statistic``; the
  p-value means nothing for autocorrelated queue outputs, so it is not reported).
* :func:`compare` — both tables for (real, sim); :func:`compare_with_noise_floor`
  adds the same figures for two simulations differing only in seed, so an error
  can be judged against what seed noise alone produces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare", "compare_with_noise_floor", "hit_ratios", "latency_errors"]

PERCENTILES = (50, 95, 99)
_STEP = ["component", "operation"]


def _check(log: pd.DataFrame, name: str) -> None:
    missing = {"component", "operation", "outcome", "latency", "tier"} - set(log.columns)
    if missing:
        raise ValueError(f"{name} is not an event log: missing columns {sorted(missing)}")


def _ratios(log: pd.DataFrame) -> pd.DataFrame:
    rows = log[log["tier"].notna() & log["outcome"].isin(["hit", "miss"])]
    hits = (rows["outcome"] == "hit").groupby(rows["tier"]).sum().astype("int64")
    lookups = rows.groupby("tier").size().astype("int64")
    out = pd.DataFrame({"hits": hits, "lookups": lookups})
    out["hit_ratio"] = (out["hits"] / out["lookups"]).astype("float64")
    return out


def hit_ratios(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str] = ("real", "sim")) -> pd.DataFrame:
    """Hit ratio per tier in both logs and their difference (``b - a``)."""
    _check(a, names[0])
    _check(b, names[1])
    ra, rb = _ratios(a), _ratios(b)
    out = ra.add_suffix(f"_{names[0]}").join(rb.add_suffix(f"_{names[1]}"), how="outer")
    out["diff"] = out[f"hit_ratio_{names[1]}"] - out[f"hit_ratio_{names[0]}"]
    out.index.name = "tier"
    return out.reset_index().sort_values("tier", ignore_index=True)


def latency_errors(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str] = ("real", "sim"),
                   min_samples: int = 2) -> pd.DataFrame:
    """Percentiles, relative errors and KS distance of latency per step present in both logs."""
    _check(a, names[0])
    _check(b, names[1])
    ga = {k: g["latency"].to_numpy(float) for k, g in a.groupby(_STEP)}
    gb = {k: g["latency"].to_numpy(float) for k, g in b.groupby(_STEP)}
    rows = []
    for key in sorted(set(ga) & set(gb)):
        xa, xb = ga[key], gb[key]
        xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
        if xa.size < min_samples or xb.size < min_samples:
            continue
        row: dict[str, object] = {"component": key[0], "operation": key[1],
                                  f"n_{names[0]}": xa.size, f"n_{names[1]}": xb.size}
        for p in PERCENTILES:
            pa, pb = float(np.percentile(xa, p)), float(np.percentile(xb, p))
            row[f"p{p}_{names[0]}"] = pa
            row[f"p{p}_{names[1]}"] = pb
            row[f"p{p}_rel_err"] = (pb - pa) / pa if pa > 0 else (0.0 if pb == pa else np.inf)
        row["ks_distance"] = float(stats.ks_2samp(xa, xb).statistic)
        rows.append(row)
    cols = ["component", "operation", f"n_{names[0]}", f"n_{names[1]}"]
    for p in PERCENTILES:
        cols += [f"p{p}_{names[0]}", f"p{p}_{names[1]}", f"p{p}_rel_err"]
    return pd.DataFrame.from_records(rows, columns=[*cols, "ks_distance"])


def compare(real: pd.DataFrame, sim: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"hit_ratio": ..., "latency": ...}`` for a real and a simulated log."""
    return {"hit_ratio": hit_ratios(real, sim), "latency": latency_errors(real, sim)}


def compare_with_noise_floor(real: pd.DataFrame, sim: pd.DataFrame, sim_other_seed: pd.DataFrame
                             ) -> dict[str, pd.DataFrame]:
    """:func:`compare` plus, per step, the sim-vs-sim figures (``*_floor``) from another seed."""
    base = compare(real, sim)
    floor = latency_errors(sim, sim_other_seed, names=("sim", "sim2"))
    keep = ["component", "operation", "ks_distance"] + [f"p{p}_rel_err" for p in PERCENTILES]
    floor = floor[keep].rename(columns={c: f"{c}_floor" for c in keep[2:]})
    lat = base["latency"].merge(floor, on=_STEP, how="left")
    lat["ks_above_floor"] = lat["ks_distance"] - lat["ks_distance_floor"]
    hr_floor = hit_ratios(sim, sim_other_seed, names=("sim", "sim2"))[["tier", "diff"]]
    hr = base["hit_ratio"].merge(hr_floor.rename(columns={"diff": "diff_floor"}), on="tier", how="left")
    return {"hit_ratio": hr, "latency": lat}
