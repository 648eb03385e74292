"""Ingest into a data dir on object storage (`s3://bucket/prefix`, a UPath), against a
local S3 server (moto): the same lake as a local ingest, rows for rows; commits through
numbered manifests; a second run changes nothing; nothing lands on the local disk."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from upath import UPath

import pipelines.objectstore  # noqa: F401  (before any UPath's filesystem is made)
from pipelines.db import connect, read_parquet_sql
from pipelines.ingest import begin_ingest, ingest_paths, lake, prepare_file
from pipelines.ingest.lines import GZIP_MAGIC, head_text, starts_with
from pipelines.ingest.parallel import commit_in_turn
from pipelines.lock import LOCK_FILE, DataDirBusy, data_dir_lock
from pipelines.objectstore import DuckS3FileSystem
from pipelines.schemas import DATA_QUALITY, LAKE_TABLES, QUARANTINE, TABLES
from pipelines.settings import Settings
from tests.conftest import FIXTURES, TINY_REGISTRY, settings_with_registry
from tests.otlp_builder import line, span

OTLP = ("otel_openai_v2_latest_semconv.jsonl", "otel_openllmetry_openai.jsonl")
BILLING = "openai_costs_example.json"
HANDMADE = "handmade.jsonl"  # one good span, one broken: so the quarantine has a row
# Columns that differ between the two lakes by design: where the file was read from
# (a local path vs its s3:// URL) and the clock of each run. Everything else is equal.
DIFFERS = ("source_file", "ingested_at", "validated_at")
# per file (name order): rows read, accepted, quarantined
COUNTS = {
    HANDMADE: (2, 1, 1),
    BILLING: (1, 1, 0),
    OTLP[0]: (7, 7, 0),
    OTLP[1]: (9, 9, 0),
}


def _handmade() -> bytes:
    start = datetime(2026, 10, 1, 8)
    good = span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", start, 900,
                gen_ai__operation__name="chat", gen_ai__agent__name="weather-agent")  # fmt: skip
    bad = span("not-a-trace-id", "b7ad6b7169203332", start, 5)
    return (line(good, bad) + "\n").encode()


def _raw_files() -> dict[str, bytes]:
    files = {name: (FIXTURES / "otlp" / name).read_bytes() for name in OTLP}
    files[BILLING] = (FIXTURES / "billing" / BILLING).read_bytes()
    files[HANDMADE] = _handmade()
    return files


@pytest.fixture
def s3_settings(s3_url, tmp_path, monkeypatch) -> Settings:
    """Settings whose data dir is `s3_url` (raw files uploaded to its raw/), config and
    reports local; run from an empty working folder, to see nothing is written there."""
    config = tmp_path / "s3-run" / "config"
    config.mkdir(parents=True)
    (config / "agents.yaml").write_text(TINY_REGISTRY)
    settings = Settings(
        data_dir=UPath(s3_url), config_dir=config, reports_dir=tmp_path / "s3-run" / "reports"
    )
    for name, data in _raw_files().items():
        (settings.raw_dir / name).write_bytes(data)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return settings


@pytest.fixture
def local_settings(tmp_path) -> Settings:
    (tmp_path / "local-run").mkdir()
    settings = settings_with_registry(tmp_path / "local-run", TINY_REGISTRY)
    for name, data in _raw_files().items():
        (settings.raw_dir / name).write_bytes(data)
    return settings


def _bucket(settings: Settings) -> dict[str, str]:
    """Every object under the data dir: its key (relative to the data dir) → its etag."""
    fs, root = settings.data_dir.fs, settings.data_dir.path
    return {
        path.removeprefix(root + "/"): info["ETag"]
        for path, info in fs.find(root, detail=True).items()
    }


def _rows(settings: Settings, table) -> list[tuple]:
    """A lake table's live rows, without the columns that differ by design, sorted."""
    files = lake.live_files(settings.lake_dir, table)
    if not files:
        return []
    con = connect(memory_limit="1GB")
    try:
        partitioned = table in LAKE_TABLES  # by day=; quarantine and audit are not
        relation = con.sql(f"select * from {read_parquet_sql(files, partitioned=partitioned)}")
        kept = ", ".join(f'"{c}"' for c in relation.columns if c not in DIFFERS)
        rows = con.sql(f"select {kept} from relation").fetchall()
    finally:
        con.close()
    # a duplicate's reason names the file holding the row: its path, or its URL
    raw = str(settings.raw_dir)
    named = [
        tuple(v.replace(raw, "<raw>") if isinstance(v, str) else v for v in row) for row in rows
    ]
    return sorted(named, key=repr)


