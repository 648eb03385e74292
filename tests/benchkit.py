"""What every benchmark step shares: run a script in its own process, report its peak RSS;
print each ratio against its floor with its target; keep every figure for the results
file (`reports/bench/latest.json`) that the README's Performance tables are made from."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# Peak RSS of the step's own process: VmHWM starts afresh at exec (ru_maxrss does not:
# Linux keeps the forking parent's high-water mark across execve).
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

# Every figure of this run, by bench part: {"marts": {"floor_s": 8.3, ...}, ...}.
RESULTS: dict[str, dict] = {}


def run(label: str, script: str, *args: str) -> tuple[float, list[str]]:
    """Run `script` in a fresh interpreter; its last stdout line holds its values (peak
    RSS first). Returns the process's wall time and those values."""
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
    values = done.stdout.strip().splitlines()[-1].split()
    print(f"{label:<38} {elapsed:8.2f} s   peak RSS {float(values[0]):7.0f} MB")
    return elapsed, values


def record(part: str, **values) -> None:
    """Keep figures of one bench part for the results file."""
    RESULTS.setdefault(part, {}).update(values)


def met(value: float, target: float, *, at_least: bool = False) -> str:
    """'met' or 'NOT met': `value` ≤ `target` (≥ with at_least)."""
    ok = value >= target if at_least else value <= target
    return "met" if ok else "NOT met"


def ratio(part: str, name: str, ours: float, floor: float, target: float | None) -> float:
    """Print `ratio <name> = ours / floor` and its target; record all three."""
    value = ours / floor
    verdict = "" if target is None else f"   target ≤ {target:g}: {met(value, target)}"
    print(f"  ratio {name} = ours / floor = {ours:.2f} s / {floor:.2f} s = {value:.2f}{verdict}")
    record(part, **{f"{name}_ratio": value, f"{name}_target": target})
    return value


def target_line(part: str, name: str, value: float, target: float, unit: str, *,
                at_least: bool = False) -> None:  # fmt: skip
    """Print a target that is not a ratio (seconds, MB, spans/s) and whether it is met."""
    sign = "≥" if at_least else "<"
    print(f"  {name} = {value:,.2f} {unit}   target {sign} {target:g} {unit}: "
          f"{met(value, target, at_least=at_least)}")  # fmt: skip
    record(part, **{name: value, f"{name}_target": target})


def write_results(path: Path, arguments: dict, *, merge: bool = False) -> None:
    """The run's figures as one JSON file (small: numbers only). With `merge` (a run of
    some parts only), the other parts keep the figures of the run that made them; every
    part names its run (`run`: when, and whether --quick)."""
    written_at = datetime.now(UTC).isoformat(timespec="seconds")
    parts = {}
    if merge and path.exists():
        parts = json.loads(path.read_text()).get("parts", {})
    for part, values in RESULTS.items():
        parts[part] = {**values, "run": {"at": written_at, "quick": arguments.get("quick")}}
    document = {
        "written_at": written_at,
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "arguments": arguments,
        "parts": parts,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"\nresults: {path}")


def _cores() -> int:
    return len(os.sched_getaffinity(0))
