"""The adaptive layer on the live cache manager (``SUPREME_ADAPTIVE``, issue 17 part 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from supreme.adaptive.live import KeyFilter
from supreme.api.app import create_app
from supreme.clock import ManualClock
from supreme.config import ConfigError, Settings, load_settings
from tests.api.test_app import build_services, post_signal


def test_setting_defaults_to_market_data_and_rejects_nonsense(tmp_path: Path) -> None:
    assert load_settings({"SUPREME_DATA_DIR": str(tmp_path)}).adaptive == "market"
    assert load_settings({"SUPREME_DATA_DIR": str(tmp_path), "SUPREME_ADAPTIVE": "OFF"}).adaptive == "off"
    with pytest.raises(ConfigError, match="SUPREME_ADAPTIVE must be one of market/all/off"):
        load_settings({"SUPREME_DATA_DIR": str(tmp_path), "SUPREME_ADAPTIVE": "sometimes"})
    assert Settings().adaptive == "market"


def test_off_builds_no_layer(tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from supreme.api.services import Services

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", data_dir=tmp_path, adaptive="off")
    svc = Services.from_settings(settings, clock, symbols=["SPX"])
    try:
        assert svc.adaptive is None and svc.cache.adaptive is None
        assert "supreme_adaptive_cycles_total" not in svc.metrics.exposition().decode()
    finally:
        svc.close()


def test_live_requests_teach_the_layer_market_data_only(tmp_path: Path, clock: ManualClock) -> None:
    svc = build_services(tmp_path, clock, adaptive_cycle=30.0)
    try:
        layer = svc.adaptive
        assert layer is not None and isinstance(svc.cache.adaptive, KeyFilter)
        assert layer.adapter is not None and layer.adapter.target is svc.cache  # the manager offered itself
        key = svc.auth.store.create("ed25519", "signal:read", label="t")
        client = TestClient(create_app(svc))
        for _ in range(3):
            assert post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"}).status_code == 200
            clock.advance(20.0)
        assert layer._accesses == svc.cache.adaptive.seen > 0
        assert all(k.startswith("ohlcv:") for k in layer._recent)  # signal keys are not market data
        assert svc.resilience is not None
        svc.resilience.step()  # 60 s of service time passed: the learning cycle runs on the clock
        assert layer.cycles == 1
        assert any(e.flow == "learning_cycle" for e in svc.event_log.to_frame().itertuples())
        text = client.get("/metrics").text
        assert f"supreme_adaptive_cycles_total {float(layer.cycles)}" in text
        assert f"supreme_adaptive_accesses_total {float(layer._accesses)}" in text
        assert 'supreme_adaptive_policy{policy="lru"} 1.0' in text
    finally:
        svc.close()


def test_window_signal_path_answers_the_same_signals_as_the_frame_path(tmp_path: Path) -> None:
    """``serve --signal-path window`` (the replay pipeline's feed windows) against the default path."""
    from supreme.strategy.window_engine import WindowEngine

    answers: dict[str, list[dict[str, object]]] = {}
    for path in ("frame", "window"):
        clock = ManualClock(1_700_000_000.0)
        svc = build_services(tmp_path / path, clock, signal_path=path, replay_start="2010-01-04")
        try:
            assert isinstance(svc.engine, WindowEngine) == (path == "window")
            key = svc.auth.store.create("ed25519", "signal:read", label="t")
            client = TestClient(create_app(svc))
            got = []
            for step in range(40):  # market days pass between requests: each asks for a new signal
                resp = post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"})
                assert resp.status_code == 200, resp.text
                body = resp.json()
                body["meta"].pop("request_id")  # the only field that differs by design
                got.append(body)
                clock.advance(86_400.0 * (1 + step % 3))
            answers[path] = got
        finally:
            svc.close()
    for w, f in zip(answers["window"], answers["frame"], strict=True):
        assert w == f, {k: (w.get(k), f.get(k)) for k in set(w) | set(f) if w.get(k) != f.get(k)}
    assert len({str(a) for a in answers["frame"]}) > 10  # the signals moved with the market
