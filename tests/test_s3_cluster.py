"""The nightly with its data dir in a bucket (issue 22), against real components the tests
start: moto's S3 server on localhost (`s3_url`) and a 2-worker `distributed.LocalCluster`
(`dask_cluster`). The demo's raw files uploaded to the bucket, the nightly run on the
cluster: its lake, warehouse and report are the one-process local run's. Two nightlies
started at once on the same bucket: the second waits for the first, naming it (the
bucket's lock object, `pipelines.objectstore`), and the lake holds every file once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from upath import UPath

from pipelines import objectstore
from pipelines.db import connect
from pipelines.flows import nightly
from pipelines.ingest import lake
from pipelines.schemas import LAKE_TABLES
from pipelines.settings import Settings
from tests.s3_server import objects
from tests.test_cluster import (
    DEMO_LAKE_ROWS,
    lake_checksums,
    locations,
    raw_copy,
    same,
    warehouse_checksums,
)

FLEETLEDGER = Path(sys.executable).with_name("fleetledger")
REPORT = Path("2026-10") / "portfolio-review.html"
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def same_page(found: str, expected: str) -> bool:
    """The same text and numbers, but a decimal may differ by one step of its last digit
    (or by 1e-9, relative, when shown in full): a build's float sums run in thread order,
    so their last bits differ between two builds of one lake (`same` above), which can tip
    a shown 0.86775 to 0.8678 or 0.8677."""
    texts = [NUMBER.split(page) for page in (found, expected)]
    numbers = [NUMBER.findall(page) for page in (found, expected)]
    if texts[0] != texts[1] or len(numbers[0]) != len(numbers[1]):
        return False
    for a, b in zip(*numbers, strict=True):
        decimals = len(a.partition(".")[2])
        step = max(1.5 * 10**-decimals, 1e-9 * abs(float(b)))  # shown digits, or 1e-9
        if a != b and (decimals == 0 or abs(float(a) - float(b)) > step):
            return False
    return True


RENDERED_AT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")  # the page's "generated" stamp


def upload_raw(source: Settings, url: str, reports_dir: Path) -> Settings:
    """Settings of a data dir at `url` holding a copy of `source`'s raw files."""
    fs = objectstore.filesystem(url)
    fs.put(f"{source.raw_dir}/", objectstore.join(url, "raw") + "/", recursive=True)
    return Settings.from_env(env={}, data_dir=url, config_dir=source.config_dir,
                             reports_dir=reports_dir)  # fmt: skip


@pytest.mark.flow
def test_nightly_on_a_cluster_against_s3_makes_the_local_lake_warehouse_and_report(
    prefect_harness, dask_cluster, s3_url, demo, tmp_path
):
    local = raw_copy(demo, tmp_path / "local")
    in_bucket = upload_raw(demo, s3_url, tmp_path / "s3-reports")
    assert isinstance(in_bucket.data_dir, UPath) and str(in_bucket.data_dir) == s3_url

    assert nightly(*locations(local)) == str(local.reports_dir / REPORT)
    state = nightly(s3_url, str(demo.config_dir), str(in_bucket.reports_dir),
                    cluster=dask_cluster, return_state=True)  # fmt: skip
    assert state.is_completed()
    assert state.result() == str(in_bucket.reports_dir / REPORT)

    lake_sums = lake_checksums(in_bucket)
    assert {name: sums[0] for name, sums in lake_sums.items()} == DEMO_LAKE_ROWS
    assert lake_sums == lake_checksums(local)
    warehouse_sums = warehouse_checksums(in_bucket)
    assert warehouse_sums["fct_cases"][0] == 816  # DemoSummary.n_cases
    assert same(warehouse_sums, warehouse_checksums(local)) == []
    # the report: the same page, but for where each run's files are and when it was made
    pages = [RENDERED_AT.sub("WHEN", (run.reports_dir / REPORT).read_text())
             .replace(str(run.data_dir), "DATA") for run in (in_bucket, local)]  # fmt: skip
    assert same_page(*pages)

    stored = objects(s3_url)  # the lake, its manifest, the facts and the warehouse: in the bucket
    assert "warehouse.duckdb" in stored and ".fleetledger.lock" not in stored
    assert "lake/_ingest_log/_manifests/_latest" in stored
    assert any(p.startswith("marts/fct_cases/day=2026-10-") for p in stored)
    assert not any(p.startswith(("lake/_staging", ".warehouse-")) for p in stored)


NIGHTLY_LINE = re.compile(r"ingest: (\d+) new, (\d+) unchanged, (\d+) set aside, (\d+) failed")


class Nightly:
    """`fleetledger nightly` in its own process, on the session's Prefect server; its
    output in a file (no pipe can block it)."""

    def __init__(self, settings: Settings, name: str, api_url: str) -> None:
        self.log = settings.reports_dir.parent / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [FLEETLEDGER, "nightly", "--data-dir", str(settings.data_dir),
                 "--config-dir", settings.config_dir, "--reports-dir", settings.reports_dir],
                stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "300"},
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text()

    def ingested(self) -> tuple[int, ...]:
        (counts,) = NIGHTLY_LINE.findall(self.output())
        return tuple(map(int, counts))


@pytest.mark.flow
def test_two_nightlies_at_once_on_one_bucket_run_one_after_the_other(
    prefect_harness, s3_url, demo, tmp_path
):
    from prefect.settings import PREFECT_API_URL

    settings = upload_raw(demo, s3_url, tmp_path / "reports")
    runs = [Nightly(settings, name, PREFECT_API_URL.value()) for name in ("a", "b")]
    for run in runs:
        assert run.process.wait(600) == 0, run.output()

    first, second = sorted(runs, key=lambda run: run.ingested()[0], reverse=True)
    assert first.ingested() == (10, 0, 0, 0)  # the demo's 10 raw files
    assert second.ingested() == (0, 10, 0, 0)  # it ran after: every file unchanged
    # they overlapped: the second waited for the first, naming it (pid, host)
    pid = first.process.pid
    assert re.search(rf"waiting up to \d+s for flow nightly \(pid {pid} on ", second.output())

    log = lake.read_log(settings.lake_dir).to_pylist()
    assert len(log) == 10 and len({e["source_file"] for e in log}) == 10  # each file once
    assert all(e["rows_read"] == e["rows_accepted"] + e["rows_quarantined"] for e in log)
    con = connect()
    for table in LAKE_TABLES:  # no row stored twice
        files = [str(f) for f in lake.live_files(settings.lake_dir, table)]
        if not files:
            continue
        key = ", ".join(table.key)
        rows, distinct = con.execute(
            f"select count(*), count(distinct ({key})) from read_parquet($files)",
            {"files": files},
        ).fetchall()[0]
        assert rows == distinct == DEMO_LAKE_ROWS[table.name], table.name
    assert ".fleetledger.lock" not in objects(s3_url)
