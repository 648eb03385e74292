"""`make bench` part 3: the warehouse build over ≥ 50M spans (issue targets: full build
≤ 3× the floor; a one-day incremental ≤ 1.1× the full build's time per day of data).

1. A template: one demo week (generator + `fleetledger ingest`), so the lake holds real
   rows: agents, versions, models, tool calls, scores, the demo's injected faults.
2. The bench lake: that week shifted by whole weeks and replicated with fresh ids
   (trace ids re-hashed, case/response ids suffixed) in DuckDB, written as lake Parquet
   files with one ingest-log commit per week, as `fleetledger ingest` would have.
3. Floor: one DuckDB `group by agent, week` with `quantile_cont(duration_ms, 0.95)`
   over the lake's span files.
4. Full build of every mart (`warehouse.build(full=True)`).
5. One new day lands (the template's first day, shifted past the end): incremental build.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from tests.benchkit import run

TEMPLATE_DAYS = 7
TEMPLATE_CALLS_PER_DAY = 17_000

SETTINGS = """
import sys
from pathlib import Path
from pipelines.settings import Settings
settings = Settings(data_dir=Path(sys.argv[1]), config_dir=Path(sys.argv[2])).resolved()
"""
FLOOR = """
import time
from pipelines.db import connect, sql_string
started = time.perf_counter()
con = connect(memory_limit="4GB")
files = sql_string(str(settings.lake_dir / "spans" / "*" / "*.parquet"))
rows = con.execute(f"select agent_name, date_trunc('week', started_at) as week, "
    f"count(*), quantile_cont(duration_ms, 0.95) from read_parquet({files}, "
    f"hive_partitioning = false) group by all").fetchall()
