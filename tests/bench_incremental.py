"""`make bench` part 7: the incremental build of one new day on lakes of 10, 30 and 90 days
(issue target: flat, the slowest within 1.3× the fastest).

1. A template: one demo week, ingested (tests/bench_marts.py), replicated so that one of
   its weekdays holds about the wanted spans per day.
2. The lake grows day by day, one ingest-log commit per day (as a nightly ingest writes
   it): day i is the template's day i mod 7, shifted by whole weeks, with fresh ids.
3. At each lake size: a full build (untimed: it brings the warehouse up to date), then
   `repeats` new days land one at a time, each followed by an incremental build, timed
   in its own process (imports excluded), with the drift marts' share inside it.
   Every new day is the template's first day (a Monday), so every measured day holds
   the same spans; the lake grows by one day per repeat (negligible against its size).
4. Floor: the same incremental build's time on the smallest lake. The ratio printed is
   max / min of the per-size medians.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tests.bench_marts import (
    BUILD,
    SETTINGS,
    TEMPLATE_CALLS_PER_DAY,
    make_template,
    template_spans,
    write_commit,
)
from tests.benchkit import record, run

LAKE_SIZES = (10, 30, 90)


def bench_incremental(
    root: Path,
    day_spans: int,
    *,
    sizes: tuple[int, ...] = LAKE_SIZES,
    repeats: int = 3,
    calls_per_day: int = TEMPLATE_CALLS_PER_DAY,
) -> None:
    from pipelines.db import connect
    from pipelines.settings import Settings

    print(f"\n== incremental build of one new day (≈ {day_spans:,} spans) on lakes of "
          f"{', '.join(map(str, sizes))} days, median of {repeats} ==")  # fmt: skip
    started = time.perf_counter()
    template = make_template(root, calls_per_day)
    con = connect(memory_limit="4GB")
    monday = template_spans(con, template, template_day=0)
    replicas = max(1, round(day_spans / monday))
    settings = Settings(
        data_dir=root / "incremental-data", config_dir=template.config_dir
    ).resolved()
    print(f"{'template week':<38} {time.perf_counter() - started:8.2f} s   "
          f"new day = {monday:,} spans × {replicas} replicas")  # fmt: skip
    args = (str(settings.data_dir), str(settings.config_dir))
    filled: set[int] = set()
    medians: dict[int, float] = {}
    for size in sizes:
        started = time.perf_counter()
        for day in sorted(set(range(size)) - filled):
            write_commit(con, template, settings.lake_dir, 7 * (day // 7), replicas,
                         template_day=day % 7)  # fmt: skip
            filled.add(day)
        print(f"{f'lake of {size} days':<38} {time.perf_counter() - started:8.2f} s")
        run(f"full build, lake of {size} days", SETTINGS + BUILD, *args, "full")
        seconds, drift = [], []
        for repeat in range(repeats):
            new_day = size + repeat  # the template's Monday, moved to the day after the lake
            write_commit(con, template, settings.lake_dir, new_day, replicas, template_day=0)
            filled.add(new_day)
            _, values = run(f"  incremental, +1 day on {new_day} days", SETTINGS + BUILD,
                            *args, "incremental")  # fmt: skip
            seconds.append(float(values[1]))
            drift.append(float(values[4]))
        medians[size] = statistics.median(seconds)
        drift_median = statistics.median(drift)
        print(f"  lake of {size:>3} days: incremental {medians[size]:6.2f} s (median of "
              f"{repeats}: {', '.join(f'{s:.2f}' for s in seconds)}), drift inside it "
              f"{drift_median:.2f} s")  # fmt: skip
        record("incremental", **{f"days_{size}_s": medians[size],
                                 f"days_{size}_drift_s": drift_median})  # fmt: skip
    con.close()
    slowest, fastest = max(medians.values()), min(medians.values())
    flatness = slowest / fastest
    print(f"  ratio slowest / fastest = {slowest:.2f} s / {fastest:.2f} s = {flatness:.2f}"
          f"   target ≤ 1.3: {'met' if flatness <= 1.3 else 'NOT met'}")  # fmt: skip
    record("incremental", day_spans=monday * replicas, sizes=list(sizes), repeats=repeats,
           flatness_ratio=flatness, flatness_target=1.3)  # fmt: skip
