"""`make bench`: speed against a floor measured in the same run, printed as ratios.

Trace ingest (issue targets: ingest/floor ≤ 1.5, ≥ 150k spans/s, peak RSS < 2 GiB):
1. The demo generator writes ≥ 2M spans of OTLP/JSON, joined into one file.
2. Floor: DuckDB `read_json` of that file straight to Parquet, no transformation.
3. `fleetledger ingest` of the same file (parse, check, GX suites, lake commit).
4. For contrast: naive pandas (`read_json(lines=True)` + flatten) on a 200k-span slice.

Cost computation (issue target: ≥ 10M spans through the price join, spans/s):
5. 10M synthetic LLM calls (11 real models + 1 unknown, 2025–2026, long-context inputs
   among them) written to Parquet.
6. Floor: one flat price per token type, multiplied and summed: the same scan and
   arithmetic without any join.
7. The `int_llm_calls__costed` SQL model over the same calls: model resolution, the
   price-table join by date and tier, overrides, unpriced detection.

CLI start-up (`fleetledger --help`, `sql "select 1"`): see tests/bench_cli.py.

Each timed step runs in its own process, so each peak RSS is its own.
Warehouse build over ≥ 50M spans: see tests/bench_marts.py. Drift (≥ 50M-span month, and
vs Evidently on 1M vs 1M rows): see tests/bench_drift.py. The monthly review over a
≥ 50M-span month: see tests/bench_report.py. The eval diff over 100k paired items: see
tests/bench_evals.py.

Run: python -m tests.bench [--spans N] [--cost-spans N] [--marts-spans N] [--drift-spans N]
                           [--report-spans N] [--eval-items N]
                           [--only cli|ingest|cost|marts|drift|report|evals]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from tests.bench_cli import bench_cli
from tests.bench_drift import bench_drift
from tests.bench_evals import bench_evals
from tests.bench_marts import bench_marts
from tests.bench_report import bench_report
from tests.benchkit import run as _run

CALLS_PER_DAY = 17_000  # × 30 days ≈ 850k spans per generated month

FLOOR = """
import sys
from pipelines.db import connect, sql_string
con = connect(memory_limit="4GB")
source, target = sql_string(sys.argv[1]), sql_string(sys.argv[2])
con.execute(f"copy (select * from read_json({source}, format = 'newline_delimited', "
            f"ignore_errors = true)) to {target} (format parquet)")
print(peak_rss_mb())
"""
INGEST = """
import sys
from pathlib import Path
from pipelines.ingest import ingest_paths
from pipelines.settings import Settings
settings = Settings(data_dir=Path(sys.argv[2]), reports_dir=Path(sys.argv[3])).resolved()
(result,) = ingest_paths([Path(sys.argv[1])], settings)
assert result.rows_read == result.rows_accepted + result.rows_quarantined
print(peak_rss_mb(), result.rows_accepted)
"""
PANDAS = """
import sys
import pandas as pd
frame = pd.read_json(sys.argv[1], lines=True)
resource_spans = pd.json_normalize(frame["resourceSpans"].explode().dropna().tolist())
scopes = pd.json_normalize(resource_spans["scopeSpans"].explode().dropna().tolist())
spans = pd.json_normalize(scopes["spans"].explode().dropna().tolist())
attributes = spans[["spanId", "attributes"]].explode("attributes").dropna()
pairs = pd.json_normalize(attributes["attributes"].tolist())
pairs["spanId"] = attributes["spanId"].to_numpy()
pairs["value"] = pairs.filter(like="value.").bfill(axis=1).iloc[:, 0].astype(str)
wide = pairs.pivot_table(index="spanId", columns="key", values="value", aggfunc="first")
flat = spans.drop(columns=["attributes", "events"]).merge(wide, left_on="spanId", right_index=True)
print(peak_rss_mb(), len(flat))
"""

CALLS = """
import sys
from pipelines.db import connect, sql_string
from tests.test_pricing_properties import MODELS
models = [*MODELS, ("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-opus-4-1-20250805"),
          ("openai", "gpt-5-mini-2025-08-07"), ("acme", "acme-llm-1")]
