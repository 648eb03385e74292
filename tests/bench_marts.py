"""`make bench` part 3: the warehouse build (issue targets: full build ≤ 3× the floor; a
one-day incremental ≤ 1.1× the full build's time per day of data).

1. A template: one demo week (generator + `fleetledger ingest`), so the lake holds real
   rows: agents, versions, models, tool calls, scores, the demo's injected faults.
2. The bench lake: that week shifted by whole weeks and replicated with fresh ids
   (trace ids re-hashed, case/response ids suffixed) in DuckDB, written as lake Parquet
   files with one ingest-log commit per week, as `fleetledger ingest` would have.
3. Floor: the simplest honest SQL a competent analyst would write for "agent × week:
   cases, exact p95 latency, cost from the price table", in one DuckDB statement over
   the lake's span files (MARTS_FLOOR_SQL):
   - attribution: every span belongs to its trace's first `invoke_agent` span's agent
     (`arg_min(agent_name, started_at)`), a trace is a case;
   - cost: each LLM call joined to `model_resolution` (traced provider/model → price ids)
     and to genai-prices' `model_prices` valid at the call's start, in its input-token
     tier: uncached input, cache reads, cache writes and output × their list prices;
   - `group by agent, week` with `quantile_cont(latency, 0.95)` (exact) and `sum(cost)`.
   The two price seeds are built in the timed work, as the build builds them. It skips
   what the build does beyond that: sub-agent walks, conversations as cases, duplicate
   calls, audit completeness, price overrides, unpriced detection, quality, daily and
   monthly grains, the other marts, drift, writing facts.
4. Full build of every mart (`warehouse.build(full=True)`).
5. A second floor, of what any build must also do: the built facts' rows, read back and
   re-written as day-partitioned Parquet with no computation (FACTS_WRITE). The build
   writes them once; floor + this is what the ≤ 3× target leaves room beside.
6. One new day lands (the template's first day, shifted past the end): incremental build.

Both sides are timed inside their own process, imports excluded; the floor is the median
of three runs, one before the full build and two after it.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.benchkit import ratio, record, run

TEMPLATE_DAYS = 7
TEMPLATE_START = date(2025, 12, 29)  # a Monday
TEMPLATE_CALLS_PER_DAY = 17_000

SETTINGS = """
import sys, time
from pathlib import Path
from pipelines.settings import Settings
settings = Settings(data_dir=Path(sys.argv[1]), config_dir=Path(sys.argv[2])).resolved()
"""
# Attribution and the price join the way an analyst writes them: no sub-agent walk, no
# overrides; a trace is a case. Exact p95 (quantile_cont), not an approximation.
MARTS_FLOOR_SQL = """
with spans as (
    select trace_id, agent_name, operation, provider,
        coalesce(response_model, request_model) as model, started_at, ended_at,
        coalesce(input_tokens, 0) as input_tokens, coalesce(output_tokens, 0) as output_tokens,
        coalesce(cache_read_tokens, 0) as cache_read_tokens,
        coalesce(cache_write_tokens, 0) as cache_write_tokens
    from read_parquet({files}, hive_partitioning = false)
),
cases as (
    select trace_id,
        arg_min(agent_name, started_at) filter (where operation = 'invoke_agent') as agent_name,
        min(started_at) as started_at, max(ended_at) as ended_at
    from spans
    group by trace_id
),
case_costs as (
    select spans.trace_id, sum((
        (spans.input_tokens - spans.cache_read_tokens - spans.cache_write_tokens)
            * coalesce(prices.input_usd_per_mtok, 0)
        + spans.cache_read_tokens * coalesce(prices.cache_read_usd_per_mtok, 0)
        + spans.cache_write_tokens * coalesce(prices.cache_write_usd_per_mtok, 0)
        + spans.output_tokens * coalesce(prices.output_usd_per_mtok, 0)
    ) / 1e6) as cost_usd
    from spans
    join model_resolution as resolution
        on resolution.provider is not distinct from spans.provider
        and resolution.model = spans.model
    join model_prices as prices
        on prices.price_provider_id = resolution.price_provider_id
        and prices.price_model_id = resolution.price_model_id
        and (prices.valid_from is null or spans.started_at >= prices.valid_from)
        and (prices.valid_to is null or spans.started_at < prices.valid_to)
        and spans.input_tokens > prices.tier_input_tokens_over
        and (prices.tier_input_tokens_upto is null
            or spans.input_tokens <= prices.tier_input_tokens_upto)
    where spans.operation in ('chat', 'text_completion', 'generate_content', 'embeddings')
    group by spans.trace_id
)
select agent_name, date_trunc('week', started_at) as week, count(*) as n_cases,
    quantile_cont(epoch_ms(ended_at) - epoch_ms(started_at), 0.95) as p95_latency_ms,
    sum(cost_usd) as cost_usd