def _log(settings: Settings) -> dict[str, tuple]:
    """Per file name, its log row without source_file (the key), commit id and time."""
    return {
        entry["source_file"].rsplit("/", 1)[1]: (
            entry["source_format"],
            entry["content_sha256"],
            entry["rows_read"],
            entry["rows_accepted"],
            entry["rows_quarantined"],
            tuple(entry["days"]),
        )
        for entry in lake.read_log(settings.lake_dir).to_pylist()
    }


def test_an_s3_data_dir_holds_the_same_lake_as_a_local_one(s3_settings, local_settings, tmp_path):
    s3_results = ingest_paths([s3_settings.raw_dir], s3_settings, workers=1)
    local_results = ingest_paths([local_settings.raw_dir], local_settings, workers=1)

    got = [(r.path.name, r.status, r.rows_read, r.rows_accepted, r.rows_quarantined)
           for r in s3_results]  # fmt: skip
    assert got == [(name, "ingested", *counts) for name, counts in COUNTS.items()]
    assert [str(r.path) for r in s3_results] == [
        f"{s3_settings.data_dir}/raw/{name}" for name in COUNTS
    ]
    assert [(r.path.name, r.status, r.rows_read, r.rows_accepted, r.rows_quarantined)
            for r in local_results] == got  # fmt: skip

    log = _log(s3_settings)
    assert log == _log(local_settings)
    assert {name: row[2:5] for name, row in log.items()} == COUNTS
    assert all(r.rows_read == r.rows_accepted + r.rows_quarantined for r in s3_results)
    assert sorted(e["source_file"] for e in lake.read_log(s3_settings.lake_dir).to_pylist()) == [
        f"{s3_settings.data_dir}/raw/{name}" for name in sorted(COUNTS)
    ]

    for table in (*LAKE_TABLES, QUARANTINE, DATA_QUALITY):
        assert _rows(s3_settings, table) == _rows(local_settings, table), table.name
    assert [len(_rows(s3_settings, t)) for t in (*LAKE_TABLES, QUARANTINE)] == [17, 0, 1, 0, 0, 1]
    assert len(_rows(s3_settings, DATA_QUALITY)) == 63  # (file, day, expectation) audited

    # the lake is in the bucket: four commits of the log, one per file; no staging left
    objects = _bucket(s3_settings)
    assert sorted(k for k in objects if k.startswith("lake/_ingest_log/")) == [
        "lake/_ingest_log/_manifests/0000000001",
        "lake/_ingest_log/_manifests/0000000002",
        "lake/_ingest_log/_manifests/0000000003",
        "lake/_ingest_log/_manifests/0000000004",
        "lake/_ingest_log/_manifests/_latest",
    ]
    assert not [k for k in objects if "_staging" in k]
    spans = [k.split("/") for k in objects if k.startswith("lake/spans/")]
    key = {name: lake.source_key(s3_settings.raw_dir / name) for name in COUNTS}
    assert sorted((day, file[:16]) for _, _, day, file in spans) == sorted([
        ("day=2026-10-01", key[HANDMADE]),
        ("day=2026-11-21", key[OTLP[0]]),
        ("day=2026-11-21", key[OTLP[1]]),
    ])  # fmt: skip
    # and nowhere on the local disk: no lake, no working files; GX's project is local
    assert list(Path.cwd().iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "s3-run").iterdir()) == ["config", "reports"]
    gx = tmp_path / "s3-run" / "reports" / "gx"
    assert [p.name for p in gx.iterdir()] == [
        f"s3-{s3_settings.data_dir.path.replace('/', '-')}-gx"
    ]


def test_a_second_run_is_unchanged_and_writes_nothing(s3_settings):
    """Nothing is written; the start of the run deletes the log's old versions."""
    ingest_paths([s3_settings.raw_dir], s3_settings, workers=1)
    before = _bucket(s3_settings)
    again = ingest_paths([s3_settings.raw_dir], s3_settings, workers=1)
    assert [(r.path.name, r.status) for r in again] == [(name, "unchanged") for name in COUNTS]
    after = _bucket(s3_settings)
    assert {key: etag for key, etag in before.items() if key in after} == after  # none new
    # only the log's versions before the latest two went (`objectstore.prune_versions`)
    assert sorted(set(before) - set(after)) == [
        "lake/_ingest_log/_manifests/0000000001",
        "lake/_ingest_log/_manifests/0000000002",
    ]
    assert lake.read_log(s3_settings.lake_dir).num_rows == 4


