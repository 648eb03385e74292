"""`make bench`: speed against a floor measured in the same run, printed as ratios.

1. Demo generation: ≥1M spans (simulate + OTLP/JSON) — target well under a minute.
2. Ingest of that OTLP/JSON vs the floor: DuckDB `read_json` of the same files straight to
   Parquet with no transformation. Prints spans/s, MB/s, peak RSS and the ratio.
Run: python -m tests.bench [--calls-per-day N] [--days N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from pipelines.db import connect, sql_string
from pipelines.ingest import ingest_paths
from pipelines.settings import Settings
from pipelines.synth import generate_demo


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, function):
    started = time.perf_counter()
    value = function()
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {elapsed:8.2f} s   peak RSS so far {_peak_rss_mb():7.0f} MB")
    return value, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--calls-per-day", type=int, default=17_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fleetledger-bench-"))
    try:
        settings = Settings(data_dir=root / "data", config_dir=root / "config").resolved()
        summary, gen_s = _timed(
            "generate demo (simulate + write)",
            lambda: generate_demo(settings.data_dir, settings.config_dir, days=args.days,
                                  calls_per_day=args.calls_per_day, end=date(2026, 10, 31)),
        )  # fmt: skip
        traces = settings.raw_dir / "traces"
        size_mb = summary.trace_bytes / 1e6
        rate = summary.n_spans / gen_s
        print(f"  {summary.n_spans:,} spans, {size_mb:,.0f} MB → {rate:,.0f} spans/s")

        def floor() -> None:
            con = connect(memory_limit="4GB")
            glob = sql_string(traces / "*.jsonl")
            out = sql_string(root / "floor.parquet")
            con.execute(f"copy (select * from read_json({glob}, format = 'newline_delimited', "
                        f"ignore_errors = true)) to {out} (format parquet)")  # fmt: skip
            con.close()

        _, floor_s = _timed("floor: read_json → Parquet", floor)
        _, ingest_s = _timed("fleetledger ingest", lambda: ingest_paths([traces], settings))
        print(f"  floor  {size_mb / floor_s:8.1f} MB/s")
        print(f"  ingest {size_mb / ingest_s:8.1f} MB/s, {summary.n_spans / ingest_s:,.0f} spans/s")
        print(f"  ratio ingest / floor = {ingest_s / floor_s:.2f}  (issue target ≤ 1.5)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
