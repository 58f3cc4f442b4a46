"""``supreme sim``: list, run, sweep and calibrate the SimPy models of ``sim/``.

Times in the printed summaries are simulated: latencies (p50, p95, p99, waits) in ms, durations
(times, delays) in s, ratios as fractions.  Files written with ``--out`` keep plain SI seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from supreme.cli._args import add_progress, progress_wanted
from supreme.cli.events import add_otlp, export_otlp

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``supreme sim`` and its sub-commands."""
    p = subparsers.add_parser("sim", help="run the SimPy models (list, run, sweep, calibrate)",
                              description=__doc__)
    # kept for `supreme sim --debug ...`; SUPPRESS so it never hides the global `supreme --debug`
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks (same as the global supreme --debug)")
    sub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    ls = sub.add_parser("list", help="list the models and their scenario keys")
    ls.add_argument("--keys", action="store_true", help="also print every scenario key and default")
    ls.set_defaults(func=_list)

    from sim.runner import MODELS

    names = ", ".join(sorted(MODELS))
    run = sub.add_parser("run", help="run one model and print a summary")
    run.add_argument("model", help=f"model name (supreme sim list): {names}")
    run.add_argument("--scenario", type=Path, help="JSON file of scenario keys")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override one scenario key (repeatable)")
    run.add_argument("--out", type=Path, help="write the event log (.parquet or .csv)")
    add_otlp(run)
    run.set_defaults(func=_run)

    sw = sub.add_parser("sweep", help="run a model over a grid of scenarios")
    sw.add_argument("model", help=f"model name (supreme sim list): {names}")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", required=True,
                    help="one swept key and its values (repeatable)")
    sw.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="fixed scenario key for every run")
    sw.add_argument("--executor", default="serial", help="serial, dask (LocalCluster) or tcp://ADDRESS")
    sw.add_argument("--out", type=Path, help="write the results (.csv or .parquet)")
    add_progress(sw)
    sw.set_defaults(func=_sweep)

    cal = sub.add_parser("calibrate", help="measure the real tiers and save latency samples")
    cal.add_argument("--redis-url", help="real Redis to measure (fakeredis is always measured)")
    cal.add_argument("--database-url", help="postgresql:// or sqlite:/// URL to measure")
    cal.add_argument("-n", type=int, default=500, help="samples per step (default 500)")
    cal.add_argument("--out", type=Path, required=True, help="output file (.json or .parquet)")
    cal.set_defaults(func=_calibrate)


def _overrides(scenario_file: Path | None, sets: list[str]) -> dict[str, Any]:
    from sim.scenario import load_scenario_file, parse_assignment

    overrides = load_scenario_file(scenario_file) if scenario_file else {}
    for item in sets:
        key, value = parse_assignment(item)
        overrides[key] = value
    return overrides


def _list(args: argparse.Namespace) -> int:
    from sim.runner import MODELS

    for name in sorted(MODELS):
        spec = MODELS[name]
        print(f"{name:18s} flow={spec.flow:18s} {spec.doc}")
        if args.keys:
            for key, value in sorted(spec.scenario().items()):
                print(f"    {key} = {json.dumps(value)}")
    return 0


def _write(frame: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)


def _run(args: argparse.Namespace) -> int:
    from sim.runner import get_model, run_model
    from sim.units import format_figure

    spec = get_model(args.model)
    log = run_model(args.model, _overrides(args.scenario, args.sets))
    print(f"model {args.model}: {len(log)} events, run {log['run_id'].iloc[0] if len(log) else '-'}")
    for key, value in spec.summarize(log).items():
        print(f"  {key:24s} {format_figure(key, value)}")
    if args.out:
        _write(log, args.out)
        side = args.out.with_suffix(".scenario.json")
        side.write_text(json.dumps(log.attrs["scenario"], indent=1, sort_keys=True))
        print(f"event log written to {args.out} (scenario in {side})")
    for line in export_otlp(args, log):
        print(line)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sim.runner import ModelRunOne
    from sim.sweep import expand_grid, parse_grid, run_sweep

    run_one = ModelRunOne(args.model)
    scenarios = expand_grid(parse_grid(args.grid), base=_overrides(None, args.sets))
    results = run_sweep(run_one, scenarios, executor=args.executor, progress=progress_wanted(args))
    grid_keys = sorted(parse_grid(args.grid))
    summary = [c for c in results.columns if "." not in c and c not in ("seed", "model", "duration")]
    with_cols = list(dict.fromkeys([*grid_keys, *summary]))
    print(results[with_cols].to_string(index=False))
    if args.out:
        _write(results, args.out)
        print(f"results written to {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from sim.calibrate import calibrate

    book = calibrate(args.out, redis_url=args.redis_url, database_url=args.database_url, n=args.n)
    import numpy as np

    for key in book:
        samples = getattr(book[key], "samples", None)
        if samples is not None:
            print(f"  {key:20s} n={samples.size:5d} p50={np.percentile(samples, 50) * 1e6:9.1f} us "
                  f"p99={np.percentile(samples, 99) * 1e6:9.1f} us")
    print(f"latency samples written to {args.out}")
    return 0
