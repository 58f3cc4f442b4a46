"""``supreme trace``: simulate eviction policies over access traces, and convert trace formats."""

from __future__ import annotations

import argparse
import sys

from supreme.cache.policies import POLICIES, PolicyError, normalize_name
from supreme.cache.trace import FORMATS, TraceError, load_trace, save_trace

__all__ = ["register"]


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


def _simulate(args: argparse.Namespace) -> int:
    from supreme.cache.traces import auto_sizes, miss_ratio_curve, simulate

    names = list(POLICIES) if args.policy.lower() == "all" else [normalize_name(args.policy)]
    if args.size is not None and args.size <= 0:
        raise PolicyError(f"--size must be a positive integer, got {args.size}")
    if args.size is None and args.sizes is None:
        raise PolicyError("give --size N or --sizes LIST|auto")
    if args.warmup < 0:
        raise PolicyError(f"--warmup must be >= 0, got {args.warmup}")
    trace = load_trace(args.trace, args.format)
    ignore = not args.bytes
    if args.sizes is None:
        rows = [simulate(trace, n, args.size, warmup=args.warmup, ignore_size=ignore) for n in names]
        print(f"trace {args.trace}: {len(trace)} requests, size {args.size} "
              f"({'bytes' if args.bytes else 'objects'}), warmup {args.warmup}")
        print(f"{'policy':<10}{'hits':>10}{'misses':>10}{'miss_ratio':>12}{'byte_miss_ratio':>17}")
        for r in rows:
            print(f"{r.policy:<10}{r.hits:>10}{r.misses:>10}{r.miss_ratio:>12.4f}{r.byte_miss_ratio:>17.4f}")
        return 0
    spec = _sizes(args.sizes)
    sizes = auto_sizes(trace, ignore_size=ignore) if isinstance(spec, str) else spec
    frames = [miss_ratio_curve(trace, n, sizes, warmup=args.warmup, ignore_size=ignore) for n in names]
    import pandas as pd

    mrc = pd.concat(frames, ignore_index=True)
    table = mrc.pivot(index="size", columns="policy", values="miss_ratio")[names]
    print(f"miss ratio, trace {args.trace} ({len(trace)} requests)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        mrc.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for n in names:
            ax.plot(table.index, table[n], marker="o", label=n)
        ax.set_xscale("log")
        ax.set_xlabel("cache size (bytes)" if args.bytes else "cache size (objects)")
        ax.set_ylabel("miss ratio")
        ax.set_title(f"Miss-ratio curve: {args.trace}")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    trace = load_trace(args.src, args.format)
    out = save_trace(trace, args.dst, args.to)
    print(f"wrote {len(trace)} requests to {out}")
    return 0


def _guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (PolicyError, TraceError) as exc:
            print(f"supreme trace: error: {exc}", file=sys.stderr)
            return 2
    return run


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``supreme trace simulate|convert``."""
    parser = subparsers.add_parser("trace", help="simulate eviction policies over access traces")
    sub = parser.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    sim = sub.add_parser("simulate", help="miss ratios of a policy (or all) at a size or a list of sizes")
    sim.add_argument("trace", help="trace file (csv, oracleGeneral .bin, parquet)")
    sim.add_argument("--policy", default="lru", help=f"one of {', '.join(POLICIES)}, or 'all'")
    sim.add_argument("--size", type=int, help="cache size (objects; bytes with --bytes)")
    sim.add_argument("--sizes", help="comma-separated sizes or 'auto' for a miss-ratio curve")
    sim.add_argument("--warmup", type=int, default=0, help="requests not counted at the start")
    sim.add_argument("--format", default="auto", choices=FORMATS)
    sim.add_argument("--bytes", action="store_true", help="use object sizes (default: every object is 1)")
    sim.add_argument("--csv", help="write the miss-ratio curve to this CSV")
    sim.add_argument("--plot", help="write the miss-ratio curve to this PNG")
    sim.set_defaults(func=_guard(_simulate))
    conv = sub.add_parser("convert", help="convert a trace between formats")
    conv.add_argument("src")
    conv.add_argument("dst")
    conv.add_argument("--format", default="auto", choices=FORMATS, help="format of SRC")
    conv.add_argument("--to", default="auto", choices=FORMATS, help="format of DST (auto: from its name)")
    conv.set_defaults(func=_guard(_convert))
