"""`make bench`: speed against a floor measured in the same run, printed as ratios.

Trace ingest (issue targets: ingest/floor ≤ 1.5, ≥ 150k spans/s, peak RSS < 2 GiB):
1. The demo generator writes ≥ 2M spans of OTLP/JSON, joined into one file.
2. Floor: DuckDB `read_json` of that file straight to Parquet, no transformation.
3. `fleetledger ingest` of the same file (parse, check, GX suites, lake commit).
4. For contrast: naive pandas (`read_json(lines=True)` + flatten) on a 200k-span slice.
Each timed step runs in its own process, so each peak RSS is its own.
Run: python -m tests.bench [--spans N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

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


# Peak RSS of the step's own process: VmHWM starts afresh at exec (ru_maxrss does not:
# Linux keeps the forking parent's high-water mark across execve).
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def _run(label: str, script: str, *args: str) -> tuple[float, list[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS + script, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{label} failed:\n{done.stderr}")
    values = done.stdout.split()
    print(f"{label:<38} {elapsed:8.2f} s   peak RSS {float(values[0]):7.0f} MB")
    return elapsed, values


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


def main() -> None:
    from pipelines.synth import generate_demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2_000_000, help="at least this many")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fleetledger-bench-"))
    try:
        # The generator holds a whole run in memory: generate months of 30 days, each with
        # its own seed (distinct ids) and end date, and join them into one file.
        started = time.perf_counter()
        traces = root / "traces.jsonl"
        spans, month = 0, 0
        with open(traces, "wb") as out:
            while spans < args.spans:
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
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
