"""Parameter sweeps: a pure ``run_one(scenario) -> dict`` over a grid, on a pluggable executor.

* :func:`expand_grid` — ``{"pool.max_size": [4, 8], "seed": [0, 1]}`` to the
  cartesian product of scenarios, in a fixed order (keys sorted, values in the
  order given), merged over ``base``.
* :func:`run_sweep` — executor ``"serial"``, ``"dask"`` (a
  ``dask.distributed.LocalCluster``: 2 worker processes, 1 thread each, no
  dashboard) or a scheduler address (``"tcp://host:8786"``).  A tqdm bar shows
  progress; each row is ``{**scenario, **result}``, gathered with
  ``DataFrame.from_records`` and ordered by the grid, never by completion, so the
  same grid gives the same DataFrame on any executor.

``run_one`` must be importable by the workers (a module-level function or a
picklable object such as :class:`sim.runner.ModelRunOne`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from sim.errors import SimError

__all__ = ["SweepError", "expand_grid", "parse_grid", "run_sweep"]

RunOne = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class SweepError(SimError, ValueError):
    """A malformed grid, executor or result."""


def expand_grid(grid: Mapping[str, Sequence[Any]], base: Mapping[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """Cartesian product of the grid's value lists, each merged over ``base``."""
    keys = sorted(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Iterable) or not len(grid[k]):
            raise SweepError(f"grid key {k!r} needs a non-empty list of values, got {grid[k]!r}")
    return [{**(base or {}), **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*(list(grid[k]) for k in keys))]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Command-line ``key=v1,v2`` items to a grid (values parsed as JSON where they parse)."""
    from sim.scenario import parse_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SweepError(f"grid item must look like key=v1,v2; got {item!r}")
        grid[key.strip()] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def _row(scenario: Mapping[str, Any], result: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise SweepError(f"run_one must return a dict, got {type(result).__name__} for {dict(scenario)}")
    clash = sorted(k for k in set(result) & set(scenario) if result[k] != scenario[k])
    if clash:
        raise SweepError(f"run_one result contradicts scenario keys {clash}")
    return {"_order": index, **scenario, **result}


def run_sweep(
    run_one: RunOne,
    scenarios: Sequence[Mapping[str, Any]],
    executor: str = "serial",
    *,
    progress: bool = True,
    n_workers: int = 2,
) -> pd.DataFrame:
    """Run ``run_one`` on every scenario; one row per scenario, in scenario order."""
    todo = [dict(s) for s in scenarios]
    bar = tqdm(total=len(todo), disable=not progress, desc="sweep", leave=False)
    rows: list[dict[str, Any]] = []
    try:
        if executor == "serial":
            for i, sc in enumerate(todo):
                rows.append(_row(sc, run_one(sc), i))
                bar.update(1)
        else:
            rows = _run_dask(run_one, todo, executor, bar, n_workers)
    finally:
        bar.close()
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _run_dask(run_one: RunOne, scenarios: list[dict[str, Any]], executor: str, bar: Any,
              n_workers: int) -> list[dict[str, Any]]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if executor == "dask":
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        address: Any = cluster
    elif "://" in executor:
        address = executor
    else:
        raise SweepError(f"executor must be 'serial', 'dask' or a scheduler address like "
                         f"tcp://host:8786, got {executor!r}")
    try:
        with Client(address) as client:
            futures = client.map(run_one, scenarios, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            rows = []
            for fut in as_completed(futures):
                i = index[fut.key]
                rows.append(_row(scenarios[i], fut.result(), i))
                bar.update(1)
            return rows
    finally:
        if cluster is not None:
            cluster.close()
