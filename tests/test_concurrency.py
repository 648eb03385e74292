"""Writers racing for one data dir, as real `fleetledger` processes (issue 20, item 1): two
ingests of the same spans, two full builds, an ingest and a build. The data dir's lock
serialises them, so each race must end as if its writers had run one after the other.

Each race starts its writers behind a gate: the test holds the data dir's lock until every
writer says it waits for it (so they surely overlap), then lets them all go at once. The
three races run at the same time, each in its own data dir: a writer waiting for the lock
leaves a core idle, so the file takes about as long as its longest race.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.db import sql_identifier
from pipelines.ingest import ingest_paths
from pipelines.ingest.lake import LOG_FILE, commit_of, live_commits, live_files, read_log
from pipelines.lock import LOCK_FILE, data_dir_lock
from pipelines.schemas import QUARANTINE, TABLES
from pipelines.settings import Settings
from tests.conftest import TINY_REGISTRY, settings_with_registry

FLEETLEDGER = Path(sys.executable).with_name("fleetledger")
OTLP = Path(__file__).parent / "fixtures" / "otlp"
SEVEN_SPANS = OTLP / "otel_openai_v2_latest_semconv.jsonl"  # 3 of them LLM calls
NINE_SPANS = OTLP / "otel_openllmetry_openai.jsonl"  # 5 of them LLM calls
GATE = "the test's gate"
SECONDS = 300  # what a writer may take, its wait included (the whole file needs ~70 CPU-seconds)


class Writer:
    """A `fleetledger` command writing a race's data dir, with FLEETLEDGER_LOCK_WAIT=300;
    its output (stdout and stderr) goes to a file, which no pipe can block."""

    def __init__(self, settings: Settings, name: str, *args: object) -> None:
        self.name = name
        self.log = settings.data_dir.parent / f"{name.replace(' ', '-')}.log"
        dirs = ["--data-dir", settings.data_dir, "--config-dir", settings.config_dir,
                "--reports-dir", settings.reports_dir]  # fmt: skip
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [FLEETLEDGER, *args, *dirs],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "FLEETLEDGER_LOCK_WAIT": "300", "COLUMNS": "300"},
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_at_gate(self, deadline: float) -> None:
        """Return once the process says it waits for the gate; fail if it ends first."""
        while f"waiting up to 300s for {GATE} (pid {os.getpid()} " not in self.output():
            assert self.process.poll() is None, f"{self.name} ended at the gate:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name} never waited:\n{self.output()}"
            time.sleep(0.05)

    def finish(self) -> tuple[int, str]:
        """Its exit code and output, once it ends."""
        return self.process.wait(timeout=SECONDS), self.output()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Race:
    """A data dir (config with a one-agent registry) and the writers that race for it."""

    def __init__(self, root: Path) -> None:
        self.settings = settings_with_registry(root, TINY_REGISTRY)
        self.writers: list[Writer] = []
        self.ended: dict[str, tuple[int, str]] = {}

    def start(self, name: str, *args: object) -> None:
        self.writers.append(Writer(self.settings, name, *args))

    def finish(self) -> None:
        for writer in self.writers:
            if writer.name not in self.ended:
                self.ended[writer.name] = writer.finish()

    def outputs(self) -> dict[str, str]:
        """Each writer's output, once every one of them exited 0."""
        failed = {name: ended for name, ended in self.ended.items() if ended[0] != 0}
        assert not failed, "\n".join(
            f"{n} exited {code}:\n{out}" for n, (code, out) in failed.items()
        )
        return {name: output for name, (_, output) in self.ended.items()}


@pytest.fixture(scope="module")
def races(tmp_path_factory) -> dict[str, Race]:
    """Run every race once: gate, release, wait; the tests read what each left."""
    races = {name: Race(tmp_path_factory.mktemp(name)) for name in ("twins", "builds", "mixed")}
    twin = _renamed_copy(races["twins"])
    twin.parent.mkdir()
    shutil.copyfile(SEVEN_SPANS, twin)
    for name in ("builds", "mixed"):  # a build needs a lake to build from
        ingest_paths([SEVEN_SPANS], races[name].settings)
    try:
        with ExitStack() as gates:
            for race in races.values():
                gates.enter_context(data_dir_lock(race.settings.data_dir, GATE))
            races["twins"].start("ingest file", "ingest", SEVEN_SPANS)
            races["twins"].start("ingest renamed copy", "ingest", twin)
            races["builds"].start("build 1", "build", "--full")
            races["builds"].start("build 2", "build", "--full")
            races["mixed"].start("ingest", "ingest", NINE_SPANS)
            races["mixed"].start("build", "build", "--full")
            deadline = time.monotonic() + SECONDS
            for race in races.values():
                for writer in race.writers:
                    writer.wait_at_gate(deadline)
        # the gates are open: in each data dir, its writers race for the lock
        races["twins"].finish()
        races["mixed"].finish()
        races["mixed"].start("final build", "build")  # beside the builds race's second one
        races["builds"].finish()
        races["mixed"].finish()
    finally:
        for race in races.values():
            for writer in race.writers:
                writer.stop()
    return races


