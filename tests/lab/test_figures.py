"""Every notebook figure, made through the lab/ function the notebook calls, must read well.

:func:`lab.style.figure_problems` draws each figure and reports tick labels that overlap (each other or
a neighbouring panel), text labels that collide, legends over plotted data, heat-map numbers that
contrast poorly with their cell, and axes without both axis labels.  The inputs are the notebooks'
own calls on smaller seeded runs.  Also: no notebook has an empty code cell, and inline figures are
rendered at >= 100 dpi.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from lab.style import STYLE, figure_problems, text_color_on, use_style

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _fig01_quickstart(tmp: Path) -> list[Any]:
    from lab import quickstart
    from supreme.market import load_sample
    from supreme.replay.output import plot_signals
    from supreme.replay.runner import replay_files
    from tests.replay.conftest import walk_frame, write_csv

    res = quickstart.run_quickstart(tmp / "q", candles=60)
    prices = {s: load_sample(s).iloc[-60:].reset_index(drop=True) for s in ("SPX", "IXIC")}
    run = replay_files([write_csv(walk_frame(1500, seed=1), tmp / "BTC.csv")], tmp / "r", figure=False)
    return [quickstart.plot_signals(prices, res["signals"]), quickstart.plot_tiers(res["tiers"]),
            plot_signals(run.result.signals)]


def _fig02_hierarchy(tmp: Path) -> list[Any]:
    from lab import hierarchy
    from lab.embedded import backend_names

    samples, _ = hierarchy.measure_tiers(30)
    cmp = hierarchy.measure_sim_vs_real(300, "zipf_shifting", 50, 0)
    return [hierarchy.plot_latencies(samples, backend_names()),
            hierarchy.plot_sim_vs_real(cmp["real"], cmp["sim"])]


def _fig03_eviction(tmp: Path) -> list[Any]:
    from lab import eviction
    from supreme.market import load_sample

    traces = eviction.market_workloads(3000, seed=0, prices=load_sample("SPX"))
    mrc = eviction.mrc_table(traces)
    return [eviction.plot_mrcs(mrc), eviction.plot_regret(mrc)]


def _fig04_adaptive(tmp: Path) -> list[Any]:
    from lab import adaptive

    workloads = adaptive.make_workloads(3000, seed=0)
    w = workloads["dashboard_replay"]
    tl, log = adaptive.timeline(w, adaptive.capacity_for(w, 0.1), threshold=0.4)
    return [adaptive.plot_timeline(tl, log, "dashboard_replay: miss ratio per learning cycle"),
            adaptive.plot_compare(adaptive.compare(workloads, 0.1, 0.4))]


def _fig05_resilience(tmp: Path) -> list[Any]:
    from lab import resilience

    scenario = {"seed": 0, "faults.redis.down_at": 30.0, "faults.redis.down_for": 40.0,
                "recovery.interval": 10.0}
    real = resilience.run_real_outage(scenario)
    sim = resilience.run_sim_outage(scenario)
    return [resilience.plot_outage({"real": real["log"], "sim": sim}, scenario)]


def _fig06_latency(tmp: Path) -> list[Any]:
    from lab import latency

    return [latency.plot_latency(latency.measure_real(60, 100.0, 8, warmup=10)["latencies"],
                                 latency.run_sim(200, 0))]


def _fig07_streaming(tmp: Path) -> list[Any]:
    from lab import streaming

    table, _ = streaming.fanout([1, 5, 20], 0, 20.0)
    return [streaming.plot_fanout(table), streaming.plot_lifecycle(streaming.lifecycle(0))]


def _fig08_deployment(tmp: Path) -> list[Any]:
    from lab import deployment

    return [deployment.plot_rollouts(deployment.rollouts(0)),
            deployment.plot_autoscaling({"hpa.yaml as committed": deployment.autoscale(0)})]


def _fig09_sweeps(tmp: Path) -> list[Any]:
    from lab import sweeps

    grid = {"cache.policy": ["lru", "arc", "s3fifo", "wtinylfu"], "cache.size": [20, 40, 80],
            "prefetch.threshold": [0.2, 0.6, 1.0]}
    df = sweeps.run_grid(grid, {"workload.name": "dashboard_replay", "workload.n": 1500, "seed": 0},
                         executor="serial")
    return [sweeps.plot_heatmaps(df, "miss_ratio"), sweeps.plot_heatmaps(df, "fetch_ratio")]


FIGURES: dict[str, Callable[[Path], list[Any]]] = {
    "01": _fig01_quickstart, "02": _fig02_hierarchy, "03": _fig03_eviction, "04": _fig04_adaptive,
    "05": _fig05_resilience, "06": _fig06_latency, "07": _fig07_streaming, "08": _fig08_deployment,
    "09": _fig09_sweeps,
}


@pytest.fixture(autouse=True)
def _style() -> Iterator[None]:
    use_style()
    yield
    plt.close("all")


@pytest.mark.parametrize("notebook", sorted(FIGURES))
def test_notebook_figures_read_well(notebook: str, tmp_path: Path) -> None:
    figures = FIGURES[notebook](tmp_path)
    assert figures
    problems = {i: figure_problems(fig) for i, fig in enumerate(figures)}
    assert not any(problems.values()), problems


def test_the_check_catches_what_it_should() -> None:
    """Overlapping log-scale ticks, colliding labels, a legend on the data, white on a pale cell."""
    import numpy as np

    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3))
    a.plot([1.5, 2.5, 3.5, 4.5], [1, 2, 3, 4], label="line")
    a.set_xscale("log")  # less than a decade: matplotlib labels the minor ticks 2x10^0, 3x10^0...
    a.legend(loc="center")
    a.text(2, 2, "switch")
    a.text(2.02, 2, "rollback")
    im = b.imshow(np.array([[0.0, 1.0]]), cmap="magma_r")
    b.text(0, 0, "0.00", color="white")
    b.text(1, 0, "1.00", color=text_color_on(im.cmap(im.norm(1.0))))
    found = " | ".join(figure_problems(fig))
    assert "tick labels" in found
    assert "labels 'switch' and 'rollback' overlap" in found
    assert "legend over line 'line'" in found
    assert "'0.00' contrasts" in found and "'1.00' contrasts" not in found
    assert "no axis label" in found
    assert text_color_on("white") == "black" and text_color_on("black") == "white"


def test_inline_figures_are_at_least_100_dpi() -> None:
    assert STYLE["figure.dpi"] >= 100 and STYLE["savefig.dpi"] >= 100
    assert plt.figure().dpi >= 100


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_no_empty_code_cells(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    empty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and not "".join(c["source"]).strip()]
    assert not empty, f"{path.name}: empty code cells {empty}"
    source = NOTEBOOKS / "py" / f"{path.stem}.py"
    chunks = source.read_text(encoding="utf-8").split("# %%")[1:]
    blank = [i for i, c in enumerate(chunks) if not c.split("\n", 1)[-1].strip()]
    assert not blank, f"{source.name}: cells with nothing in them {blank}"