from cases
left join case_costs using (trace_id)
group by all
"""
FLOOR = """
import time
from pipelines import db, pricing
from pipelines.db import connect, sql_string
from tests.bench_marts import MARTS_FLOOR_SQL
import pandas  # pyarrow's from_pylist imports it at first use: an import, excluded too
files = sql_string(str(settings.lake_dir / "spans" / "*" / "*.parquet"))
started = time.perf_counter()
con = connect(memory_limit="4GB")
pairs = con.sql(f"select distinct provider, coalesce(response_model, request_model) "
    f"from read_parquet({files}) where operation in "
    f"('chat', 'text_completion', 'generate_content', 'embeddings')").fetchall()
db.create_tables(con, {"model_prices": pricing.price_table(),
                       "model_resolution": pricing.resolution_table(pairs)})
rows = con.execute(MARTS_FLOOR_SQL.format(files=files)).fetchall()
elapsed = time.perf_counter() - started
(spans,) = con.execute(f"select count(*) from read_parquet({files})").fetchone()
cost = sum(r[4] or 0 for r in rows)
print(peak_rss_mb(), elapsed, spans, len(rows), cost)
"""
FACTS_WRITE = """
import shutil, tempfile
from pipelines import increments
from pipelines.db import connect, read_parquet_sql, sql_string
from pipelines.models import load_models
state = increments.read_state(settings.warehouse_path)
out = Path(tempfile.mkdtemp(dir=settings.data_dir))
started = time.perf_counter()
con = connect(memory_limit="4GB")
rows = 0
for fact in (m.name for m in load_models() if m.materialization == "fact"):
    paths = [p for day_paths in state.files(fact).values() for p in day_paths]
    if not paths:
        continue
    query = f"select * from {read_parquet_sql(paths, union=False)}"  # as the build reads them
    rows += con.execute(f"select count(*) from ({query})").fetchone()[0]
    con.execute(f"copy ({query}) to {sql_string(out / fact)} "
                f"(format parquet, partition_by (day))")
elapsed = time.perf_counter() - started
shutil.rmtree(out)
print(peak_rss_mb(), elapsed, rows)
"""
BUILD = """
from pipelines import warehouse
drift_seconds = []
if hasattr(warehouse, "_build_drift"):  # time the drift marts inside the build
    build_drift = warehouse._build_drift
    def timed_drift(*args, **kwargs):
        started = time.perf_counter()
        try:
            return build_drift(*args, **kwargs)
        finally:
            drift_seconds.append(time.perf_counter() - started)
    warehouse._build_drift = timed_drift
result = warehouse.build(settings, full=sys.argv[3] == "full")
assert result.mode == sys.argv[3], (result.mode, result.reason)
print(peak_rss_mb(), result.seconds, len(result.touched_days), result.n_touched_traces or 0,
      sum(drift_seconds) if drift_seconds else -1)
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


# Templates already made in this run, by (root, calls per day): bench parts only read a
# template's lake, so the parts of one run share it (it takes ~15 s to make).
_TEMPLATES: dict[tuple[Path, int], object] = {}


def make_template(root: Path, calls_per_day: int = TEMPLATE_CALLS_PER_DAY):
    """A demo week, ingested: returns its settings (made once per root and size)."""
    from pipelines.ingest import ingest_paths
    from pipelines.settings import Settings
    from pipelines.synth import generate_demo

    made = _TEMPLATES.get((root, calls_per_day))
    if made is not None and made.lake_dir.exists():
        return made
    settings = Settings(
        data_dir=root / "template",
        config_dir=root / "config",
        reports_dir=root / "template-reports",
    ).resolved()
    generate_demo(
        settings.data_dir,
        settings.config_dir,
        days=TEMPLATE_DAYS,
        calls_per_day=calls_per_day,
        seed=11,
        end=TEMPLATE_START + timedelta(days=TEMPLATE_DAYS - 1),  # one ISO week
    )
    ingest_paths([settings.raw_dir / "traces"], settings)
    _TEMPLATES[(root, calls_per_day)] = settings
    return settings


def template_spans(con, template, template_day: int | None = None) -> int:
    """Spans in the template (or in one of its days)."""
    from pipelines.schemas import SPANS

    files = _template_files(template, SPANS, template_day)
    return con.execute(f"select count(*) from read_parquet({files})").fetchone()[0]


def _template_files(template, table, template_day: int | None) -> list[str]:
    from pipelines.ingest import lake

    files = lake.live_files(template.lake_dir, table)
    if template_day is not None:  # spans of traces crossing midnight stay with their day
        day = TEMPLATE_START + timedelta(days=template_day)
        files = [f for f in files if lake.partition_day(f) == day]
    return [str(f) for f in files]