def _renamed_copy(race: Race) -> Path:
    """The same bytes as SEVEN_SPANS, in another folder under another name."""
    return race.settings.data_dir.parent / "elsewhere" / "renamed.jsonl"


def _rows(files: list[Path]) -> list[dict]:
    return pq.read_table(files).to_pylist() if files else []


def _orphans(lake_dir: Path) -> list[Path]:
    """Lake files that no logged commit names (what `collect_garbage` would delete)."""
    live = live_commits(read_log(lake_dir))
    files = [p for p in lake_dir.rglob("*") if p.is_file() and p.name != LOG_FILE]
    return [p for p in files if commit_of(p) not in live]


def _keys(rows) -> set[tuple[str, str]]:
    return {(row["trace_id"], row["span_id"]) for row in rows}


def _summaries(outputs: dict[str, str]) -> list[str]:
    """The ingest summary lines, sorted."""
    return sorted(line for out in outputs.values() for line in out.splitlines()
                  if line.startswith("ingested "))  # fmt: skip


def test_a_file_and_its_renamed_copy_ingested_at_once_store_each_span_once(races):
    race = races["twins"]
    outputs = race.outputs()
    lake_dir = race.settings.lake_dir
    log = read_log(lake_dir).to_pylist()
    assert all(r["rows_read"] == r["rows_accepted"] + r["rows_quarantined"] for r in log)
    counts = sorted((r["rows_read"], r["rows_accepted"], r["rows_quarantined"]) for r in log)
    assert counts == [(7, 0, 7), (7, 7, 0)]  # whichever got the lock first stored them
    first = next(r["source_file"] for r in log if r["rows_accepted"])
    second = next(r["source_file"] for r in log if not r["rows_accepted"])
    assert {first, second} == {str(SEVEN_SPANS.resolve()), str(_renamed_copy(race).resolve())}
    spans = _rows(live_files(lake_dir, TABLES["spans"]))
    assert len(spans) == len(_keys(spans)) == 7
    assert {row["source_file"] for row in spans} == {first}
    quarantined = [(r["source_file"], r["table_name"], r["field"], r["reason"])
                   for r in _rows(live_files(lake_dir, QUARANTINE))]  # fmt: skip
    duplicate = f"duplicate: this span is already stored from {first}"
    assert quarantined == [(second, "spans", "span_id", duplicate)] * 7
    assert _summaries(outputs) == [
        "ingested 1 files: 7 records = 0 accepted + 7 quarantined; 0 unchanged since last run",
        "ingested 1 files: 7 records = 7 accepted + 0 quarantined; 0 unchanged since last run",
    ]
    assert _orphans(lake_dir) == []
    assert (race.settings.data_dir / LOCK_FILE).read_text() == ""


def test_two_full_builds_at_once_leave_a_whole_warehouse(races):
    race = races["builds"]
    outputs = race.outputs()
    settings = race.settings
    built = f"built {settings.warehouse_path}: full (a full build was asked for; every day) in "
    assert [built in output for output in outputs.values()] == [True, True]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        relations = con.sql(
            "select table_name, table_type from information_schema.tables "
            "where table_catalog = current_database() order by 1"
        ).fetchall()
        counts = {
            name: con.sql(f"select count(*) from {sql_identifier(name)}").fetchall()[0][0]
            for name, _ in relations
        }
    assert {kind for _, kind in relations} == {"BASE TABLE", "VIEW"}
    assert (counts["lake_spans"], counts["fct_llm_calls"], counts["fct_cases"]) == (7, 3, 3)
    assert list(settings.data_dir.glob(".warehouse-*")) == []
    assert list(settings.marts_dir.rglob(".build-*")) == []  # no fact staging left either


def test_an_ingest_and_a_build_at_once_then_a_build_see_every_span(races):
    race = races["mixed"]
    race.outputs()
    settings = race.settings
    log = read_log(settings.lake_dir).to_pylist()
    counts = sorted((r["rows_read"], r["rows_accepted"], r["rows_quarantined"]) for r in log)
    assert counts == [(7, 7, 0), (9, 9, 0)]
    spans = _rows(live_files(settings.lake_dir, TABLES["spans"]))
    calls = [row for row in spans if row["operation"] == "chat"]
    assert (len(_keys(spans)), len(_keys(calls))) == (16, 8)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        stored = con.sql("select trace_id, span_id from lake_spans").fetchall()
        costed = con.sql("select trace_id, span_id from fct_llm_calls").fetchall()
    assert sorted(stored) == sorted(_keys(spans))
    assert sorted(costed) == sorted(_keys(calls))
    assert list(settings.data_dir.glob(".warehouse-*")) == []
