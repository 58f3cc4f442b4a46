"""``supreme trace simulate --adaptive [--prefetch]``: the adaptive layer beside the static policy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supreme.adaptive import simulate_adaptive
from supreme.adaptive import workloads as wl
from supreme.cache.trace import Trace, load_trace, save_trace
from supreme.cache.traces import simulate
from supreme.cli import main
from tests.conftest import shared_or_skip

SLICE = 6000  # requests of the shared cloudPhysicsIO trace: ~1 s of per-request Python per size


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["trace", "simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def tables(out: str) -> dict[int, dict[str, tuple[str, str]]]:
    """Per size: figure label -> (static cell, adaptive cell)."""
    result: dict[int, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in out.splitlines():
        if line.startswith("size "):
            current = result.setdefault(int(line.split()[1]), {})
        elif current is not None and line[:20].strip() and len(line) > 20:
            cells = line[20:].split()
            if len(cells) == 2:
                current[line[:20].strip()] = (cells[0], cells[1])
    return result


def number(cell: str) -> float:
    return math.nan if cell == "-" else float(cell)


@pytest.fixture
def cloud_slice() -> Trace:
    path = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    full = load_trace(path)
    return Trace(full.time[:SLICE], full.obj_id[:SLICE], full.obj_size[:SLICE])


def test_adaptive_prefetch_figures_are_the_simulators(capsys: pytest.CaptureFixture[str],
                                                      cloud_slice: Trace) -> None:
    path = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    code, out, err = run(capsys, str(path), "--limit", str(SLICE), "--size", "200", "--policy", "lru",
                         "--adaptive", "--prefetch", "--threshold", "0.4")
    assert code == 0, err
    (fig,) = tables(out).values()
    static = simulate(cloud_slice, "lru", 200)
    assert int(fig["demand misses"][0]) == static.misses == int(fig["source fetches"][0])
    assert int(fig["prefetch fetches"][0]) == 0
    assert number(fig["miss ratio"][0]) == pytest.approx(static.miss_ratio, abs=5e-5)
    assert fig["prefetch accuracy"][0] == "-" and fig["final policy"][0] == "lru"
    keys = [f"obj:{i}" for i in cloud_slice.obj_id.tolist()]
    times = cloud_slice.time.astype(float) - float(cloud_slice.time[0])
    ref = simulate_adaptive(keys, 200, base_policy="lru", adaptive=True, prefetch=True, threshold=0.4,
                            times=times)
    demand, fetched, total = (int(fig[k][1]) for k in ("demand misses", "prefetch fetches", "source fetches"))
    assert (demand, fetched, total) == (ref["demand_misses"], ref["prefetch_fetches"], ref["source_fetches"])
    assert fetched > 0 and total == ref["demand_fetches"] + fetched
    assert number(fig["miss ratio"][1]) == pytest.approx(demand / SLICE, abs=5e-5)
    assert number(fig["prefetch accuracy"][1]) == pytest.approx(ref["prefetch_accuracy"], abs=5e-5)
    assert number(fig["prefetch coverage"][1]) == pytest.approx(ref["prefetch_coverage"], abs=5e-5)
    assert fig["final policy"][1] == ref["final_policy"]


def test_sizes_print_a_table_per_size_and_write_csv(capsys: pytest.CaptureFixture[str], cloud_slice: Trace,
                                                    tmp_path: Path) -> None:
    path = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    csv = tmp_path / "adaptive.csv"
    code, out, err = run(capsys, str(path), "--limit", str(SLICE), "--sizes", "50,400", "--adaptive",
                         "--csv", str(csv))
    assert code == 0, err
    figs = tables(out)
    assert sorted(figs) == [50, 400]
    frame = pd.read_csv(csv)
    assert list(frame["mode"]) == ["static", "adaptive"] * 2
    for size, fig in figs.items():
        static = simulate(cloud_slice, "lru", size)
        assert int(fig["demand misses"][0]) == static.misses
        rows = frame[frame["size"] == size].set_index("mode")
        assert rows.loc["static", "demand_misses"] == static.misses
        assert rows.loc["adaptive", "demand_misses"] == int(fig["demand misses"][1])
        # without --prefetch nothing is prefetched: every demand miss is one source fetch
        assert int(fig["prefetch fetches"][1]) == 0
        assert int(fig["source fetches"][1]) == int(fig["demand misses"][1])


def test_adaptive_beats_lru_on_scans_over_a_hot_set(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """A generated workload in a tmp trace: LFU keeps the hot set, so the adapter leaves LRU."""
    work = wl.scan_with_hot_set(12_000, hot=60, scan_prob=0.02, scan_length=200, seed=2)
    codes, _ = pd.factorize(pd.Series(work.keys))
    path = tmp_path / "scan.csv"
    save_trace(Trace.from_ids(codes.astype(np.int64)), path)
    code, out, err = run(capsys, str(path), "--size", "60", "--adaptive", "--rate", "20")
    assert code == 0, err
    assert "20 requests/s" in out
    (fig,) = tables(out).values()
    static, adaptive = (int(c) for c in fig["demand misses"])
    assert adaptive < static
    assert fig["final policy"][1] != "lru" and int(fig["policy switches"][1]) >= 1


def test_prefetch_alone_keeps_the_static_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A loop larger than the cache: LRU misses every request; prefetching the next id hides misses."""
    ids = np.array([i % 300 for i in range(4000)], dtype=np.int64)
    path = tmp_path / "loop.csv"
    save_trace(Trace.from_ids(ids), path)
    code, out, err = run(capsys, str(path), "--size", "100", "--prefetch", "--rate", "50")
    assert code == 0, err
    (fig,) = tables(out).values()
    assert int(fig["demand misses"][0]) == 4000
    demand, fetched, total = (int(fig[k][1]) for k in ("demand misses", "prefetch fetches", "source fetches"))
    assert demand < 4000 and fetched > 0 and total >= fetched
    assert 0.0 < number(fig["prefetch accuracy"][1]) <= 1.0
    assert 0.0 < number(fig["prefetch coverage"][1]) <= 1.0
    assert fig["final policy"][1] == "lru" and int(fig["policy switches"][1]) == 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--size", "10", "--adaptive", "--policy", "all"], "one --policy"),
    (["--size", "10", "--adaptive", "--policy", "opt"], "knows the future"),
    (["--size", "10", "--threshold", "0.5"], "--adaptive/--prefetch runs only"),
    (["--size", "10", "--adaptive", "--threshold", "0.5"], "needs --prefetch"),
    (["--size", "10", "--prefetch", "--threshold", "1.5"], "[0, 1]"),
    (["--size", "10", "--adaptive", "--bytes"], "--bytes"),
    (["--size", "10", "--adaptive", "--warmup", "5"], "--warmup"),
    (["--size", "10", "--adaptive", "--rate", "0"], "--rate"),
    (["--size", "10", "--adaptive", "--cycle", "-1"], "--cycle"),
    (["--size", "0", "--adaptive"], "--size"),
    (["--sizes", "5,x", "--adaptive"], "--sizes"),
    (["--size", "10", "--adaptive", "--limit", "0"], "--limit"),
    (["--size", "10", "--adaptive", "--policy", "nope"], "unknown eviction policy"),
])
def test_bad_arguments_are_one_clear_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          extra: list[str], message: str) -> None:
    path = tmp_path / "t.csv"
    save_trace(Trace.from_ids(np.arange(50) % 7), path)
    code, _, err = run(capsys, str(path), *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("supreme trace: error: ") and message in lines[0]


def test_backward_trace_times_name_the_record_and_the_way_out(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    path = tmp_path / "back.csv"
    save_trace(Trace(np.array([0, 5, 3, 9]), np.array([1, 2, 3, 1]), np.ones(4, np.int64)), path)
    code, _, err = run(capsys, str(path), "--size", "2", "--adaptive")
    assert code == 2 and "record 3" in err and "--rate" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, str(path), "--size", "2", "--adaptive", "--rate", "10")
    assert code == 0, err
    assert int(tables(out)[2]["demand misses"][0]) == 4  # LRU of 2: 3 pushes 1 out before it returns


def test_missing_trace_is_one_clear_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "none.csv"), "--size", "5", "--adaptive")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "none.csv" in err
