"""The replay, demo and record commands, in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supreme.cli import main
from supreme.clock import ManualClock
from supreme.market.demo import run_demo
from supreme.market.runner import replay_frame
from supreme.market.sample import load_sample
from tests.conftest import shared_or_skip


@pytest.mark.slow
def test_demo_writes_figure_and_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    figure = tmp_path / "out" / "demo_SPX.png"
    assert figure.exists() and figure.stat().st_size > 10_000
    assert (tmp_path / "out" / "demo_SPX_summary.json").exists()
    assert "rows               5031" in out and str(figure) in out


@pytest.mark.slow
def test_run_demo_summary_matches_sample(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "SPX")
    sample = load_sample("SPX")
    assert result["summary"]["rows"] == len(sample) == result["summary"]["updates_published"]
    assert result["summary"]["last_close"] == pytest.approx(sample["close"].iloc[-1])
    assert result["summary"]["asof_last_close"] == result["summary"]["last_close"]


def test_replay_file_max_speed(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_or_skip("freqtrade/UNITTEST_BTC-1m.json")
    assert (
        main(["replay", str(path), "--symbol", "BTC/X", "--speed", "max", "--limit", "2000", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "538 gaps" in out  # the load report
    assert "rows               2000" in out and "updates_published  2000" in out


def test_replay_sample_and_bad_speed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--sample", "IXIC", "--limit", "300", "--step", "5", "--no-progress"]) == 0
    assert "rows               300" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["replay", "--sample", "SPX", "--speed", "fast"])


def test_replay_bad_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n1700000000000,1,2,0.5,1,1\n1700000060000,1,0.1,0.5,1,1\n"
    )
    assert main(["replay", str(path), "--no-progress"]) == 2
    assert "bad.csv: row 2 (line 3): high 0.1 < low 0.5" in capsys.readouterr().err
    assert main(["replay", str(path), "--on-error", "skip", "--timeframe", "1m", "--no-progress"]) == 0
    assert "dropped row 2 (line 3)" in capsys.readouterr().out


def test_scaled_clock_replay_on_a_manual_base() -> None:
    """--speed N path: ScaledClock sleeps base time = market time / speed (base is manual here)."""
    base = ManualClock(0.0)
    frame = load_sample("SPX").iloc[:50]
    result = replay_frame(frame, "SPX", "1d", speed=86_400.0, base_clock=base)
    assert result.summary["rows"] == 50
    span_days = (frame["timestamp"].iloc[-1] - frame["timestamp"].iloc[0]) / 86_400_000 + 1
    assert base.now() == pytest.approx(span_days)  # one real second per market day


def test_record_without_network_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Point ccxt at a closed local port so the test never depends on (or uses) the internet.
    import ccxt

    original = ccxt.binance.describe

    def describe(self: Any) -> Any:
        d = original(self)
        d["urls"]["api"] = {k: "http://127.0.0.1:9/api/v3" for k in d["urls"]["api"]}
        return d

    monkeypatch.setattr(ccxt.binance, "describe", describe)
    code = main(
        [
            "record",
            "--symbol",
            "BTC/USDT",
            "--since",
            "2024-01-01",
            "--until",
            "2024-01-01T00:10",
            "--out",
            str(tmp_path / "r.csv"),
        ]
    )
    assert code == 2
    assert "cannot reach binance" in capsys.readouterr().err
