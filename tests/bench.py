"""`make bench`: speed against a floor measured in the same run, printed as ratios
(`ratio <name> = ours / floor`, each with its target and whether it is met), written to
one results file that `--readme` turns into the README's Performance tables.

Trace ingest (issue targets: ingest/floor ≤ 1.5, ≥ 150k spans/s, peak RSS < 2 GiB):
1. The demo generator writes ≥ 2M spans of OTLP/JSON, joined into one file.
2. Floor: DuckDB `read_json` of that file straight to Parquet, no transformation; and
   the flatten floor (tests/bench_flatten.py): the same lines made canonical span rows in
   one plain statement, no check; what it costs over the first floor bounds the target.
3. `fleetledger ingest` of the same file (parse, check, GX suites, lake commit).
4. For contrast: naive pandas (`read_json(lines=True)` + flatten) on a 200k-span slice.

Cost computation (issue targets: ≥ 10M spans through the price join, join/floor ≤ 2):
5. 10M synthetic LLM calls (11 real models + 1 unknown, 2025–2026, long-context inputs
   among them) written to Parquet.
6. Floor: one flat price per token type, multiplied and summed: the same scan and
   arithmetic without any join.
7. The `int_llm_calls__costed` SQL model over the same calls: model resolution, the
   price-table join by date and tier, overrides, unpriced detection.

CLI start-up (`fleetledger --help`, `sql "select 1"`): tests/bench_cli.py. Warehouse build
(floor: attribution + price join + agent × week exact p95): tests/bench_marts.py. Drift
(90-day fleet, full and incremental; ≥ 50M-span month; vs Evidently): tests/bench_drift.py.
The monthly review: tests/bench_report.py. The eval diff: tests/bench_evals.py. The
incremental build on lakes of 10/30/90 days: tests/bench_incremental.py. A nightly day end
to end with its extrapolation to 8.3M spans: tests/bench_nightly.py.
Each timed step runs in its own process, so each peak RSS is its own.

Run: python -m tests.bench [--quick] [--only PART ...] [size knobs, see --help]
                           [--results reports/bench/latest.json]
     python -m tests.bench --readme [--results FILE]   (rewrite README's tables only)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from tests.bench_cli import bench_cli
from tests.bench_cluster import bench_cluster
from tests.bench_drift import bench_drift, bench_drift_windows
from tests.bench_evals import bench_evals
from tests.bench_flatten import FLOOR, flatten_room, flatten_sql, read_json_sql
from tests.bench_incremental import bench_incremental
from tests.bench_marts import bench_marts
from tests.bench_nightly import bench_nightly
from tests.bench_objectstore import bench_objectstore
from tests.bench_readme import rewrite_readme
from tests.bench_report import bench_report
from tests.benchkit import RESULTS, ratio, record, target_line, write_results
from tests.benchkit import run as _run

CALLS_PER_DAY = 17_000  # × 30 days ≈ 850k spans per generated month
SPANS_PER_DAILY_CALL = 50  # a month of n calls/day: ≈ 50 n spans (1.67 spans/call × 30 days)

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
            -- a call every ≈ 2 h 12 min, wrapping over 512 days: both price periods
            timestamptz '2025-06-01' + to_seconds((n * 7919) % 44236800) as started_at,
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
import pandas  # pyarrow's from_pylist imports it at first use: an import, excluded too
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


def bench_cost(root: Path, n_calls: int, repeats: int = 3) -> None:
    print(f"\n== price join over {n_calls:,} calls, interleaved, medians of {repeats} ==")
    calls = root / "calls.parquet"
    _run(f"write {n_calls:,} synthetic calls", CALLS, str(n_calls), str(calls))
    floors, joins = [], []
    for _ in range(repeats):  # interleaved: a busy neighbour slows both sides alike
        _, values = _run("floor: flat price × tokens, summed", COST_FLOOR, str(calls))
        floors.append(float(values[1]))
        _, values = _run("price join (int_llm_calls__costed)", COST_JOIN, str(calls))
        joins.append(float(values[1]))
    floor_s, join_s = statistics.median(floors), statistics.median(joins)
    n, priced = int(values[2]), int(values[3])
    print(f"  in-process work (imports excluded), medians: floor {floor_s:.2f} s, "
          f"join {join_s:.2f} s")  # fmt: skip
    print(f"  {n:,} calls costed, {priced:,} priced, {n - priced:,} unpriced")
    print(f"  floor       {n / floor_s:>12,.0f} spans/s")
    print(f"  price join  {n / join_s:>12,.0f} spans/s")
    record("cost", calls=n, floor_s=floor_s, join_s=join_s, spans_per_s=n / join_s)
    ratio("cost", "price_join", join_s, floor_s, 2)


# Every size knob: (flag, full size, --quick size, help). --quick runs every part in
# about 10 minutes on a 2-core box; the full sizes are the (hours: see README).
SIZES = (
    ("spans", 2_000_000, 200_000, "ingest: at least this many spans in one file"),
    ("pandas-spans", 200_000, 50_000, "ingest: spans of the naive pandas slice"),
    ("cost-spans", 10_000_000, 2_000_000, "price join: calls to cost"),
    ("marts-spans", 50_000_000, 300_000, "warehouse build: lake spans"),
    ("template-calls", 17_000, 4_000, "calls/day of the demo week the lakes are made of"),
    ("drift-spans", 50_000_000, 200_000, "drift: spans of the month"),
    ("drift-month-calls", 6_000, 1_000, "drift: calls/day of the demo month replicated"),
    ("drift-calls", 6_000, 800, "drift windows: calls/day of the 90-day fleet"),
    ("evidently-rows", 1_000_000, 200_000, "drift vs Evidently: rows a side"),
    ("report-spans", 50_000_000, 300_000, "monthly review: spans in the month"),
    ("eval-items", 100_000, 20_000, "eval diff: paired items"),
    ("incremental-day-spans", 300_000, 10_000, "incremental: spans of the new day"),
    ("incremental-repeats", 3, 3, "incremental: new days per lake size (median)"),
    ("nightly-spans", 2_000_000, 200_000, "nightly: spans of the new day"),
    ("nightly-prior-days", 30, 10, "nightly: days of the lake already built"),
    ("nightly-prior-day-spans", 250_000, 20_000, "nightly: spans per prior day"),
    ("cluster-calls-per-file", 45_000, 15_000, "cluster: demo calls in each of 10 files"),
    ("objectstore-calls-per-file", 20_000, 8_000, "object store: demo calls in each of 4 files"),
)
PARTS = ("cli", "cost", "ingest", "marts", "drift", "report", "evals", "incremental",
         "nightly", "cluster", "objectstore")  # fmt: skip
RESULTS_FILE = Path("reports/bench/latest.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; each size knob left unset takes its full or --quick size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every part at a reduced size")
    for flag, full, quick, what in SIZES:
        parser.add_argument(f"--{flag}", type=int, help=f"{what} (default {full:,}; "
                            f"--quick {quick:,})")  # fmt: skip
    parser.add_argument("--only", choices=PARTS, nargs="+", action="extend", help="run these parts")
    parser.add_argument("--skip-evidently", action="store_true",
                        help="no Evidently comparison (it installs into .bench/ once)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS_FILE,
                        help=f"results JSON (default {RESULTS_FILE})")  # fmt: skip
    parser.add_argument("--readme", action="store_true",
                        help="only rewrite README's Performance tables from --results")  # fmt: skip
    args = parser.parse_args(argv)
    for flag, full, quick, _ in SIZES:
        name = flag.replace("-", "_")
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.readme:
        rewrite_readme(args.results)
        return
    parts = [part for part in PARTS if part in (args.only or PARTS)]
    root = Path(tempfile.mkdtemp(prefix="fleetledger-bench-"))
    started = time.perf_counter()
    failed = []
    try:
        for part in parts:
            if not run_part(part, root, args):
                failed.append(part)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(f"\nbench: {elapsed / 60:.1f} min")
    sizes = {f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f, *_ in SIZES}
    write_results(args.results, {"quick": args.quick, "parts": list(parts), "failed": failed,
                                 "minutes": round(elapsed / 60, 1), **sizes},
                  merge=args.only is not None)  # fmt: skip
    if failed:
        raise SystemExit(f"bench: {', '.join(failed)} failed (see above)")


def run_part(part: str, root: Path, args: argparse.Namespace) -> bool:
    """Run one bench part; on failure say so, drop its partial figures, and go on with the
    others (a run is long: one part's failure should not cost the rest). True if it ran."""
    before = {name: dict(values) for name, values in RESULTS.items()}
    try:
        PART_RUNNERS[part](root, args)
    except SystemExit as failure:  # benchkit.run: a step's process failed
        print(f"\n!! bench part {part} failed:\n{failure}")
        RESULTS.clear()
        RESULTS.update(before)
        return False
    return True


PART_RUNNERS = {
    "cli": lambda root, args: bench_cli(root),
    "cost": lambda root, args: bench_cost(root, args.cost_spans),
    "ingest": lambda root, args: bench_ingest(root, args.spans, args.pandas_spans),
    "marts": lambda root, args: bench_marts(root, args.marts_spans, args.template_calls),
    "drift": lambda root, args: (
        bench_drift_windows(root, args.drift_calls),
        bench_drift(root, args.drift_spans, args.drift_month_calls, args.evidently_rows,
                    evidently=not args.skip_evidently),
    ),
    "report": lambda root, args: bench_report(root, args.report_spans, args.template_calls),
    "evals": lambda root, args: bench_evals(args.eval_items),
    "incremental": lambda root, args: bench_incremental(
        root, args.incremental_day_spans, repeats=args.incremental_repeats,
        calls_per_day=args.template_calls),
    "nightly": lambda root, args: bench_nightly(
        root, args.nightly_spans, prior_days=args.nightly_prior_days,
        prior_day_spans=args.nightly_prior_day_spans, calls_per_day=args.template_calls),
    "cluster": lambda root, args: bench_cluster(
        root / "cluster", calls_per_file=args.cluster_calls_per_file),
    "objectstore": lambda root, args: bench_objectstore(
        root / "objectstore", calls_per_file=args.objectstore_calls_per_file),
}  # fmt: skip


def bench_ingest(root: Path, spans_wanted: int, pandas_spans: int = 200_000) -> None:
    from pipelines.synth import generate_demo

    print(f"\n== ingest of one file of ≥ {spans_wanted:,} spans ==")
    # a month of calls_per_day calls holds ≈ 50 × calls_per_day spans: small runs, one month
    calls_per_day = min(CALLS_PER_DAY, max(1000, spans_wanted // SPANS_PER_DAILY_CALL))
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
                root / "ingest-config",
                days=30,
                calls_per_day=calls_per_day,
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

    floor_s, _ = _run("floor: read_json → Parquet", FLOOR,
                      read_json_sql(str(traces), str(root / "f.pq")))  # fmt: skip
    flatten_s, _ = _run("floor: flatten to canonical spans", FLOOR,
                        flatten_sql(str(traces), str(root / "flat.pq")))  # fmt: skip
    ingest_s, values = _run(
        "fleetledger ingest",
        INGEST,
        str(traces),
        str(root / "ingest-data"),
        str(root / "ingest-reports"),
    )
    ingest_rss = float(values[0])
    piece = root / "slice.jsonl"
    slice_spans = _slice(traces, piece, pandas_spans)
    pandas_s, _ = _run(f"naive pandas on {slice_spans:,} spans", PANDAS, str(piece))

    print(f"  floor   {size_mb / floor_s:8.1f} MB/s  {spans / floor_s:>10,.0f} spans/s")
    print(f"  ingest  {size_mb / ingest_s:8.1f} MB/s  {spans / ingest_s:>10,.0f} spans/s")
    print(f"  pandas  {'':8}       {slice_spans / pandas_s:>10,.0f} spans/s")
    speedup = (spans / ingest_s) / (slice_spans / pandas_s)
    print(f"  ingest vs naive pandas: {speedup:.1f}× the spans/s")
    record("ingest", spans=spans, file_mb=size_mb, floor_s=floor_s, ingest_s=ingest_s,
           flatten_s=flatten_s,
           spans_per_s=spans / ingest_s, floor_spans_per_s=spans / floor_s,
           pandas_spans_per_s=slice_spans / pandas_s)  # fmt: skip
    ratio("ingest", "ingest", ingest_s, floor_s, 1.5)
    print(f"  {flatten_room(flatten_s / floor_s, 1.5)}")
    ratio("ingest", "ingest_vs_flatten", ingest_s, flatten_s, None)
    target_line("ingest", "ingest_peak_rss_mb", ingest_rss, 2048, "MB")
    target_line("ingest", "ingest_spans_per_s", spans / ingest_s, 150_000, "spans/s",
                at_least=True)  # fmt: skip


if __name__ == "__main__":
    main()
