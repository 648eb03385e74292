"""`make bench` part 4: drift.

0. Drift over realistic windows (`bench_drift_windows`): the 90-day demo fleet (20 agents
   × 90 days, its injected faults make alerting series, so the bootstraps and CUSUM
   change points run), generated, ingested and fully built. Then, each in its own
   process:
   - floor: one DuckDB pass over `fct_cases` counting each agent × day × metric × value
     (DRIFT_FLOOR_SQL): the daily histograms every drift statistic starts from;
   - full recompute: `drift.build_marts` on a copy of the built warehouse;
   - incremental: one new day lands (the generator for the day after, one seed of its
     own), `fleetledger ingest`'s function, then an incremental build, with the time
     spent in its drift marts measured inside it (and the whole build's time).
1. Drift for all agents over a month of ≥ 50M spans: a 30-day demo month (generator,
   `fleetledger ingest`, build) gives real facts; DuckDB replicates its cases and calls
   (values jittered so histograms grow as real traffic would) until their spans reach
   the target, into a warehouse of facts only; `drift.build_marts` then runs in its own
   process: wall time and peak RSS.
2. The same statistics against Evidently's data-drift report on the same 1M vs 1M rows
   (latency, input tokens, score, intent), Evidently in its own venv (it needs pandas < 3):
   times, the ratio, and the values both compute side by side.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from tests.bench_marts import BUILD, SETTINGS
from tests.benchkit import ratio, record, run

MONTH_DAYS = 30
CALLS_PER_DAY = 6000
WINDOW_DAYS = 90
WINDOWS_END = date(2026, 10, 29)  # a Thursday: the new day is a weekday, of full volume
EVIDENTLY = ("evidently==0.7.23", "pandas<3")
ROWS = 1_000_000

# The least drift must read: per agent, day and metric, how many cases had each value
# (the five numeric metrics at their comparison resolution; see sql/drift/).
DRIFT_FLOOR_SQL = """
select agent_name, day, metric, value, count(*) as n
from (
    unpivot (
        select agent_name, day, round(quality_score, 3) as quality,
            cast(duration_ms as double) as latency_ms, round(cost_usd, 6) as cost_usd,
            cast(input_tokens as double) as input_tokens,
            cast(output_tokens as double) as output_tokens
        from fct_cases where agent_name is not null
    )
    on quality, latency_ms, cost_usd, input_tokens, output_tokens
    into name metric value value
)
group by all
"""
DRIFT_FLOOR = """
import sys, time
from pipelines.db import connect
from tests.bench_drift import DRIFT_FLOOR_SQL
started = time.perf_counter()
con = connect(sys.argv[1], read_only=True, memory_limit="4GB")
n = con.execute(f"select count(*) from ({DRIFT_FLOOR_SQL})").fetchone()[0]
print(peak_rss_mb(), time.perf_counter() - started, n)
"""
DRIFT = """
import sys, time
from pathlib import Path
from pipelines.db import connect
from pipelines.drift.marts import build_marts
from pipelines.policy import DriftPolicy
started = time.perf_counter()
con = connect(sys.argv[1], memory_limit="8GB")
marts = build_marts(con, DriftPolicy())
elapsed = time.perf_counter() - started
rows = sum(t.num_rows for t in marts.values())
alerts = sum(sum(t["is_new_alert"].to_pylist()) for t in marts.values())
bootstraps = sum(t["mean_shift_low"].null_count for t in marts.values())
bootstraps = rows - bootstraps  # rows with a bootstrap interval
cusums = rows - sum(t["change_point_day"].null_count for t in marts.values())
print(peak_rss_mb(), rows, alerts, elapsed, bootstraps, cusums)
"""


def bench_drift(root: Path, spans_wanted: int, calls_per_day: int = CALLS_PER_DAY,
                evidently_rows: int = ROWS, evidently: bool = True) -> None:  # fmt: skip
    print(f"\n== drift over a month of ≥ {spans_wanted:,} spans ==")
    warehouse, spans, cases = _month_of_facts(root, spans_wanted, calls_per_day)
    elapsed, values = run("drift marts (all agents, month)", DRIFT, str(warehouse))
    print(f"  {spans:,} spans, {cases:,} cases: {values[1]} drift rows, {values[2]} alerts; "
          f"{spans / elapsed:,.0f} spans/s")  # fmt: skip
    record("drift_month", spans=spans, cases=cases, seconds=elapsed, rows=int(values[1]))
    if evidently:
        bench_evidently(evidently_rows)


def bench_drift_windows(root: Path, calls_per_day: int = CALLS_PER_DAY,
                        days: int = WINDOW_DAYS) -> None:  # fmt: skip
    """Drift over every window of 20 agents × `days` days: full recompute and one new day."""
    from pipelines.ingest import ingest_paths
    from pipelines.settings import Settings
    from pipelines.synth import generate_demo

    print(f"\n== drift over realistic windows: 20 agents × {days} days at "
          f"{calls_per_day:,} calls/day ==")  # fmt: skip
    started = time.perf_counter()
    settings = Settings(data_dir=root / "windows", config_dir=root / "windows-config",
                        reports_dir=root / "windows-reports").resolved()  # fmt: skip
    summary = generate_demo(settings.data_dir, settings.config_dir, days=days,
                            calls_per_day=calls_per_day, seed=7, end=WINDOWS_END)  # fmt: skip
    ingest_paths([settings.raw_dir], settings)
    print(f"{'demo fleet, generated + ingested':<38} {time.perf_counter() - started:8.2f} s   "
          f"{summary.n_spans:,} spans")  # fmt: skip
    args = (str(settings.data_dir), str(settings.config_dir))
    _, built = run(f"full build ({days} days, with drift)", SETTINGS + BUILD, *args, "full")
    copy = settings.data_dir / "drift-copy.duckdb"  # beside the original: same fact paths
    shutil.copy(settings.warehouse_path, copy)
    _, floor = run("floor: agent × day × metric histograms", DRIFT_FLOOR, str(copy))
    _, full = run("drift full recompute (build_marts)", DRIFT, str(copy))
    copy.unlink()

    new_day = generate_demo(root / "windows-new", root / "windows-new-config", days=1,
                            calls_per_day=calls_per_day, seed=70,
                            end=WINDOWS_END + timedelta(days=1))  # fmt: skip
    ingest_paths([root / "windows-new" / "raw" / "traces"], settings)
    _, incremental = run("incremental build (+1 day, with drift)", SETTINGS + BUILD, *args,
                         "incremental")  # fmt: skip
    floor_s, full_s = float(floor[1]), float(full[3])
    rows, alerts, bootstraps, cusums = (int(full[i]) for i in (1, 2, 4, 5))
    build_drift_s, incremental_drift_s = float(built[4]), float(incremental[4])
    print(f"  {summary.n_spans:,} spans + {new_day.n_spans:,} new; {rows:,} drift rows, "
          f"{alerts} alerts, {bootstraps} bootstrap intervals, "
          f"{cusums} CUSUM change points")  # fmt: skip
    if not alerts:
        print("  (no alert: the bootstrap and CUSUM were not exercised)")
    print(f"  full recompute {full_s:.2f} s (inside the full build: {build_drift_s:.2f} s)")
    print(f"  incremental (one new day): drift {incremental_drift_s:.2f} s inside an "
          f"incremental build of {float(incremental[1]):.2f} s")  # fmt: skip
    record("drift_windows", agent_days=20 * days, spans=summary.n_spans, rows=rows,
           alerts=alerts, bootstraps=bootstraps, cusums=cusums, floor_s=floor_s,
           full_s=full_s, full_in_build_s=build_drift_s,
           incremental_s=incremental_drift_s,
           incremental_build_s=float(incremental[1]))  # fmt: skip
    ratio("drift_windows", "full_recompute", full_s, floor_s, None)
    ratio("drift_windows", "incremental", incremental_drift_s, floor_s, None)


def _month_of_facts(root: Path, spans_wanted: int, calls_per_day: int) -> tuple[Path, int, int]:
    from pipelines import warehouse
    from pipelines.db import connect
    from pipelines.ingest import ingest_paths
    from pipelines.settings import Settings
    from pipelines.synth import generate_demo

    started = time.perf_counter()
    settings = Settings(
        data_dir=root / "month",
        config_dir=root / "month-config",
        reports_dir=root / "month-reports",
    ).resolved()
    generate_demo(settings.data_dir, settings.config_dir, days=MONTH_DAYS,
                  calls_per_day=calls_per_day, seed=3, end=date(2026, 10, 31))  # fmt: skip
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    target = root / "drift-month.duckdb"
    con = connect(target, memory_limit="8GB")
    con.execute(f"attach '{settings.warehouse_path}' as month (read_only)")
    month_spans = con.execute("select sum(n_spans) from month.fct_cases").fetchall()[0][0]
    copies = math.ceil(spans_wanted / month_spans)
    # jitter: ms, tokens and micro-dollars vary by copy, as more traffic would
    con.execute(f"""
        create table fct_cases as
        select cases.* replace (
            duration_ms + copy % 97 as duration_ms,
            input_tokens + copy % 89 as input_tokens,
            output_tokens + copy % 13 as output_tokens,
            cost_usd * (1 + (copy % 101) / 10000) as cost_usd,
            conversation_id || '-' || copy as conversation_id
        )
        from month.fct_cases as cases, range({copies}) as copies(copy)
    """)
    con.execute(f"""
        create table fct_llm_calls as
        select agent_name, day, model from month.fct_llm_calls, range({copies})
    """)
    spans, cases = con.execute("select sum(n_spans), count(*) from fct_cases").fetchall()[0]
    con.close()
    print(f"{'month of facts (demo ×' + str(copies) + ')':<38} "
          f"{time.perf_counter() - started:8.2f} s")  # fmt: skip
    return target, int(spans), int(cases)


DATA = """
import numpy as np
rng = np.random.default_rng(1)
n = {rows}
intents = np.array(["billing", "shipping", "returns", "account"])
def sample(latency_scale, score_shift, intent_p):
    return {{
        "latency_ms": np.round(rng.lognormal(7.3, 0.5, n) * latency_scale),
        "input_tokens": np.round(rng.lognormal(7.5, 0.45, n)),
        "score": np.round(np.clip(rng.normal(0.86 + score_shift, 0.07, n), 0, 1), 3),
        "intent": intents[rng.choice(4, n, p=intent_p)],
    }}
