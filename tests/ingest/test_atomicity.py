"""Killing an ingest at any moment leaves the lake as before or as after; a rerun
completes it. The process is really killed (SIGKILL) at many points of a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from pipelines.ingest import lake
from pipelines.schemas import EVALUATIONS, QUARANTINE, SPANS
from pipelines.settings import Settings
from tests.otlp_builder import line, span

ROOT = Path(__file__).resolve().parent.parent.parent
INGEST = (
    "import sys; from pathlib import Path; from pipelines.ingest import ingest_paths; "
    "from pipelines.settings import Settings; "
    "s = Settings(data_dir=Path(sys.argv[1]), reports_dir=Path(sys.argv[2])).resolved(); "
    "ingest_paths([s.raw_dir], s)"
)


def _write_raw(raw: Path) -> None:
    """Four files over three days, with some bad spans, so every step has work."""
    t0 = datetime(2026, 10, 1, 8)
    for n in range(4):
        lines = []
        for i in range(300):
            trace = f"{n:04x}{i:028x}"
            start = t0 + timedelta(days=n % 3, seconds=i)
            lines.append(
                line(
                    span(
                        trace,
                        f"{n:04x}{i:08x}0001",
                        start,
                        900,
                        gen_ai__operation__name="invoke_agent",
                        gen_ai__agent__name="a",
                    ),
                    span(
                        trace,
                        f"{n:04x}{i:08x}0002",
                        start,
                        500,
                        parent=f"{n:04x}{i:08x}0001",
                        gen_ai__operation__name="chat",
                        gen_ai__usage__input_tokens=10 + i,
                    ),
                    span("bad", f"{n:04x}{i:08x}0003", start, 5),
                )
            )
        (raw / f"traces-{n}.jsonl").write_text("\n".join(lines) + "\n")


def _run(settings: Settings, kill_after: float | None = None) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", INGEST, str(settings.data_dir), str(settings.reports_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if kill_after is None:
        assert process.wait(timeout=300) == 0
    else:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
    return time.perf_counter() - started


def _visible(lake_dir: Path) -> dict[str, int]:
    """Rows a reader sees per table (only committed files, as the warehouse reads)."""
    counts = {}
    for table in (SPANS, EVALUATIONS, QUARANTINE):
        files = [str(p) for p in lake.live_files(lake_dir, table)]
        counts[table.name] = (
            duckdb.execute("select count(*) from read_parquet(?)", [files]).fetchall()[0][0]
            if files
            else 0
        )
    return counts


def _consistent(lake_dir: Path) -> None:
    """What readers see is exactly what the log says was committed: whole files only."""
    log = lake.read_log(lake_dir).to_pylist()
    visible = _visible(lake_dir)
    assert visible["spans"] + visible["evaluations"] == sum(r["rows_accepted"] for r in log)
    assert visible["quarantine"] == sum(r["rows_quarantined"] for r in log)


def test_killing_the_ingest_at_any_moment(tmp_path):
    reference = Settings(data_dir=tmp_path / "ref", reports_dir=tmp_path / "ref-reports")
    (reference.data_dir / "raw").mkdir(parents=True)
    _write_raw(reference.data_dir / "raw")
    full_run = _run(reference)
    expected = _visible(reference.resolved().lake_dir)
    assert expected == {"spans": 2400, "evaluations": 0, "quarantine": 1200}

    settings = Settings(data_dir=tmp_path / "data", reports_dir=tmp_path / "reports").resolved()
    settings.raw_dir.mkdir(parents=True)
    _write_raw(settings.raw_dir)
    states = set()
    for step in range(1, 13):  # kill points spread over a whole run
        _run(settings, kill_after=full_run * step / 12)
        _consistent(settings.lake_dir)
        states.add(tuple(sorted(_visible(settings.lake_dir).items())))
    assert len(states) > 1, "the kills should land at different points of the run"
    _run(settings)
    _consistent(settings.lake_dir)
    assert _visible(settings.lake_dir) == expected
    assert not (settings.lake_dir / lake.STAGING).exists()
