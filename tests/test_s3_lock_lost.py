"""A writer that lost the bucket's lock (its lease ran out while it hung, and another
took it over) stops before its next commit: the lake's log gains no version from it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipelines.errors import UserError
from pipelines.ingest import ingest_paths, lake
from pipelines.lock import LOCK_FILE
from pipelines.objectstore import Lease, LockLost, filesystem, lock_record, object_store_lock
from pipelines.settings import Settings

OTLP = Path(__file__).parent / "fixtures" / "otlp" / "otel_openai_v2_latest_semconv.jsonl"
THIEF = lock_record("thief (pid 1 on elsewhere)", "t0ken", time.time() + 600)


def test_a_writer_that_lost_its_lock_commits_nothing(s3_url, tmp_path):
    fs = filesystem(s3_url)
    fs.put_file(str(OTLP), f"{s3_url}/raw/{OTLP.name}")
    settings = Settings.from_env(env={}, data_dir=s3_url, config_dir=tmp_path / "config",
                                 reports_dir=tmp_path / "reports")  # fmt: skip
    with pytest.raises(LockLost, match=r"it is now held by thief \(pid 1 on elsewhere\)"):  # noqa: SIM117
        with object_store_lock(s3_url, "ingest", lease_seconds=0.6) as lease:
            fs.pipe(f"{s3_url}/{LOCK_FILE}", THIEF)  # taken over while this writer hung
            deadline = time.monotonic() + 10
            while not lease.lost and time.monotonic() < deadline:
                time.sleep(0.05)  # its next renewal finds the lock not its own
            ingest_paths([settings.raw_dir], settings, workers=1)
    assert lake.read_log(settings.lake_dir).num_rows == 0
    assert not fs.exists(f"{s3_url}/lake/_ingest_log")  # no version of the log at all


def test_a_lease_not_renewed_in_time_counts_as_lost(s3_url):
    """A process paused past most of its lease (its keeper thread too) must not commit:
    another may be taking the lock over right now."""
    lease = Lease(filesystem(s3_url), f"{s3_url}/{LOCK_FILE}", "nightly", seconds=60)
    lease.check(s3_url)  # just begun: still ours
    lease.renewed -= 51  # 51 s since it was last renewed: past 5/6 of the lease
    with pytest.raises(LockLost, match=r"\(its lease ran out before it could be renewed\)"):
        lease.check(s3_url)


def test_only_s3_urls_name_a_data_dir():
    with pytest.raises(UserError) as error:
        Settings.from_env(env={}, data_dir="gs://bucket/fleet")
    assert str(error.value) == "gs://bucket/fleet: only s3:// object storage is supported"