def write_commit(
    con,
    template,
    lake_dir: Path,
    shift_days: int,
    replicas: int,
    first_day_only: bool = False,
    *,
    template_day: int | None = None,
) -> None:
    """One ingest-log commit: the template (or its first day, or day `template_day`)
    shifted by `shift_days` and replicated."""
    from pipelines.db import read_parquet_sql, sql_string
    from pipelines.ingest import lake
    from pipelines.schemas import EVALUATIONS, SPANS

    key, commit_id = "bench" + uuid.uuid4().hex[:11], uuid.uuid4().hex[:12]
    days: set[str] = set()
    rows = 0
    lake_dir.mkdir(parents=True, exist_ok=True)
    if first_day_only:
        template_day = 0
    # the mark keeps ids apart between commits: the shift and the template day
    mark = f"':{shift_days}:{'' if template_day is None else template_day}:' || replica"
    for table in (SPANS, EVALUATIONS):
        files = _template_files(template, table, template_day)
        if not files:
            continue
        select = shifted_select(table, mark, shift_days)
        source = read_parquet_sql(files, partitioned=False)
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


def bench_marts(root: Path, spans_wanted: int, calls_per_day: int = TEMPLATE_CALLS_PER_DAY,
                weeks: int = 8) -> None:  # fmt: skip
    from pipelines.db import connect
    from pipelines.ingest import lake
    from pipelines.schemas import SPANS
    from pipelines.settings import Settings

    print(f"\n== warehouse build over ≥ {spans_wanted:,} spans ({weeks} weeks) ==")
    started = time.perf_counter()
    template = make_template(root, calls_per_day)
    con = connect(memory_limit="4GB")
    n_template = template_spans(con, template)
    replicas = math.ceil(spans_wanted / (weeks * n_template))
    settings = Settings(data_dir=root / "marts-data", config_dir=template.config_dir).resolved()
    for week in range(weeks):
        write_commit(con, template, settings.lake_dir, 7 * week, replicas)
    n_days = len({lake.partition_day(f) for f in lake.live_files(settings.lake_dir, SPANS)})
    gen_s = time.perf_counter() - started
    print(f"{'make the lake (template × replicas)':<38} {gen_s:8.2f} s   "
          f"{n_template:,} template spans × {replicas} replicas × {weeks} weeks")  # fmt: skip

    args = (str(settings.data_dir), str(settings.config_dir))
    floors = []  # the floor before and twice after the build: a median of 3 around it
    _, values = run("floor: attribute, price, agent × week", SETTINGS + FLOOR, *args)
    floors.append(float(values[1]))
    spans, floor_rss = int(values[2]), float(values[0])
    _, values = run("full build (every mart)", SETTINGS + BUILD, *args, "full")
    full_s, full_rss = float(values[1]), float(values[0])
    for _ in range(2):
        _, values = run("floor: attribute, price, agent × week", SETTINGS + FLOOR, *args)
        floors.append(float(values[1]))
    floor_s = statistics.median(floors)
    _, values = run("floor: re-write the built facts' rows", SETTINGS + FACTS_WRITE, *args)
    facts_write_s, fact_rows = float(values[1]), int(values[2])

    write_commit(con, template, settings.lake_dir, 7 * weeks, replicas, template_day=0)
    con.close()
    _, values = run("incremental build (one new day)", SETTINGS + BUILD, *args, "incremental")
    incremental_s, incremental_rss = float(values[1]), float(values[0])
    touched_days, touched_traces = int(values[2]), int(values[3])

    per_day = full_s / n_days
    print(f"  lake: {spans:,} spans over {n_days} days; times exclude imports")
    print(f"  floor        {floor_s:7.2f} s  {spans / floor_s:>12,.0f} spans/s   "
          f"peak RSS {floor_rss:,.0f} MB")  # fmt: skip
    print(f"  facts write  {facts_write_s:7.2f} s  {fact_rows:,} fact rows re-written, "
          f"no computation")  # fmt: skip
    print(f"  full build   {full_s:7.2f} s  {spans / full_s:>12,.0f} spans/s   "
          f"peak RSS {full_rss:,.0f} MB")  # fmt: skip
    print(f"  incremental  {incremental_s:7.2f} s  {touched_traces:,} traces, "
          f"{touched_days} day(s) rewritten   peak RSS {incremental_rss:,.0f} MB")  # fmt: skip
    record("marts", spans=spans, days=n_days, floor_s=floor_s, floor_rss_mb=floor_rss,
           full_s=full_s, full_rss_mb=full_rss, incremental_s=incremental_s,
           incremental_rss_mb=incremental_rss, incremental_traces=touched_traces,
           full_per_day_s=per_day, facts_write_s=facts_write_s,
           fact_rows=fact_rows)  # fmt: skip
    ratio("marts", "full_build", full_s, floor_s, 3)
    ratio("marts", "incremental_per_day", incremental_s, per_day, 1.1)