def test_a_file_that_cannot_be_read_is_set_aside_on_s3_with_its_reason(s3_settings):
    data = bytearray(gzip.compress((FIXTURES / "otlp" / OTLP[0]).read_bytes()))
    data[-6] ^= 0xFF  # a byte of the CRC: the stream is corrupt
    broken = s3_settings.raw_dir / "broken.jsonl.gz"
    broken.write_bytes(bytes(data))

    (result,) = ingest_paths([broken], s3_settings, workers=1)

    assert (result.status, result.rows_read) == ("set aside", 0)
    url = f"{s3_settings.data_dir}/raw/broken.jsonl.gz"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    note = s3_settings.lake_dir / "quarantine" / "_files" / f"{key}-broken.jsonl.gz.reason.txt"
    source, sha, reason = note.read_text().splitlines()
    assert (source, sha) == (url, f"sha256 {hashlib.sha256(data).hexdigest()}")
    assert reason.startswith("cannot be read as otlp_json: CorruptGzip: corrupt gzip stream (")
    assert result.note == f"{reason} (see {note})"
    assert lake.read_log(s3_settings.lake_dir).num_rows == 0  # nothing committed

    # with content kept, a copy of the file is set aside too (a local run's `.tmp` step
    # is not needed: a PUT appears whole)
    keeping = replace(s3_settings, keep_content=True)
    (again,) = ingest_paths([broken], keeping, workers=1)
    copy = note.with_name(f"{key}-broken.jsonl.gz")
    assert again.note == f"{reason} (a copy is in {copy})"
    assert copy.read_bytes() == bytes(data)
    assert sorted(p.name for p in note.parent.iterdir()) == [copy.name, note.name]


def test_a_replaced_file_retires_its_version_through_a_commit(s3_settings):
    """A file changed on S3 is ingested again; the version it replaced is retired (kept
    for the next build), both through versioned commits."""
    ingest_paths([s3_settings.raw_dir / HANDMADE], s3_settings, workers=1)
    (first,) = lake.read_log(s3_settings.lake_dir).to_pylist()
    (s3_settings.raw_dir / HANDMADE).write_bytes(_handmade() + _handmade())

    (result,) = ingest_paths([s3_settings.raw_dir / HANDMADE], s3_settings, workers=1)

    assert (result.status, result.rows_read, result.rows_accepted) == ("ingested", 4, 1)
    assert [e["commit_id"] for e in lake.retired(s3_settings.lake_dir)] == [first["commit_id"]]
    objects = _bucket(s3_settings)
    assert sorted(k for k in objects if k.startswith("lake/_retired/")) == [
        "lake/_retired/_manifests/0000000001",
        "lake/_retired/_manifests/_latest",
    ]
    assert lake.release_retired(s3_settings.lake_dir) == 1
    assert lake.retired(s3_settings.lake_dir) == []
    assert not lake.version_files(s3_settings.lake_dir, first)
    assert (
        json.loads(
            s3_settings.data_dir.fs.cat(f"{s3_settings.lake_dir}/_retired/_manifests/0000000002")
        )
        == []
    )


def test_workers_ingest_an_s3_data_dir_as_one_process_does(s3_settings, tmp_path):
    """Forked workers make their own S3 filesystem (fsspec's instances are per process)."""
    sequential = Settings(
        data_dir=UPath(f"{s3_settings.data_dir}-sequential"),
        config_dir=s3_settings.config_dir,
        reports_dir=tmp_path / "sequential-reports",
    )
    for name, data in _raw_files().items():
        (sequential.raw_dir / name).write_bytes(data)

    parallel = ingest_paths([s3_settings.raw_dir], s3_settings, workers=2)
    one = ingest_paths([sequential.raw_dir], sequential, workers=1)

    summary = [(r.path.name, r.status, r.rows_read, r.rows_accepted, r.rows_quarantined)
               for r in parallel]  # fmt: skip
    assert summary == [(name, "ingested", *counts) for name, counts in COUNTS.items()]
    assert _log(s3_settings) == _log(sequential)
    for table in (*LAKE_TABLES, QUARANTINE, DATA_QUALITY):
        assert _rows(s3_settings, table) == _rows(sequential, table), table.name
    assert [r.status for r in one] == ["ingested"] * 4


