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

    cal = sub.add_parser("calibrate", help="measure the real code on this machine; write the latency book",
                         description="Run the real SignalPipeline and the real cache tiers in process "
                         "(fakeredis + temporary SQLite, or the given servers) and write the latency book "
                         "(schema, machine, back-ends, date; per-step CPU and per-tier I/O) that the "
                         "signal-flow models load by default.")
    cal.add_argument("--redis-url", help="real Redis to measure (default: fakeredis in process)")
    cal.add_argument("--database-url", help="postgresql:// URL to measure (default: temporary SQLite)")
    cal.add_argument("-n", type=int, default=500, help="tight-loop samples per step (default 500)")
    cal.add_argument("--requests", type=int, default=4000, help="signal requests of the real run (4000)")
    cal.add_argument("--out", type=Path, default=None,
                     help="book file (.json; default ~/.cache/supreme/latency_book.json, which the models "
                     "then load; SUPREME_LATENCY_BOOK overrides where they look)")
    cal.set_defaults(func=_calibrate)

    from sim.validate import VALIDATED

    val = sub.add_parser("validate", help="real service vs model on the same workload: percentile errors, KS",
                         description="Run the real service in process and the model on the same workload "
                         "(scenario and seed); print P50/P95/P99, relative errors, KS distance and the "
                         "seed noise floor (the model against itself with seed + 1).")
    val.add_argument("model", help=f"one of: {', '.join(VALIDATED)}")
    val.add_argument("--book", type=Path, help="latency book (default: the models' default book)")
    val.add_argument("--redis-url", help="real Redis (default: fakeredis in process)")
    val.add_argument("--database-url", help="postgresql:// URL (default: temporary SQLite)")
    val.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    val.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override one scenario key (repeatable)")
    val.add_argument("--no-real-floor", dest="real_floor", action="store_false",
                     help="skip the second real run (the real service's own run-to-run noise)")
    val.set_defaults(func=_validate)


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
    from sim.book import USER_BOOK, load_book
    from sim.validate import calibrate_book

    out = calibrate_book(args.out or USER_BOOK.expanduser(), redis_url=args.redis_url,
                         database_url=args.database_url, requests=args.requests, n=args.n)
    import numpy as np

    for section in (None, "trading_signal", "cache_hierarchy"):
        book = load_book(out, section)
        for key in book:
            samples = getattr(book[key], "samples", None)
            if samples is not None and (section is None or key.startswith(("cpu.", "L2", "L3"))):
                p50, p99 = np.percentile(samples, [50, 99]) * 1e6
                print(f"  {section or 'shared':15s} {key:22s} n={samples.size:5d} p50={p50:9.1f} us "
                      f"p99={p99:9.1f} us")
    print(f"latency book written to {out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from sim.validate import validate, verdict

    table = validate(args.model, book=args.book, redis_url=args.redis_url, database_url=args.database_url,
                     seed=args.seed, overrides=_overrides(None, args.sets), real_floor=args.real_floor)
    shown = table.copy()
    for col in shown.columns:
        if col.startswith("p") and col.endswith(("_ref", "_other")):
            shown[col] = shown[col] * 1e3
    shown = shown.rename(columns={c: c.replace("_ref", "_ref_ms").replace("_other", "_other_ms")
                                  for c in shown.columns})
    print(f"{args.model}: {table.attrs['n_real']} real requests, {table.attrs['n_sim']} simulated "
          f"(pairs 'other vs ref'; errors (other - ref) / ref)")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:8.3f}"))
    v = verdict(table)
    print("targets: P50 within 10 %: {}, P99 within 10 %: {}, KS within 2x noise floor: {}".format(
        *("met" if v[k] else "NOT met" for k in ("p50", "p99", "ks"))))
    return 0
