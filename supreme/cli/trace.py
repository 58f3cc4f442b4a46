"""``supreme trace``: simulate eviction policies over access traces, describe them, curves, convert.

``supreme trace info TRACE`` prints requests, objects, working set, one-hit wonders and the
reuse-distance histogram (:func:`supreme.cache.traces.info.trace_info`).  ``supreme trace mrc
TRACE`` prints the exact one-pass LRU miss-ratio curve and/or SHARDS estimates of it, with the
sampling error beside the exact curve when both run (:mod:`supreme.cache.mrc`).  Every command
reads every format of :mod:`supreme.cache.trace` (zstd told by magic bytes) and takes the csv
column mapping (``--obj-id-col``, ``--time-col``, ``--size-col``, ``--header``/``--no-header``,
``--delimiter``, ``--obj-id-str``); long runs show a progress bar unless ``--no-progress``.

``supreme trace simulate TRACE --size N|--sizes LIST [--policy P]`` replays the trace through the
static policy with the compiled kernels.  With ``--adaptive`` and/or ``--prefetch`` it also runs
the trace, request by request in Python, through the adaptive layer
(:func:`supreme.adaptive.trace_compare.adaptive_rows`, starting on ``--policy``; a prefetch is
charged as a source fetch) and prints, per size, its demand misses, prefetch fetches, total source
fetches, request miss ratio and prefetch accuracy/coverage beside the static policy's.  The
learning cycle runs on the trace's own clock (its ``time`` column, seconds) or, with ``--rate R``,
on request ``i`` at ``i / R`` seconds.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supreme.cache.policies import POLICIES, PolicyError, normalize_name
from supreme.cache.trace import FORMATS, WRITABLE, Trace, TraceError, load_trace, save_trace
from supreme.cli._args import add_progress, progress_wanted
from supreme.cli._errors import report_error
from supreme.errors import SupremeError

__all__ = ["register"]

#: Figures printed for each mode, as (label, row key, format).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("demand misses", "demand_misses", "d"), ("prefetch fetches", "prefetch_fetches", "d"),
    ("source fetches", "source_fetches", "d"), ("miss ratio", "miss_ratio", ".4f"),
    ("fetch ratio", "fetch_ratio", ".4f"), ("prefetch accuracy", "prefetch_accuracy", ".4f"),
    ("prefetch coverage", "prefetch_coverage", ".4f"), ("final policy", "final_policy", "s"),
    ("policy switches", "policy_switches", "d"), ("adaptations", "adaptations", "d"),
)


def _sizes(text: str) -> list[int] | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PolicyError(f"--sizes must be comma-separated integers or 'auto', got {text!r}") from None
    if not values or min(values) <= 0:
        raise PolicyError(f"--sizes must be positive integers, got {text!r}")
    return values


def _column(text: str | None) -> str | int | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text.strip()


def _csv_options(args: argparse.Namespace) -> dict[str, Any]:
    cols = {k: _column(getattr(args, f"{k}_col")) for k in ("time", "obj_id", "size")}
    options: dict[str, Any] = {}
    if any(v is not None for v in cols.values()):
        if cols["obj_id"] is None:
            raise TraceError("--time-col/--size-col need --obj-id-col too")
        options["columns"] = {("obj_size" if k == "size" else k): v for k, v in cols.items() if v is not None}
    if args.header is not None:
        options["header"] = args.header
    if args.delimiter is not None:
        options["delimiter"] = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if args.obj_id_str:
        options["obj_id_is_num"] = False
    return options


def _load(args: argparse.Namespace, path: str) -> Trace:
    return load_trace(path, args.format, **_csv_options(args))


def _limit(trace: Trace, limit: int | None) -> Trace:
    if limit is None:
        return trace
    if limit <= 0:
        raise PolicyError(f"--limit must be a positive integer, got {limit}")
    return Trace(trace.time[:limit], trace.obj_id[:limit], trace.obj_size[:limit])


def _simulate(args: argparse.Namespace) -> int:
    names = list(POLICIES) if args.policy.lower() == "all" else [normalize_name(args.policy)]
    if args.size is not None and args.size <= 0:
        raise PolicyError(f"--size must be a positive integer, got {args.size}")
    if args.size is None and args.sizes is None:
        raise PolicyError("give --size N or --sizes LIST|auto")
    if args.warmup < 0:
        raise PolicyError(f"--warmup must be >= 0, got {args.warmup}")
    learning = args.adaptive or args.prefetch
    if learning:
        _check_adaptive_args(args, names)
    elif args.threshold is not None or args.rate is not None or args.cycle is not None:
        raise PolicyError("--threshold, --rate and --cycle apply to --adaptive/--prefetch runs only")
    spec = None if args.sizes is None else _sizes(args.sizes)  # a bad list fails before the load
    if args.stream or args.sample is not None:
        if learning or spec is not None or args.warmup:
            raise PolicyError("--stream/--sample run one --size without --warmup, --adaptive or --prefetch")
        if args.limit is not None and args.limit <= 0:
            raise PolicyError(f"--limit must be a positive integer, got {args.limit}")
        return _print_streamed(args, names)
    trace = _limit(_load(args, args.trace), args.limit)
    if learning:
        from supreme.cache.traces import auto_sizes

        sizes = [args.size] if spec is None else (auto_sizes(trace) if isinstance(spec, str) else spec)
        return _print_adaptive(args, trace, names[0], sizes)
    if spec is None:
        return _print_one_size(args, trace, names)
    return _print_curve(args, trace, names, spec)


def _print_streamed(args: argparse.Namespace, names: list[str]) -> int:
    import time

    import numpy as np

    from supreme.cache.traces.formats import detect_format
    from supreme.cache.traces.scale import simulate_stream, stream_chunks

    def chunks() -> Any:
        if detect_format(args.trace, args.format).format == "oraclegeneral":
            return stream_chunks(args.trace, args.format)
        trace = _load(args, args.trace)  # other formats: loaded whole, then fed in chunks
        step = 1 << 20
        return ((trace.obj_id[i:i + step].astype(np.uint64), trace.obj_size[i:i + step].astype(np.int64))
                for i in range(0, len(trace), step))

    from supreme.cache.kernels.resume import RESUMABLE
    from supreme.cache.policies import split_spec

    if args.sample is not None and not 0.0 < args.sample <= 1.0:
        raise PolicyError(f"--sample must be a rate in (0, 1], got {args.sample}")
    if len(names) > 1:  # 'all': the policies that need the whole trace (OPT) are left out
        skipped = [n for n in names if split_spec(n)[0] not in RESUMABLE]
        names = [n for n in names if n not in skipped]
        if skipped:
            print(f"(not streamable, left out: {', '.join(skipped)})")
    what = f"sample {args.sample}" if args.sample is not None else "streamed"
    print(f"trace {args.trace}: size {args.size} ({'bytes' if args.bytes else 'objects'}), {what}")
    print(f"{'policy':<10}{'read':>12}{'fed':>12}{'misses':>12}{'miss_ratio':>12}{'requests/s':>14}")
    for n in names:
        t0 = time.perf_counter()  # wall time of the whole run, for the requests/s figure only
        r = simulate_stream(chunks(), n, args.size, limit=args.limit, sample=args.sample,
                            ignore_size=not args.bytes)
        rate = r.read / max(time.perf_counter() - t0, 1e-9)
        print(f"{r.policy:<10}{r.read:>12}{r.requests:>12}{r.misses:>12}{r.miss_ratio:>12.4f}{rate:>14,.0f}")
    return 0


def _print_one_size(args: argparse.Namespace, trace: Trace, names: list[str]) -> int:
    from supreme.cache.traces import simulate

    rows = [simulate(trace, n, args.size, warmup=args.warmup, ignore_size=not args.bytes) for n in names]
    print(f"trace {args.trace}: {len(trace)} requests, size {args.size} "
          f"({'bytes' if args.bytes else 'objects'}), warmup {args.warmup}")
    print(f"{'policy':<10}{'hits':>10}{'misses':>10}{'miss_ratio':>12}{'byte_miss_ratio':>17}")
    for r in rows:
        print(f"{r.policy:<10}{r.hits:>10}{r.misses:>10}{r.miss_ratio:>12.4f}{r.byte_miss_ratio:>17.4f}")
    if args.csv:
        import pandas as pd

        pd.DataFrame([{"policy": r.policy, "size": args.size, "requests": r.hits + r.misses, "hits": r.hits,
                       "misses": r.misses, "miss_ratio": r.miss_ratio, "byte_miss_ratio": r.byte_miss_ratio}
                      for r in rows]).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _print_curve(args: argparse.Namespace, trace: Trace, names: list[str], spec: list[int] | str) -> int:
    import pandas as pd

    from supreme.cache.traces import auto_sizes, miss_ratio_curve

    ignore = not args.bytes
    sizes = auto_sizes(trace, ignore_size=ignore) if isinstance(spec, str) else spec
    # LRU's whole curve comes from one stack-distance pass (equal to the per-size runs)
    frames = [miss_ratio_curve(trace, n, sizes, warmup=args.warmup, ignore_size=ignore, one_pass=True,
                               progress=progress_wanted(args)) for n in names]
    mrc = pd.concat(frames, ignore_index=True)
    table = mrc.pivot(index="size", columns="policy", values="miss_ratio")[names]
    print(f"miss ratio, trace {args.trace} ({len(trace)} requests)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        mrc.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")  # a command writes files; it never opens a window
        from lab.eviction import plot_curve

        fig = plot_curve(table, title=f"Miss-ratio curve: {Path(args.trace).name}",
                         xlabel="cache size (bytes)" if args.bytes else "cache size (objects)")
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def _check_adaptive_args(args: argparse.Namespace, names: list[str]) -> None:
    flag = "--adaptive" if args.adaptive else "--prefetch"
    if len(names) != 1:
        raise PolicyError(f"{flag} needs one --policy (the static baseline and the start), not 'all'")
    if names[0] == "opt":
        raise PolicyError(f"{flag} needs a live policy; 'opt' knows the future and cannot be adapted")
    if args.bytes:
        raise PolicyError(f"{flag} simulates a key-only cache: --bytes is not supported")
    if args.warmup:
        raise PolicyError(f"{flag} counts every request: --warmup is not supported")
    if args.plot:
        raise PolicyError(f"{flag} prints tables: --plot is not supported (use --csv)")
    if args.threshold is not None:
        if not args.prefetch:
            raise PolicyError("--threshold is the prefetch confidence threshold: it needs --prefetch")
        if not 0.0 <= args.threshold <= 1.0:
            raise PolicyError(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.rate is not None and not (math.isfinite(args.rate) and args.rate > 0):
        raise PolicyError(f"--rate must be a positive number of requests per second, got {args.rate}")
    if args.cycle is not None and not (math.isfinite(args.cycle) and args.cycle > 0):
        raise PolicyError(f"--cycle must be a positive number of seconds, got {args.cycle}")


def _cell(value: Any, fmt: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return format(value, fmt)


def _print_adaptive(args: argparse.Namespace, trace: Trace, policy: str, sizes: list[int]) -> int:
    from supreme.adaptive.trace_compare import adaptive_rows

    threshold = 0.4 if args.threshold is None else args.threshold
    cycle = 60.0 if args.cycle is None else args.cycle
    rows = adaptive_rows(trace, policy, sizes, adaptive=args.adaptive, prefetch=args.prefetch,
                         threshold=threshold, rate=args.rate, cycle_seconds=cycle)
    clock = "trace times" if args.rate is None else f"{args.rate:g} requests/s"
    what = ", ".join(x for x, on in (("adaptive", args.adaptive),
                                     (f"prefetch (threshold {threshold:g})", args.prefetch)) if on)
    print(f"trace {args.trace}: {len(trace)} requests (objects); {what}, starting on {policy}; "
          f"learning cycle every {cycle:g} s on {clock}"
          + ("; a prefetch is charged as a source fetch" if args.prefetch else ""))
    for size in sizes:
        static, learned = (r for r in rows if r["size"] == size)
        head = (f"static {policy}", learned["mode"])
        width = max(12, *(len(h) for h in head)) + 2
        print(f"\nsize {size}")
        print(f"{'':<20}" + "".join(f"{h:>{width}}" for h in head))
        for label, field, fmt in FIGURES:
            print(f"{label:<20}" + "".join(f"{_cell(r[field], fmt):>{width}}" for r in (static, learned)))
    if args.csv:
        import pandas as pd

        pd.DataFrame.from_records(rows).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from supreme.cache.traces.formats import detect_format
    from supreme.cache.traces.info import trace_info

    src = detect_format(args.trace, args.format)
    trace = _limit(_load(args, args.trace), args.limit)
    info = trace_info(trace, progress=progress_wanted(args))
    print(f"trace {args.trace}: {src.format}{' (zstd)' if src.compressed else ''}")
    for key, value in info.as_dict().items():
        print(f"  {key:<22}{value:>20,.4f}" if isinstance(value, float) else f"  {key:<22}{value:>20,}")
    print("reuse distance (LRU stack distance, objects):")
    print(info.reuse.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        info.reuse.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _mrc(args: argparse.Namespace) -> int:
    from supreme.cache.mrc import curve_table
    from supreme.cache.traces import auto_sizes

    if args.points <= 0:
        raise PolicyError(f"--points must be a positive integer, got {args.points}")
    if args.warmup < 0:
        raise PolicyError(f"--warmup must be >= 0, got {args.warmup}")
    spec = _sizes(args.sizes)
    trace = _limit(_load(args, args.trace), args.limit)
    ignore = not args.bytes
    sizes = auto_sizes(trace, args.points, ignore_size=ignore) if isinstance(spec, str) else spec
    table = curve_table(trace, sizes, exact=not args.no_exact, rate=args.shards_rate, s_max=args.shards_size,
                        stratify=args.shards_stratified, head=args.shards_head, warmup=args.warmup,
                        ignore_size=ignore, progress=progress_wanted(args))
    print(f"LRU miss ratio, trace {args.trace} ({len(trace)} requests, sizes in "
          f"{'bytes' if args.bytes else 'objects'})")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    for col in table.columns:
        if str(col).startswith("error"):
            print(f"mean absolute {col}: {table[col].mean():.4f} (max {table[col].max():.4f})")
    if args.csv:
        table.reset_index().to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    trace = _load(args, args.src)
    out = save_trace(trace, args.dst, args.to)
    print(f"wrote {len(trace)} requests to {out}")
    return 0


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except SupremeError as exc:  # PolicyError, TraceError, AdaptiveConfigError …: one line (+ a hint)
            report_error(args, exc)
            return 2
    return run


def _input_args(p: argparse.ArgumentParser, *, progress: bool = True) -> None:
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="trace format (auto: by magic bytes, then by name; zstd is told by its magic)")
    p.add_argument("--obj-id-col", help="csv/txt: object id column (header name or 1-based field)")
    p.add_argument("--time-col", help="csv/txt: time column (default: none, time 0)")
    p.add_argument("--size-col", help="csv/txt: size column (default: none, size 1)")
    p.add_argument("--header", dest="header", action="store_true", default=None,
                   help="csv/txt: the first line is a header (default: guessed)")
    p.add_argument("--no-header", dest="header", action="store_false", help="csv/txt: no header line")
    p.add_argument("--delimiter", help="csv/txt: field delimiter (default ','; 'tab' for tabs)")
    p.add_argument("--obj-id-str", action="store_true",
                   help="csv/txt: object ids are strings, hashed to 64-bit ids (default: guessed)")
    if progress:
        add_progress(p)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``supreme trace simulate|info|mrc|convert``."""
    parser = subparsers.add_parser("trace", help="simulate eviction policies over access traces")
    sub = parser.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    sim = sub.add_parser("simulate", help="miss ratios of a policy (or all) at a size or a list of sizes")
    sim.add_argument("trace", help="trace file (oracleGeneral, lcs, vscsi, twr, csv/txt, parquet; or .zst)")
    sim.add_argument("--policy", default="lru", help=f"one of {', '.join(POLICIES)}, or 'all'")
    sim.add_argument("--size", type=int, help="cache size (objects; bytes with --bytes)")
    sim.add_argument("--sizes", help="comma-separated sizes or 'auto' for a miss-ratio curve")
    sim.add_argument("--warmup", type=int, default=0, help="requests not counted at the start")
    _input_args(sim)
    sim.add_argument("--bytes", action="store_true", help="use object sizes (default: every object is 1)")
    sim.add_argument("--csv", help="write the miss-ratio curve to this CSV")
    sim.add_argument("--plot", help="write the miss-ratio curve to this PNG")
    sim.add_argument("--limit", type=int, help="use only the first N requests of the trace")
    sim.add_argument("--stream", action="store_true",
                     help="one size: read the trace chunk by chunk (oracleGeneral/zst), memory bounded by "
                          "the objects, and print requests/s")
    sim.add_argument("--sample", type=float,
                     help="one size: SHARDS-sample objects at this rate in (0, 1] (implies --stream)")
    sim.add_argument("--adaptive", action="store_true",
                     help="also run the adaptive layer (policy switching, budget split) from --policy, "
                          "request by request, beside the static policy")
    sim.add_argument("--prefetch", action="store_true",
                     help="with predictive prefetching (each prefetch costs a source fetch)")
    sim.add_argument("--threshold", type=float,
                     help="prefetch confidence threshold in [0, 1] (default 0.4; needs --prefetch)")
    sim.add_argument("--rate", type=float,
                     help="space requests 1/RATE seconds apart for the learning cycle "
                          "(default: the trace's own times)")
    sim.add_argument("--cycle", type=float, help="learning-cycle period in seconds (default 60)")
    sim.set_defaults(func=_guard(_simulate))
    info = sub.add_parser("info", help="requests, objects, working set, one-hit wonders, reuse distances")
    info.add_argument("trace")
    info.add_argument("--limit", type=int, help="use only the first N requests of the trace")
    info.add_argument("--csv", help="write the reuse-distance histogram to this CSV")
    _input_args(info)
    info.set_defaults(func=_guard(_info))
    mrc = sub.add_parser("mrc", help="one-pass LRU miss-ratio curve (exact) and SHARDS estimates")
    mrc.add_argument("trace")
    mrc.add_argument("--sizes", default="auto", help="comma-separated sizes or 'auto' (log-spaced)")
    mrc.add_argument("--points", type=int, default=100, help="number of sizes for --sizes auto")
    mrc.add_argument("--shards-rate", type=float, help="also estimate by SHARDS at this fixed rate (0, 1]")
    mrc.add_argument("--shards-size", type=int, help="also estimate by fixed-size SHARDS keeping N objects")
    mrc.add_argument("--shards-stratified", action="store_true",
                     help="also stratified SHARDS at --shards-rate (the sample re-weighted by request count)")
    mrc.add_argument("--shards-head", type=int, default=0,
                     help="with --shards-stratified: always keep the N most requested objects")
    mrc.add_argument("--no-exact", action="store_true", help="skip the exact curve (SHARDS only)")
    mrc.add_argument("--warmup", type=int, default=0, help="requests not counted at the start")
    mrc.add_argument("--bytes", action="store_true", help="sizes in bytes (default: objects)")
    mrc.add_argument("--limit", type=int, help="use only the first N requests of the trace")
    mrc.add_argument("--csv", help="write the curve(s) and errors to this CSV")
    _input_args(mrc)
    mrc.set_defaults(func=_guard(_mrc))
    conv = sub.add_parser("convert", help="convert a trace between formats")
    conv.add_argument("src")
    conv.add_argument("dst")
    _input_args(conv, progress=False)
    conv.add_argument("--to", default="auto", choices=("auto", *WRITABLE),
                      help="format of DST (auto: from its name)")
    conv.set_defaults(func=_guard(_convert))
