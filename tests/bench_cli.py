"""CLI start-up (issue targets: `fleetledger --help` < 1 s, `fleetledger sql "select 1"`
< 1.5 s), as medians of 5 runs, against the floor of starting the same interpreter."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.benchkit import record, target_line

RUNS = 5


def _median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_cli(root: Path) -> None:
    data = root / "cli-data"
    data.mkdir()
    duckdb.connect(str(data / "warehouse.duckdb")).close()  # any warehouse answers select 1
    fleetledger = str(Path(sys.executable).with_name("fleetledger"))
    floor = _median_seconds([sys.executable, "-c", "pass"])
    select = [fleetledger, "sql", "select 1", "--data-dir", str(data)]
    steps = {"fleetledger --help": ([fleetledger, "--help"], 1.0),
             'fleetledger sql "select 1"': (select, 1.5)}  # fmt: skip
    print(f"{'floor: python -c pass':<38} {floor:8.2f} s   median of {RUNS}")
    record("cli", python_s=floor)
    for label, (command, target) in steps.items():
        seconds = _median_seconds(command)
        name = label.split()[1].strip("-")
        print(f"{label:<38} {seconds:8.2f} s")
        print(f"  ratio {name} = ours / floor = {seconds / floor:.1f}")
        target_line("cli", f"{name}_s", seconds, target, "s")
