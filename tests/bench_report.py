"""`make bench` part 5: the monthly portfolio review over a month of ≥ 50M spans (issue
target: render < 60 s for 20 agents).

1. The lake of tests/bench_marts.py (a demo week shifted and replicated), 5 weeks from
   Monday 2025-12-29, so January 2026 is whole and holds ≥ the wanted spans.
2. Full build of every mart.
3. Floor: one DuckDB pass over the month's cases (count, cost, p95 latency per agent):
   the least any report of the month has to read.
4. `render_month` for January in its own process: the review, every agent page, index.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from tests.bench_marts import BUILD, SETTINGS, TEMPLATE_CALLS_PER_DAY, make_template, write_commit
from tests.benchkit import record, run, target_line

WEEKS = 5  # 2025-12-29 … 2026-02-01
MONTH_DAYS, LAKE_DAYS = 31, 7 * WEEKS

FLOOR = """
import time
from pipelines.db import connect
started = time.perf_counter()
con = connect(settings.warehouse_path, read_only=True)
rows = con.execute("select agent_name, count(*), sum(cost_usd), sum(n_spans), "
    "quantile_cont(duration_ms, 0.95) from fct_cases where day >= '2026-01-01' "
    "and day < '2026-02-01' group by all").fetchall()
print(peak_rss_mb(), time.perf_counter() - started, sum(r[3] for r in rows), len(rows))
"""
RENDER = """
import time
from pipelines.report.render import render_month
from pipelines.settings import Settings
started = time.perf_counter()
out = Settings(data_dir=settings.data_dir, config_dir=settings.config_dir,
               reports_dir=Path(sys.argv[3])).resolved()
path = render_month(out, "2026-01")
elapsed = time.perf_counter() - started
size = sum(p.stat().st_size for p in path.parent.rglob("*") if p.name != "plotly.min.js")
print(peak_rss_mb(), elapsed, size, len(list((path.parent / "agents").glob("*.html"))))
"""


def bench_report(
    root: Path, spans_wanted: int, calls_per_day: int = TEMPLATE_CALLS_PER_DAY
) -> None:
    from pipelines.db import connect
    from pipelines.ingest import lake
    from pipelines.schemas import SPANS
    from pipelines.settings import Settings

    print(f"\n== monthly review over a month of ≥ {spans_wanted:,} spans ==")
    started = time.perf_counter()
    template = make_template(root, calls_per_day)
    con = connect(memory_limit="4GB")
    files = [str(f) for f in lake.live_files(template.lake_dir, SPANS)]
    (template_spans,) = con.execute(f"select count(*) from read_parquet({files})").fetchone()
    replicas = math.ceil(spans_wanted * LAKE_DAYS / MONTH_DAYS / (WEEKS * template_spans))
    settings = Settings(data_dir=root / "report-data", config_dir=template.config_dir).resolved()
    for week in range(WEEKS):
        write_commit(con, template, settings.lake_dir, 7 * week, replicas, first_day_only=False)
    con.close()
    print(f"{'make the lake (template × replicas)':<38} {time.perf_counter() - started:8.2f} s")
    args = (str(settings.data_dir), str(settings.config_dir))
    run("full build (every mart)", SETTINGS + BUILD, *args, "full")
    _, floor = run("floor: one pass over the month's cases", SETTINGS + FLOOR, *args)
    _, rendered = run("render the review of 2026-01", SETTINGS + RENDER, *args,
                      str(root / "report-out"))  # fmt: skip
    floor_s, spans, agents = float(floor[1]), int(floor[2]), int(floor[3])
    render_s, size, pages = float(rendered[1]), int(rendered[2]), int(rendered[3])
    print(f"  January: {spans:,} spans, {agents} agents; {pages} agent pages, "
          f"{size / 1e6:.2f} MB without plotly.js")  # fmt: skip
    print(f"  ratio render = ours / floor = {render_s:.2f} s / {floor_s:.2f} s = "
          f"{render_s / floor_s:.1f}")  # fmt: skip
    record("report", spans=spans, agents=agents, pages=pages, size_mb=size / 1e6,
           floor_s=floor_s, ratio=render_s / floor_s)  # fmt: skip
    target_line("report", "render_s", render_s, 60, "s")