values = ", ".join(f"({i}, {sql_string(p)}, {sql_string(m)})" for i, (p, m) in enumerate(models))
con = connect(memory_limit="4GB")
con.execute(f"create table models as select * from (values {values}) as t(i, provider, model)")
con.execute(f\"\"\"
    copy (
        select lpad(to_hex(n), 16, '0') as span_id, 'agent-' || (n % 20) as agent_name,
            models.provider, models.model, if(n % 10 = 0, 'batch', null) as service_tier,
            timestamptz '2025-06-01' + to_microseconds((n * 7919) % 44236800000000)
                as started_at,
            (n * 31) % 300000 as input_tokens, (n * 17) % 1000 as cache_read_tokens,
            (n * 13) % 500 as cache_write_tokens, (n * 7) % 4000 as output_tokens
        from range({sys.argv[1]}) as t(n)
        join models on models.i = n % {len(models)}
    ) to {sql_string(sys.argv[2])} (format parquet)\"\"\")
print(peak_rss_mb())
"""
COST_FLOOR = """
import sys, time
from pipelines.db import connect, sql_string
started = time.perf_counter()
con = connect(memory_limit="4GB")
(total,) = con.execute(f"select sum((input_tokens * 0.15 + cache_read_tokens * 0.075 "
    f"+ output_tokens * 0.6) / 1e6) from read_parquet({sql_string(sys.argv[1])})").fetchall()[0]
print(peak_rss_mb(), time.perf_counter() - started, total)
"""
COST_JOIN = """
import sys, time
from pipelines.db import sql_string
from tests.costing import COSTED, costing_connection, resolve_models
started = time.perf_counter()  # imports excluded: the work is seeds + resolution + join
con = costing_connection(memory_limit="4GB")
con.execute(f"create view int_spans__attributed as select *, true as is_llm_call "
            f"from read_parquet({sql_string(sys.argv[1])})")
resolve_models(con)
n, priced, cost = con.execute(f"select count(*), count(*) filter (where is_priced), "
                              f"sum(cost_usd) from ({COSTED.sql})").fetchall()[0]
print(peak_rss_mb(), time.perf_counter() - started, n, priced, cost)
"""


def _slice(source: Path, target: Path, spans_wanted: int) -> int:
    """The first lines of `source` holding at least `spans_wanted` spans."""
    spans = 0
    with open(source) as lines, open(target, "w") as out:
        for text in lines:
            try:
                request = json.loads(text)
            except ValueError:
                continue
            out.write(text)
            spans += sum(
                len(s.get("spans", []))
                for r in request.get("resourceSpans", [])
                for s in r.get("scopeSpans", [])
            )
            if spans >= spans_wanted:
                break
    return spans


def bench_cost(root: Path, n_calls: int) -> None:
    calls = root / "calls.parquet"
    _run(f"write {n_calls:,} synthetic calls", CALLS, str(n_calls), str(calls))
    _, values = _run("floor: flat price × tokens, summed", COST_FLOOR, str(calls))
    floor_s = float(values[1])
    _, values = _run("price join (int_llm_calls__costed)", COST_JOIN, str(calls))
    join_s, n, priced = float(values[1]), int(values[2]), int(values[3])
    print(f"  in-process work (imports excluded): floor {floor_s:.2f} s, join {join_s:.2f} s")
    print(f"  {n:,} calls costed, {priced:,} priced, {n - priced:,} unpriced")
    print(f"  floor       {n / floor_s:>12,.0f} spans/s")
    print(f"  price join  {n / join_s:>12,.0f} spans/s")
    print(f"  ratio price join / floor = {join_s / floor_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2_000_000, help="at least this many")
    parser.add_argument("--cost-spans", type=int, default=10_000_000, help="calls to cost")
    parser.add_argument("--marts-spans", type=int, default=50_000_000, help="lake spans")
    parser.add_argument("--drift-spans", type=int, default=50_000_000, help="month spans")
    parser.add_argument("--report-spans", type=int, default=50_000_000, help="month spans")
    parser.add_argument("--eval-items", type=int, default=100_000, help="paired eval items")
    steps = ("cli", "ingest", "cost", "marts", "drift", "report", "evals")
    parser.add_argument("--only", choices=steps, help="run one")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fleetledger-bench-"))
    try:
        if args.only in (None, "cli"):
            bench_cli(root)
        if args.only in (None, "cost"):
            bench_cost(root, args.cost_spans)
        if args.only in (None, "ingest"):
            bench_ingest(root, args.spans)
        if args.only in (None, "marts"):
            bench_marts(root, args.marts_spans)
        if args.only in (None, "drift"):
            bench_drift(root, args.drift_spans)
        if args.only in (None, "report"):
            bench_report(root, args.report_spans)
        if args.only in (None, "evals"):
            bench_evals(args.eval_items)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_ingest(root: Path, spans_wanted: int) -> None:
    from pipelines.synth import generate_demo

    # The generator holds a whole run in memory: generate months of 30 days, each with
    # its own seed (distinct ids) and end date, and join them into one file.
    started = time.perf_counter()
    traces = root / "traces.jsonl"
    spans, month = 0, 0
    with open(traces, "wb") as out:
        while spans < spans_wanted:
            gen = root / f"gen-{month}"
            summary = generate_demo(
                gen,
                root / "config",
                days=30,
                calls_per_day=CALLS_PER_DAY,
                seed=100 + month,
                end=date(2026, 10, 31) - timedelta(days=30 * month),
            )
            for part in sorted((gen / "raw" / "traces").glob("*.jsonl")):
                with open(part, "rb") as chunk:
                    shutil.copyfileobj(chunk, out, 1 << 24)
            shutil.rmtree(gen)
            spans += summary.n_spans
            month += 1
    gen_s = time.perf_counter() - started
    print(
        f"{'generate demo (simulate + OTLP/JSON)':<38} {gen_s:8.2f} s   "
        f"{spans:,} spans, {spans / gen_s:,.0f} spans/s"
    )
    size_mb = traces.stat().st_size / 1e6
    print(f"  one file: {size_mb:,.0f} MB, {spans:,} spans (+ evaluation events)")

    floor_s, _ = _run("floor: read_json → Parquet", FLOOR, str(traces), str(root / "f.pq"))
    ingest_s, values = _run(
        "fleetledger ingest", INGEST, str(traces), str(root / "data"), str(root / "reports")
    )
    ingest_rss = float(values[0])
    piece = root / "slice.jsonl"
    slice_spans = _slice(traces, piece, 200_000)
    pandas_s, _ = _run(f"naive pandas on {slice_spans:,} spans", PANDAS, str(piece))

    print(f"  floor   {size_mb / floor_s:8.1f} MB/s  {spans / floor_s:>10,.0f} spans/s")
    print(
        f"  ingest  {size_mb / ingest_s:8.1f} MB/s  {spans / ingest_s:>10,.0f} spans/s"
        f"   peak RSS {ingest_rss:,.0f} MB (target < 2048)"
    )
    print(f"  pandas  {'':8}       {slice_spans / pandas_s:>10,.0f} spans/s")
    print(f"  ratio ingest / floor = {ingest_s / floor_s:.2f}  (target ≤ 1.5)")
    speedup = (spans / ingest_s) / (slice_spans / pandas_s)
    print(f"  ingest vs naive pandas: {speedup:.1f}× the spans/s")


if __name__ == "__main__":
    main()
