"""What every benchmark step shares: run a script in its own process, report its peak RSS."""

from __future__ import annotations

import subprocess
import sys
import time

# Peak RSS of the step's own process: VmHWM starts afresh at exec (ru_maxrss does not:
# Linux keeps the forking parent's high-water mark across execve).
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def run(label: str, script: str, *args: str) -> tuple[float, list[str]]:
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
