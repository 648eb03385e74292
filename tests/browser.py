"""Headless Chromium (Debian's `chromium`, installed by `make test`) with the network off:
load a page, return its DOM after scripts ran and what it wrote to the console."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NETWORK_OFF = ("--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", *NETWORK_OFF)  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("Debian's chromium is needed for the report tests: `make browser`")
    return found


def _run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            *extra,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def load(page: Path, profile: Path) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console messages)."""
    done = _run(page, profile, "--enable-logging=stderr", "--v=0", "--dump-dom")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def screenshot(page: Path, profile: Path, target: Path) -> Path:
    _run(page, profile, "--window-size=1300,2400", f"--screenshot={target}")
    return target
