"""The `supreme` command as a whole: help lists every command; bad settings stop before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from supreme.cli import build_parser, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "replay", "record", "trace", "keys", "serve", "sla", "sim", "faults", "report"):
        assert f"    {command} " in out, command
    assert build_parser().prog == "supreme"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out


def test_demo_with_a_malformed_setting_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SUPREME_REDIS_URL", "http://not-redis")
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    assert "SUPREME_REDIS_URL" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