def _containers() -> dict[str, bytes]:
    """One raw file of each container the readers take, besides JSON Lines: CSV (FOCUS),
    gzip (Langfuse observations), Parquet (Langfuse observations, from their CSV)."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet = io.BytesIO()
    pq.write_table(pacsv.read_csv(FIXTURES / "langfuse" / "observations_v2.csv"), parquet)
    return {
        "focus.csv": (FIXTURES / "focus" / "focus_1.0_sample_1000.csv").read_bytes(),
        "observations.jsonl.gz": gzip.compress(
            (FIXTURES / "langfuse" / "observations_v2.jsonl").read_bytes(), mtime=0
        ),
        "observations.parquet": parquet.getvalue(),
    }


def test_csv_gzip_and_parquet_files_are_read_from_s3_as_from_disk(s3_settings, local_settings):
    for name, data in _containers().items():
        (s3_settings.raw_dir / "more" / name).write_bytes(data)
        (local_settings.raw_dir / "more").mkdir(exist_ok=True)
        (local_settings.raw_dir / "more" / name).write_bytes(data)

    s3 = ingest_paths([s3_settings.raw_dir / "more"], s3_settings, workers=1)
    local = ingest_paths([local_settings.raw_dir / "more"], local_settings, workers=1)

    summary = [(r.path.name, r.source_format, r.status, r.rows_read, r.rows_accepted,
                r.rows_quarantined) for r in s3]  # fmt: skip
    assert summary == [(r.path.name, r.source_format, r.status, r.rows_read, r.rows_accepted,
                        r.rows_quarantined) for r in local]  # fmt: skip
    assert [row[:3] for row in summary] == [
        ("focus.csv", "focus", "ingested"),
        ("observations.jsonl.gz", "langfuse_observations", "ingested"),
        ("observations.parquet", "langfuse_observations", "ingested"),
    ]
    assert all(read == accepted + quarantined > 0 for *_, read, accepted, quarantined in summary)
    for table in (*LAKE_TABLES, QUARANTINE):
        assert _rows(s3_settings, table) == _rows(local_settings, table), table.name


def test_the_write_lock_of_an_s3_data_dir_is_its_lease_object(s3_url):
    """`data_dir_lock` takes a UPath as it takes a local folder: callers do not change."""
    data_dir = UPath(s3_url)
    with data_dir_lock(data_dir, "nightly flow"):
        assert (data_dir / LOCK_FILE).is_file()
        with pytest.raises(DataDirBusy) as busy, data_dir_lock(data_dir, "ingest"):
            pass
    assert str(busy.value).startswith(f"{s3_url} is being written by nightly flow (pid ")
    assert str(busy.value).endswith(
        "; let it finish, or wait for it with FLEETLEDGER_LOCK_WAIT=SECONDS"
    )
    assert not (data_dir / LOCK_FILE).exists()  # released
    with data_dir_lock(data_dir, "ingest"):  # and free again
        pass


def _objects_of(settings: Settings, commit_id: str) -> list[str]:
    return sorted(key for key in _bucket(settings) if commit_id in key)


@pytest.fixture
def s3_requests(monkeypatch) -> list[tuple[str, str | None]]:
    """The S3 requests s3fs makes from now on in this process: (operation, Range)."""
    made: list[tuple[str, str | None]] = []
    asked = DuckS3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        made.append((method, kwargs.get("Range")))
        return await asked(self, method, *args, **kwargs)

    monkeypatch.setattr(DuckS3FileSystem, "_call_s3", counted)
    return made


def test_files_are_written_at_their_lake_names_and_a_discard_deletes_them(s3_settings):
    """S3 has no rename: a prepared file's rows go straight to their partitions, under a
    commit id no log names (so outside the lake), and discarding it deletes them."""
    prepared = prepare_file(s3_settings.raw_dir / HANDMADE, s3_settings)
    key, commit = prepared.staged.key, prepared.staged.commit_id
    assert _objects_of(s3_settings, commit) == [
        f"lake/quarantine/spans/{key}-{commit}-00001-0.parquet",
        f"lake/spans/day=2026-10-01/{key}-{commit}-00000-0.parquet",
    ]
    assert lake.live_files(s3_settings.lake_dir, TABLES["spans"]) == []
    prepared.staged.discard()
    assert _objects_of(s3_settings, commit) == []


def test_published_files_are_left_to_garbage_collection(s3_settings):
    """Once published, a version's files are the lake's: a discard (a commit that raised
    may still have landed) leaves them; the garbage collection removes them, as no log
    names their commit."""
    prepared = prepare_file(s3_settings.raw_dir / HANDMADE, s3_settings)
    prepared.staged.publish()
    prepared.staged.discard()
    key, commit = prepared.staged.key, prepared.staged.commit_id
    assert _objects_of(s3_settings, commit) == [
        f"lake/quarantine/spans/{key}-{commit}-00001-0.parquet",
        f"lake/spans/day=2026-10-01/{key}-{commit}-00000-0.parquet",
    ]
    assert lake.collect_garbage(s3_settings.lake_dir) == 2
    assert _objects_of(s3_settings, commit) == []


def test_a_killed_prepare_leaves_files_the_next_run_removes(s3_settings):
    prepared = prepare_file(s3_settings.raw_dir / HANDMADE, s3_settings)  # then killed
    (result,) = ingest_paths([s3_settings.raw_dir / HANDMADE], s3_settings, workers=1)
    assert (result.status, result.rows_accepted, result.rows_quarantined) == ("ingested", 1, 1)
    assert _objects_of(s3_settings, prepared.staged.commit_id) == []
    (entry,) = lake.read_log(s3_settings.lake_dir).to_pylist()
    assert [k.rsplit("/", 1)[0] for k in _objects_of(s3_settings, entry["commit_id"])] == [
        "lake/_data_quality",  # the run's audit of the version
        "lake/quarantine/spans",
        "lake/spans/day=2026-10-01",
    ]


def test_an_ingest_copies_no_object_and_asks_for_the_bucket_once(s3_settings, s3_requests):
    """No staged file is copied into the lake (written there at once), and s3fs's check
    that a folder's bucket exists, before every write, is made once."""
    results = ingest_paths([s3_settings.raw_dir], s3_settings, workers=1)
    assert [r.status for r in results] == ["ingested"] * 4
    calls = Counter(method for method, _ in s3_requests)
    assert (calls["copy_object"], calls["head_bucket"]) == (0, 1)


