"""The command line as a whole: --version, global --debug, one progress flag, plain and complete help,
error prefixes and hints, units in `sim run`, `trace simulate --csv` with one size."""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import supreme
from supreme.cli import build_parser, main
from supreme.cli._args import progress_wanted
from supreme.cli._help import plain
from supreme.sniff import delimiter_hint

#: reStructuredText that must never reach a help screen
RST = re.compile(r"``|:(func|class|mod|meth|attr|data):`|(^|\s)::\s*$", re.M)


def _parsers(parser: argparse.ArgumentParser, path: str = "supreme"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"supreme {supreme.__version__}"


def test_every_help_screen_is_plain_text() -> None:
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        assert not RST.search(text), f"{path} --help shows reStructuredText: {RST.search(text)}"


def test_every_argument_has_a_help_text() -> None:
    missing = []
    for path, parser in _parsers(build_parser()):
        if path.startswith("supreme trace"):
            continue  # supreme/cli/trace.py is being reworked elsewhere; its help lands with that work
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {n}" for n, sub in action.choices.items() if not sub.description
                            and not any(a.dest == n and a.help for a in action._choices_actions)]
            elif not action.help:
                missing.append(f"{path} {action.option_strings or action.dest}")
    assert missing == []


def test_faults_examples_keep_one_line_each() -> None:
    text = dict(_parsers(build_parser()))["supreme faults"].format_help()
    examples = [line.strip() for line in text.splitlines() if line.strip().startswith("supreme faults ")]
    assert [e.split()[2] for e in examples] == ["proxy", "kill-redis", "terminate-pg"]


def test_plain_drops_roles_literals_and_block_markers() -> None:
    doc = "Run ``supreme x`` via :func:`a.b.run` and :class:`~a.b.Thing`::\n\n    supreme x --y\n\n::\n"
    assert plain(doc) == "Run supreme x via a.b.run and Thing:\n\n    supreme x --y\n"


@pytest.mark.parametrize("argv", [
    ["demo"], ["replay", "--sample", "SPX"], ["trace", "simulate", "t.csv", "--size", "2"],
    ["sim", "sweep", "cache_hierarchy", "--grid", "seed=1"],
])
def test_long_commands_take_progress_and_no_progress(argv: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    assert progress_wanted(parser.parse_args([*argv, "--progress"])) is True
    assert progress_wanted(parser.parse_args([*argv, "--no-progress"])) is False
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal: off by default
    assert progress_wanted(parser.parse_args(argv)) is False

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    assert progress_wanted(parser.parse_args(argv)) is True


def test_debug_is_global_and_still_accepted_after_sim() -> None:
    parser = build_parser()
    assert parser.parse_args(["--debug", "sim", "list"]).debug is True
    assert parser.parse_args(["sim", "--debug", "list"]).debug is True
    assert parser.parse_args(["sim", "list"]).debug is False


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.csv")
    assert main(["replay", missing]) == 2
    with pytest.raises(FileNotFoundError):
        main(["--debug", "replay", missing])


def test_errors_name_the_command_and_semicolon_csv_gets_a_hint(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "btc.csv"
    bad.write_text("timestamp;open;high;low;close;volume\n2024-01-01 00:00;1;2;0.5;1.5;10\n"
                   "2024-01-01 00:01;1;2;0.5;1.5;10\n")
    assert main(["replay", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("supreme replay: error: ") and str(bad) in err[0]
    assert err[1].startswith("supreme replay: hint: ") and "semicolon-delimited" in err[1]
    trace = tmp_path / "t.csv"
    trace.write_text("time;obj_id;obj_size\n1;2;3\n2;3;4\n")
    assert main(["trace", "simulate", str(trace), "--size", "2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("supreme trace: error: ")
    assert err[1].startswith("supreme trace: hint: ") and "sep=';'" in err[1]
    assert main(["report", "--symbols", "NOPE", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("supreme report: error: ")


@pytest.mark.parametrize(("text", "expected"), [
    ("a;b;c\n1;2;3\n", "semicolon"), ("a\tb\tc\n", "tab"), ("a|b|c\n", "pipe"),
    ("a,b,c\n1,2,3\n", None), ("timestamp,note\n1,a;b\n", None), ("", None), ("one\n", None),
])
def test_delimiter_hint(tmp_path: Path, text: str, expected: str | None) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text)
    hint = delimiter_hint(path)
    assert (hint is None) if expected is None else (hint is not None and f"{expected}-delimited" in hint)


def test_delimiter_hint_ignores_binary_and_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "t.bin"
    binary.write_bytes(np.arange(64, dtype=np.uint64).tobytes())
    assert delimiter_hint(binary) is None
    assert delimiter_hint(tmp_path / "absent.csv") is None


def test_sim_run_prints_latencies_in_ms(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.runner import get_model, run_model

    assert main(["sim", "run", "request_pipeline"]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()[1:])
    p50 = float(lines["p50"].removesuffix(" ms"))
    assert lines["p50"].endswith(" ms")
    seconds = get_model("request_pipeline").summarize(run_model("request_pipeline"))["p50"]
    assert 0 < seconds < 0.01  # the model's own figure is in simulated seconds
    assert p50 == pytest.approx(seconds * 1e3, rel=1e-3)
    assert lines["n_hit"].strip().isdigit()  # counts stay plain


def test_trace_simulate_csv_with_one_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    ids = [1, 2, 1, 3, 1, 2, 4, 1]
    pd.DataFrame({"time": range(len(ids)), "obj_id": ids, "obj_size": 1}).to_csv(trace, index=False)
    out = tmp_path / "one.csv"
    assert main(["trace", "simulate", str(trace), "--policy", "lru", "--size", "2", "--csv", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    rows = pd.read_csv(out)
    assert rows[["policy", "size", "requests", "hits", "misses"]].to_dict("records") == [
        {"policy": "lru", "size": 2, "requests": 8, "hits": 2, "misses": 6}]  # hits: the 2nd and 3rd 1