reference = sample(1.0, 0.0, [0.25, 0.25, 0.25, 0.25])
current = sample(1.15, -0.02, [0.2, 0.2, 0.2, 0.4])
"""

# Evidently's PSI for a numeric column with > 20 values: Sturges equal-width bins over both
# samples; an empty bin's share becomes 0.0001, or the smallest share / 10⁶ when that is
# ≤ 0.0001. Ours bins at reference deciles (issue 6). This recomputes theirs from our
# counts, to show the two differ by binning only.
PSI_EVIDENTLY_BINS = """
def psi_evidently_bins(values, ref, cur):
    bins = int(np.ceil(np.log2(ref.sum() + cur.sum()) + 1))
    edges = np.linspace(values.min(), values.max(), bins + 1)
    shares = []
    for counts in (ref, cur):
        share = np.histogram(values, edges, weights=counts)[0] / counts.sum()
        smallest = share[share > 0].min()
        share[share == 0] = smallest / 1e6 if smallest <= 0.0001 else 0.0001
        shares.append(share)
    ref_share, cur_share = shares
    return float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))
"""

# as the pipeline does it: DuckDB counts (histograms, category mixes), numpy judges; both
# sides are timed from their in-memory table (Arrow here, pandas for Evidently)
OURS = """
import json, time
import duckdb
import pyarrow as pa
from pipelines.drift import stats
reference, current = pa.table(reference), pa.table(current)  # as Evidently's DataFrames
started = time.perf_counter()
con = duckdb.connect()
con.register("reference", reference)
con.register("current", current)
result = {}
for column in ("latency_ms", "input_tokens", "score"):
    counts = con.sql(f"select value, count(*) filter (where side = 0) as ref, "
                     f"count(*) filter (where side = 1) as cur from ("
                     f"select {column} as value, 0 as side from reference union all "
                     f"select {column}, 1 from current) group by value order by value").fetchnumpy()
    values, ref, cur = counts["value"], counts["ref"], counts["cur"]
    d = stats.ks_statistic_counts(ref, cur)
    result[column] = {"psi": stats.psi_counts(values, ref, cur), "ks": d,
                      "ks_p": stats.ks_p_value(d, int(ref.sum()), int(cur.sum())),
                      "counts": (values, ref, cur)}
