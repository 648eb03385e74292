"""What an ingest run guarantees whatever the files: a poison file is set aside and the run
goes on, a replaced holder of a row gives way to the copy, replaced lake files outlive
open readers until the next build, and a quarantined record keeps no content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import warehouse
from pipelines.errors import UserError
from pipelines.ingest import FORMATS, Format, ingest_file, ingest_paths, lake
from pipelines.schemas import QUARANTINE, SPANS
from pipelines.settings import Settings
from tests.otlp_builder import line, llm_case, span

FLEETLEDGER = Path(sys.executable).with_name("fleetledger")
DAY = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def _spans(settings: Settings) -> list[tuple[str, str]]:
    """(span_id, source file name) of every span in the lake, sorted."""
    files = lake.live_files(settings.lake_dir, SPANS)
    rows = pq.ParquetDataset(files).read(columns=["span_id", "source_file"]).to_pylist()
    return sorted((r["span_id"], Path(r["source_file"]).name) for r in rows)


def _quarantine(settings: Settings) -> list[dict]:
    files = lake.live_files(settings.lake_dir, QUARANTINE)
    return pq.ParquetDataset(files).read().to_pylist() if files else []


def _write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    return path


def test_a_file_that_breaks_its_reader_is_set_aside_and_the_run_goes_on(
    settings, tmp_path, monkeypatch
):
    poison = _write(tmp_path / "in" / "a-poison.jsonl", line(*llm_case(1, "triage", DAY, 10)))
    good = _write(tmp_path / "in" / "b-good.jsonl", line(*llm_case(2, "triage", DAY, 10)))
    real = FORMATS["otlp_json"]

    def parse(con, batch, lineage, **kwargs):
        if lineage.source_file.endswith("a-poison.jsonl"):
            raise ValueError("Conversion Error: 1e30 is out of range for BIGINT\nLINE 1: …")
        return real.parse(con, batch, lineage, **kwargs)

    monkeypatch.setitem(FORMATS, "otlp_json", Format("otlp_json", real.batches, parse))
    first, second = ingest_paths([tmp_path / "in"], settings)
    assert (first.status, second.status) == ("set aside", "ingested")
    note = settings.lake_dir / "quarantine" / "_files" / f"{lake.source_key(poison)}-a-poison.jsonl"
    note = note.with_name(note.name + ".reason.txt")
    reason = "cannot be read as otlp_json: ValueError: Conversion Error: 1e30 is out of range "
    assert first.note == f"{reason}for BIGINT (see {note})"
    assert note.read_text().splitlines() == [
        str(poison),
        f"sha256 {lake.file_sha256(poison)}",
        f"{reason}for BIGINT",
    ]
    assert poison.exists()  # never moved; not copied either: it may hold prompt content
    assert _spans(settings) == [("000000000000002a", good.name), ("000000000000002b", good.name)]
    assert lake.read_log(settings.lake_dir)["source_file"].to_pylist() == [str(good)]


def test_a_machine_error_is_raised_for_the_caller_to_retry(settings, tmp_path, monkeypatch):
    path = _write(tmp_path / "in" / "traces.jsonl", line(*llm_case(1, "triage", DAY, 10)))
    real = FORMATS["otlp_json"]

    def parse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(FORMATS, "otlp_json", Format("otlp_json", real.batches, parse))
    with pytest.raises(OSError, match="No space left"):
        ingest_file(path, settings)
    assert not (settings.lake_dir / "quarantine" / "_files").exists()


def test_a_250_character_file_name_is_ingested_and_set_aside_under_a_short_name(settings, tmp_path):
    long = "x" * 244 + ".jsonl"
    good = ingest_file(_write(tmp_path / long, line(*llm_case(1, "triage", DAY, 10))), settings)
    assert (good.status, good.rows_accepted) == ("ingested", 2)
    unknown = _write(tmp_path / "in" / ("y" * 245 + ".json"), '{"hello": "world"}')
    keeping = replace(settings, keep_content=True)
    aside = ingest_file(unknown, keeping)
    assert aside.status == "set aside"
    copy = Path(aside.note.split("(a copy is in ")[1].removesuffix(")"))
    assert copy.read_bytes() == unknown.read_bytes()
    assert copy.name == f"{lake.source_key(unknown)}-{'y' * 120}-{copy.name[-8:]}"  # + hash


def test_the_cli_exits_1_naming_what_it_set_aside_after_ingesting_the_rest(tmp_path):
    folder = tmp_path / "raw"
    _write(folder / "a-notes.json", '{"hello": "world"}')
    _write(folder / "b-traces.jsonl", line(*llm_case(1, "triage", DAY, 10)))
    data = tmp_path / "data"
    run = subprocess.run(
        [FLEETLEDGER, "ingest", folder, "--data-dir", data, "--reports-dir", tmp_path / "r"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()  # the console writes to stderr
    assert (
        "ingested 1 files: 2 records = 2 accepted + 0 quarantined; 0 unchanged since last run"
        in lines
    )
    assert lines[-1] == f"1 file(s) set aside, not ingested: {folder / 'a-notes.json'}"
    logged = lake.read_log(data.resolve() / "lake")["source_file"].to_pylist()
    assert logged == [str(folder / "b-traces.jsonl")]


def test_when_the_holder_of_a_span_is_edited_the_redelivered_copy_takes_its_place(
    settings, tmp_path
):
    case_1, case_2 = llm_case(1, "triage", DAY, 10), llm_case(2, "triage", DAY, 20)
    original = _write(tmp_path / "a" / "traces.jsonl", line(*case_1), line(*case_2))
    resent = _write(tmp_path / "b" / "traces-resent.jsonl", line(*case_1), line(*case_2))
    ingest_file(original, settings)
    copy = ingest_file(resent, settings)
    assert (copy.rows_accepted, copy.rows_quarantined) == (0, 4)  # all four held by `original`
    _write(original, line(*case_1))  # case 2 edited out of the holder
    edited = ingest_file(original, settings)
    assert (edited.rows_accepted, edited.rows_quarantined) == (2, 0)
    assert edited.note == f"{resent} ingested again to restore its copies (ingested)"
    assert _spans(settings) == [
        ("000000000000001a", "traces.jsonl"),
        ("000000000000001b", "traces.jsonl"),
        ("000000000000002a", "traces-resent.jsonl"),
        ("000000000000002b", "traces-resent.jsonl"),
    ]
    reasons = sorted(r["reason"] for r in _quarantine(settings))
    assert reasons == [f"duplicate: this span is already stored from {original}"] * 2
    # editing it again without losing rows restores nothing (no loop)
    _write(original, line(*case_1), line(span(f"{1:032x}", "00000000000000ff", DAY, 5)))
    assert ingest_file(original, settings).note == ""


def test_replaced_lake_files_outlive_open_readers_until_the_next_build(settings, tmp_path):
    path = _write(tmp_path / "traces.jsonl", line(*llm_case(1, "triage", DAY, 10)))
    ingest_file(path, settings)
    warehouse.build(settings)
    old_files = lake.live_files(settings.lake_dir, SPANS)
    reader = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        _write(path, line(*llm_case(1, "triage", DAY, 10), *llm_case(2, "triage", DAY, 10)))
        ingest_file(path, settings)
        assert all(p.exists() for p in old_files)  # the open warehouse's views still read
        assert reader.execute("select count(*) from lake_spans").fetchall() == [(2,)]
        assert len(lake.retired(settings.lake_dir)) == 1
        (settings.data_dir / ".warehouse-20261201T000000-killed.duckdb").write_bytes(b"half")
        warehouse.build(settings)
    finally:
        reader.close()
    assert not any(p.exists() for p in old_files)
    assert lake.retired(settings.lake_dir) == []
    assert not list(settings.data_dir.glob(".warehouse-*"))  # a killed build's leftover
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from lake_spans").fetchall() == [(4,)]


def test_a_quarantined_record_keeps_no_content(settings, tmp_path):
    marker = "MARKER-7f3a"
    bad = span("not-hex", "000000000000000a", DAY, 5, gen_ai__input__messages=f"hi {marker}",
               llm__input_messages__0__message__content=marker)  # fmt: skip
    cut = line(span(f"{3:032x}", "000000000000003a", DAY, 5, gen_ai__prompt=marker))[:-30]
    path = _write(tmp_path / "traces.jsonl", line(bad), cut)
    result = ingest_file(path, settings)
    assert (result.rows_accepted, result.rows_quarantined) == (0, 2)
    raws = [r["raw"] for r in sorted(_quarantine(settings), key=lambda r: r["line_no"])]
    assert not any(marker in raw for raw in raws)
    spans_raw = json.loads(raws[0])
    assert spans_raw["traceId"] == "not-hex"  # the rest of the record is kept
    assert {a["key"] for a in spans_raw["attributes"]} == {
        "gen_ai.input.messages",
        "llm.input_messages.0.message.content",
    }


def test_plausible_timestamps_are_configurable(tmp_path):
    settings = Settings.from_env(
        {"FLEETLEDGER_PLAUSIBLE_FROM": "2026-10-06"},
        data_dir=tmp_path / "data",
        reports_dir=tmp_path / "reports",
    )
    path = _write(tmp_path / "traces.jsonl", line(*llm_case(1, "triage", DAY, 10)))
    result = ingest_file(path, settings)
    assert (result.rows_accepted, result.rows_quarantined) == (0, 2)
    reasons = {(r["field"], r["reason"]) for r in _quarantine(settings)}
    assert reasons == {
        (
            "started_at",
            "must be on or after 2026-10-06 and before 2100-01-01 "
            "(FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL), got 2026-10-05 09:00:00+00",
        )
    }
    with pytest.raises(UserError, match="FLEETLEDGER_PLAUSIBLE_FROM='10/06/2026': not an ISO"):
        Settings.from_env({"FLEETLEDGER_PLAUSIBLE_FROM": "10/06/2026"})


def test_a_data_dir_duckdb_cannot_use_is_refused_before_anything_is_written(tmp_path):
    data = tmp_path / "a?b" / "data"
    with pytest.raises(UserError, match=r"cannot use a path holding '\?'"):
        Settings(data_dir=data).resolved()
    assert not (tmp_path / "a?b").exists()