print(peak_rss_mb(), time.perf_counter() - started, sum(r[2] for r in rows))
"""
BUILD = """
from pipelines import warehouse
result = warehouse.build(settings, full=sys.argv[3] == "full")
assert result.mode == sys.argv[3], (result.mode, result.reason)
print(peak_rss_mb(), result.seconds, len(result.touched_days), result.n_touched_traces or 0)
"""


# Every id that names a trace or a case gets the replica's mark; span ids stay (unique
# within their trace). Times move by whole days (whole weeks here), so weekdays and
# hours stay as made; the `day` partition follows the table's day column.
def shifted_select(table, mark: str, shift_days: int) -> str:
    moved = [table.day_from] + (["ended_at"] if table.day_from == "started_at" else [])
    shifted = ", ".join(f"{c} + to_days({shift_days}) as {c}" for c in moved)
    return (
        f"select * replace (md5(trace_id || {mark}) as trace_id, "
        f"conversation_id || {mark} as conversation_id, response_id || {mark} as response_id, "
        f"{shifted}), strftime({table.day_from} + to_days({shift_days}), '%Y-%m-%d') as day"
    )


def make_template(root: Path):
    """A demo week, ingested: returns its settings."""
    from pipelines.ingest import ingest_paths
    from pipelines.settings import Settings
    from pipelines.synth import generate_demo

    settings = Settings(
        data_dir=root / "template",
        config_dir=root / "config",
        reports_dir=root / "template-reports",
    ).resolved()
    generate_demo(
        settings.data_dir,
        settings.config_dir,
        days=TEMPLATE_DAYS,
        calls_per_day=TEMPLATE_CALLS_PER_DAY,
        seed=11,
        end=date(2026, 1, 4),  # a Sunday: the template is one ISO week
    )
    ingest_paths([settings.raw_dir / "traces"], settings)
    return settings


def write_commit(con, template, lake_dir: Path, shift_days: int, replicas: int, first_day_only):
    """One ingest-log commit: the template (or its first day) shifted and replicated."""
    from pipelines.db import read_parquet_sql, sql_string
    from pipelines.ingest import lake
    from pipelines.schemas import EVALUATIONS, SPANS

    key, commit_id = "bench" + uuid.uuid4().hex[:11], uuid.uuid4().hex[:12]
    days: set[str] = set()
    rows = 0
    lake_dir.mkdir(parents=True, exist_ok=True)
    for table in (SPANS, EVALUATIONS):
        files = lake.live_files(template.lake_dir, table)
        if first_day_only:
            first = min(lake.partition_day(f) for f in files)
            files = [f for f in files if lake.partition_day(f) == first]
        select = shifted_select(table, f"':{shift_days}:' || replica", shift_days)
        source = read_parquet_sql([str(f) for f in files], partitioned=False)
        con.execute(
            f"copy ({select} from {source}, range({replicas}) as r(replica)) "
            f"to {sql_string(lake_dir / table.name)} (format parquet, partition_by (day), "
            f"filename_pattern '{key}-{commit_id}-00000-{{i}}', overwrite_or_ignore true)"
        )
        written = list((lake_dir / table.name).glob(f"day=*/{key}-*.parquet"))
        days |= {p.parent.name.removeprefix("day=") for p in written}
        rows += con.execute(f"select count(*) from {read_parquet_sql(written)}").fetchone()[0]
    lake.commit(
        lake_dir,
        {
            "source_file": f"/bench/{key}.jsonl",
            "content_sha256": commit_id,
            "source_format": "otlp_json",
            "commit_id": commit_id,
            "rows_read": rows,
            "rows_accepted": rows,
            "rows_quarantined": 0,
            "days": sorted(days),
            "ingested_at": datetime.now(UTC),
        },
    )


def bench_marts(root: Path, spans_wanted: int) -> None:
    from pipelines.db import connect
    from pipelines.ingest import lake
    from pipelines.schemas import SPANS
    from pipelines.settings import Settings

    started = time.perf_counter()
    template = make_template(root)
    con = connect(memory_limit="4GB")
    (template_spans,) = con.execute(
        f"select count(*) from read_parquet("
        f"{[str(f) for f in lake.live_files(template.lake_dir, SPANS)]})"
    ).fetchone()
    weeks = 8
    replicas = math.ceil(spans_wanted / (weeks * template_spans))
    settings = Settings(data_dir=root / "data", config_dir=template.config_dir).resolved()
    for week in range(weeks):
        write_commit(con, template, settings.lake_dir, 7 * week, replicas, first_day_only=False)
    n_days = len({lake.partition_day(f) for f in lake.live_files(settings.lake_dir, SPANS)})
    gen_s = time.perf_counter() - started
    print(f"{'make the lake (template × replicas)':<38} {gen_s:8.2f} s   "
          f"{template_spans:,} template spans × {replicas} replicas × {weeks} weeks")  # fmt: skip

    args = (str(settings.data_dir), str(settings.config_dir))
    _, values = run("floor: group by agent, week + p95", SETTINGS + FLOOR, *args)
    floor_s, spans = float(values[1]), int(values[2])
    _, values = run("full build (every mart)", SETTINGS + BUILD, *args, "full")
    full_s, full_rss = float(values[1]), float(values[0])

    write_commit(con, template, settings.lake_dir, 7 * weeks, replicas, first_day_only=True)
    con.close()
    _, values = run("incremental build (one new day)", SETTINGS + BUILD, *args, "incremental")
    incremental_s, incremental_rss = float(values[1]), float(values[0])
    touched_days, touched_traces = int(values[2]), int(values[3])

    per_day = full_s / n_days
    print(f"  lake: {spans:,} spans over {n_days} days; build times exclude imports")
    print(f"  floor        {floor_s:7.2f} s  {spans / floor_s:>12,.0f} spans/s")
    print(f"  full build   {full_s:7.2f} s  {spans / full_s:>12,.0f} spans/s   "
          f"peak RSS {full_rss:,.0f} MB")  # fmt: skip
    print(f"  incremental  {incremental_s:7.2f} s  {touched_traces:,} traces, "
          f"{touched_days} day(s) rewritten   peak RSS {incremental_rss:,.0f} MB")  # fmt: skip
    print(f"  ratio full build / floor = {full_s / floor_s:.2f}  (target ≤ 3)")
    print(f"  ratio incremental / (full build per day = {per_day:.2f} s) = "
          f"{incremental_s / per_day:.2f}  (target ≤ 1.10)")  # fmt: skip