mixes = [dict(con.sql(f"select intent, count(*) from {side} group by intent").fetchall())
         for side in ("reference", "current")]
result["intent"] = {"js": stats.js_distance(*mixes)}
elapsed = time.perf_counter() - started
for column in ("latency_ms", "input_tokens", "score"):  # cross-check only, not timed
    result[column]["psi_evidently_bins"] = psi_evidently_bins(*result[column].pop("counts"))
print(peak_rss_mb(), elapsed, json.dumps(result, default=float))

"""

EVIDENTLY_RUN = """
import time, json
import pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.metrics import ValueDrift
ref, cur = pd.DataFrame(reference), pd.DataFrame(current)
definition = DataDefinition(numerical_columns=["latency_ms", "input_tokens", "score"],
                            categorical_columns=["intent"])
started = time.perf_counter()
ref_data = Dataset.from_pandas(ref, data_definition=definition)
cur_data = Dataset.from_pandas(cur, data_definition=definition)
metrics = []
for column in ("latency_ms", "input_tokens", "score"):
    metrics += [ValueDrift(column=column, method="psi"), ValueDrift(column=column, method="ks")]
metrics.append(ValueDrift(column="intent", method="jensenshannon"))
snapshot = Report(metrics).run(cur_data, ref_data)
elapsed = time.perf_counter() - started
values = [m["value"] for m in snapshot.dict()["metrics"]]
print(peak_rss_mb(), elapsed, json.dumps(values, default=float))
"""


def _evidently_python() -> Path:
    """Evidently's own venv, kept in .bench/ (git-ignored) across runs: installing it takes
    minutes, and it pins pandas < 3, which the project's environment does not allow."""
    venv = Path(__file__).resolve().parents[1] / ".bench" / "evidently-venv"
    python = venv / "bin" / "python"
    installed = (
        python.exists()
        and not subprocess.run(
            [str(python), "-c", "import evidently"], capture_output=True, check=False
        ).returncode
    )
    if not installed:
        print(f"installing {', '.join(EVIDENTLY)} into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY], check=True)
    return python


def bench_evidently(rows: int = ROWS) -> None:
    print(f"\n== drift statistics vs Evidently, {rows:,} vs {rows:,} rows ==")
    python = _evidently_python()
    data = DATA.format(rows=rows)
    ours_s, ours = run("ours: PSI + KS (+p) ×3, JS", data + PSI_EVIDENTLY_BINS + OURS)
    started = time.perf_counter()
    from tests.benchkit import PEAK_RSS

    done = subprocess.run([str(python), "-c", PEAK_RSS + data + EVIDENTLY_RUN],
                          capture_output=True, text=True, check=True)  # fmt: skip
    theirs_s = time.perf_counter() - started
    theirs = done.stdout.split(maxsplit=2)
    print(
        f"{'Evidently ValueDrift ×7':<38} {theirs_s:8.2f} s   peak RSS {float(theirs[0]):7.0f} MB"
    )
    print(f"  compute only: ours {float(ours[1]):.2f} s, Evidently {float(theirs[1]):.2f} s")
    speedup = float(theirs[1]) / float(ours[1])
    print(f"  ratio Evidently / ours: compute {speedup:.1f}× "
          f"(target ≥ 10×: {'met' if speedup >= 10 else 'NOT met'}), "
          f"process wall {theirs_s / ours_s:.1f}×")  # fmt: skip
    record("evidently", rows=rows, ours_s=float(ours[1]), evidently_s=float(theirs[1]),
           speedup=speedup, speedup_target=10)  # fmt: skip
    mine = json.loads(" ".join(ours[2:]))
    values = json.loads(theirs[2])
    names = [f"{c} {s}" for c in ("latency_ms", "input_tokens", "score") for s in ("psi", "ks_p")]
    for name, value in zip([*names, "intent js"], values, strict=True):
        column, statistic = name.split()
        ours_value = mine[column]["js" if statistic == "js" else statistic]
        print(f"  {name:<22} ours {ours_value:12.6g}   Evidently {value:12.6g}")
        if statistic == "psi":
            same_bins = mine[column]["psi_evidently_bins"]
            print(f"  {'  on Evidently bins':<22} ours {same_bins:12.6g}   Evidently {value:12.6g}")
    # Evidently's JS distance uses the natural log; ours base 2 (0…1): same up to √ln 2
    print(
        f"  {'intent js, base 2':<22} ours {mine['intent']['js']:12.6g}   Evidently "
        f"{values[-1] / math.sqrt(math.log(2)):12.6g}"
    )