def test_a_raw_file_is_probed_for_its_first_bytes_only(s3_settings, s3_requests):
    """Telling a file's format reads its first bytes several times: each asks for those
    bytes, not for s3fs's 50 MiB block (the whole file, up to 50 MiB, once a probe);
    streaming it still takes one request a block."""
    data = bytes(range(256)) * (40 * 4096)  # 40 MiB
    raw = s3_settings.raw_dir / "big.jsonl"
    raw.write_bytes(data)
    s3_requests.clear()

    def ranges() -> list[str | None]:
        asked = [asked_range for method, asked_range in s3_requests if method == "get_object"]
        s3_requests.clear()
        return asked

    assert starts_with(raw, GZIP_MAGIC) is False
    assert ranges() == ["bytes=0-3"]  # the 2 bytes read and, fsspec reading ahead, 2 more
    assert head_text(raw, 4096) == data[:4096].decode("utf-8", "replace")
    assert ranges() == ["bytes=0-3", "bytes=0-8191"]  # is it gzip? then 4 KiB and 4 ahead
    assert lake.file_sha256(raw) == hashlib.sha256(data).hexdigest()
    assert ranges() == ["bytes=0-41943039"]


def test_a_second_commit_of_a_committed_file_deletes_none_of_its_files(s3_settings):
    """A copy of a Prepared (as a Dask result is, unpickled) knows nothing of the publish
    of the one committed: committed again, it finds its own version logged and must not
    discard the files that version's log entry names."""
    quality = begin_ingest(s3_settings)
    prepared = prepare_file(s3_settings.raw_dir / HANDMADE, s3_settings, keep_keys=True)
    copy = pickle.loads(pickle.dumps(prepared))
    assert commit_in_turn(prepared, s3_settings, quality, None).status == "ingested"
    again = commit_in_turn(copy, s3_settings, quality, None)
    assert again.status == "unchanged"
    assert len(_objects_of(s3_settings, prepared.staged.commit_id)) == 2
    assert len(_rows(s3_settings, TABLES["spans"])) == 1
