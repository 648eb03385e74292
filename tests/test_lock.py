"""One writer per data dir: a second writing command, in another process, exits naming the
holder, or waits for it; the lock dies with its holder, even on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lock import LOCK_FILE, DataDirBusy, data_dir_lock

FIXTURE = Path(__file__).parent / "fixtures" / "otlp" / "otel_openai_v2_latest_semconv.jsonl"
FLEETLEDGER = Path(sys.executable).with_name("fleetledger")
HOLD = (
    "import sys, time; from pathlib import Path; from pipelines.lock import data_dir_lock\n"
    "with data_dir_lock(Path(sys.argv[1]), 'nightly flow'):\n"
    "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)


def _holder(data_dir: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the data dir's lock for `seconds`."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _ingest_command(data_dir: Path, tmp_path: Path) -> list:
    where = ["--data-dir", data_dir, "--reports-dir", tmp_path / "reports"]
    return [FLEETLEDGER, "ingest", FIXTURE, *where]


def _ingest(data_dir: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _ingest_command(data_dir, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "COLUMNS": "300"},
    )


def test_a_second_writer_exits_naming_the_holder(tmp_path):
    data = tmp_path / "data"
    holder = _holder(data, 60)
    try:
        refused = _ingest(data, tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: {data} is being written by nightly flow (pid {holder.pid} on "
        f"{os.uname().nodename}, since {refused.stderr.split('since ')[1].split(')')[0]}); "
        "let it finish, or wait for it with FLEETLEDGER_LOCK_WAIT=SECONDS"
    ]
    assert not (data / "lake").exists()  # it wrote nothing


def test_a_second_writer_told_to_wait_runs_after_the_holder(tmp_path):
    data = tmp_path / "data"
    holder = _holder(data, 600)
    waiting = subprocess.Popen(
        _ingest_command(data, tmp_path),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLEETLEDGER_LOCK_WAIT": "300", "COLUMNS": "300"},
    )
    try:
        first_line = waiting.stderr.readline()
        assert f"waiting up to 300s for nightly flow (pid {holder.pid}" in first_line
        assert not (data / "lake").exists()  # nothing written while it waits
    finally:
        holder.kill()
        holder.wait()
    rest = waiting.stderr.read()
    assert waiting.wait(timeout=300) == 0, rest
    assert "7 records = 7 accepted + 0 quarantined" in rest


def test_the_lock_dies_with_a_killed_holder(tmp_path):
    data = tmp_path / "data"
    holder = _holder(data, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    done = _ingest(data, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (data / LOCK_FILE).read_text() == ""  # released, holder line cleared


def test_in_process_the_lock_is_exclusive_and_released(tmp_path):
    with data_dir_lock(tmp_path, "first"):
        assert "first (pid" in (tmp_path / LOCK_FILE).read_text()
        with pytest.raises(DataDirBusy, match=r"is being written by first \(pid"):  # noqa: SIM117
            with data_dir_lock(tmp_path, "second"):
                pass
    with data_dir_lock(tmp_path, "third"):
        assert "third (pid" in (tmp_path / LOCK_FILE).read_text()


def test_a_bad_lock_wait_is_a_clear_error(tmp_path):
    done = _ingest(tmp_path / "data", tmp_path, FLEETLEDGER_LOCK_WAIT="soon")
    assert done.returncode == 2
    assert "FLEETLEDGER_LOCK_WAIT='soon': not a number of seconds" in done.stderr
