"""One bad byte costs one line, never a file (issue 20, item 11): a UTF-8 BOM, CR or CRLF
line ends, bytes that are not UTF-8, keys that differ only in case, and a gzip stream cut
short. The readers are called directly with exact line numbers and reasons; one ingest per
case runs end to end on a real fixture, with records read = accepted + quarantined."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipelines.ingest import ingest_file
from pipelines.ingest.detect import detect_format
from pipelines.ingest.lines import TRUNCATED, line_batches
from pipelines.ingest.records import column_keys, container, record_batches
from pipelines.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
OBSERVATIONS_JSONL = FIXTURES / "langfuse" / "observations_v2.jsonl"
OBSERVATIONS_CSV = FIXTURES / "langfuse" / "observations_v2.csv"
FOCUS_CSV = FIXTURES / "focus" / "focus_1.0_sample_1000.csv"
OTLP_LINES = [
    (FIXTURES / "otlp" / name).read_bytes().strip()
    for name in ("otel_openai_v2_latest_semconv.jsonl", "otel_openllmetry_openai.jsonl")
]
BOM = b"\xef\xbb\xbf"


def _gzip_cut(data: bytes, keep: int) -> bytes:
    """`data` gzip-compressed, cut short: it decompresses to exactly data[:keep], then ends."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as stream:
        stream.write(data[:keep])
        stream.flush()  # a sync flush: everything so far can be decompressed
        cut = buffer.tell()
        stream.write(data[keep:])
    return buffer.getvalue()[:cut]


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _lines(path: Path, **kwargs) -> list[tuple]:
    return [
        (row["line_no"], row["line"], row["problem"])
        for table in line_batches(path, **kwargs)
        for row in table.to_pylist()
    ]


def _records(path: Path, *columns: str) -> list[tuple]:
    """(line_no, row_problem, *columns) of every record, in line order (DuckDB scans the
    batch's chunks in parallel, so its rows come in any order)."""
    rows = [row for table in record_batches(path) for row in table.to_pylist()]
    return sorted(
        (row["line_no"], row["row_problem"], *(row.get(c) for c in columns)) for row in rows
    )


def _ingest(path: Path, settings: Settings) -> tuple[int, int, int]:
    result = ingest_file(path, settings)
    assert result.status == "ingested", result.note
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    return result.rows_read, result.rows_accepted, result.rows_quarantined


def _quarantine(settings: Settings) -> list[tuple]:
    rows = pq.read_table(settings.lake_dir / "quarantine").to_pylist()
    return sorted((q["line_no"], q["field"], q["reason"]) for q in rows)


def _other_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "other" / "data").resolved()


# --- a UTF-8 byte order mark ----------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_bom_is_not_part_of_the_first_line(tmp_path, compress):
    data = BOM + b'{"a": 1}\n{"b": 2}\n'
    path = _write(tmp_path, "x.jsonl", gzip.compress(data) if compress else data)
    assert _lines(path) == [(1, '{"a": 1}', None), (2, '{"b": 2}', None)]
    assert container(path) == "jsonl"
    assert _records(path, "a", "b") == [(1, None, "1", None), (2, None, None, "2")]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_bom_does_not_hide_the_format(tmp_path, compress):
    for fixture, fmt, kind in (
        (OBSERVATIONS_JSONL, "langfuse_observations", "jsonl"),
        (OBSERVATIONS_CSV, "langfuse_observations", "csv"),
        (FOCUS_CSV, "focus", "csv"),
    ):
        data = BOM + fixture.read_bytes()
        path = _write(tmp_path, fixture.name, gzip.compress(data) if compress else data)
        assert (detect_format(path), container(path)) == (fmt, kind)


def test_a_bom_csv_header_names_its_first_column(tmp_path):
    path = _write(tmp_path, "x.csv", BOM + b"a,b\n1,2\n")
    [table] = record_batches(path)
    assert table.to_pylist() == [{"line_no": 2, "row_problem": None, "a": "1", "b": "2"}]


@pytest.mark.parametrize(
    ("fixture", "counts"),
    [(OBSERVATIONS_JSONL, (6, 5, 1)), (OBSERVATIONS_CSV, (6, 5, 1)), (FOCUS_CSV, (1000, 1000, 0))],
    ids=["langfuse-jsonl", "langfuse-csv", "focus-csv"],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_ingest_with_a_bom_is_ingest_without(settings, tmp_path, fixture, counts, compress):
    without = _other_settings(tmp_path)
    assert _ingest(_write(tmp_path, fixture.name, fixture.read_bytes()), without) == counts
    data = BOM + fixture.read_bytes()
    path = _write(settings.raw_dir, fixture.name, gzip.compress(data) if compress else data)
    assert _ingest(path, settings) == counts
    if counts[2]:
        assert _quarantine(settings) == _quarantine(without)


def test_ingest_of_otlp_with_a_bom_and_cr_line_ends(settings, tmp_path):
    plain = _write(tmp_path, "plain.jsonl", b"\n".join(OTLP_LINES) + b"\n")
    expected = _ingest(plain, _other_settings(tmp_path))
    path = _write(settings.raw_dir, "traces.jsonl", BOM + b"\r\r\n".join(OTLP_LINES) + b"\r")
    assert expected == (16, 16, 0)
    assert _ingest(path, settings) == expected


# --- CR and CRLF line ends ------------------------------------------------------------


def test_cr_crlf_and_lf_all_end_a_line(tmp_path):
    path = _write(tmp_path, "x.jsonl", b'{"a":1}\r\r{"b":2}\r\n \n{"c":3}\r')
    assert _lines(path) == [(1, '{"a":1}', None), (3, '{"b":2}', None), (5, '{"c":3}', None)]
    assert _records(path, "c") == [(1, None, None), (3, None, None), (5, None, "3")]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_line_numbers_do_not_depend_on_where_blocks_end(tmp_path, compress):
    """Every block size: a CR LF pair split between two blocks is still one line end."""
    data = b"ab\r\ncd\r\r\nef\rg\xc3\xa9\n\r\nh"
    expected = [(1, "ab", None), (2, "cd", None), (4, "ef", None), (5, "gé", None)]
    path = _write(tmp_path, "x.txt", gzip.compress(data) if compress else data)
    for max_bytes in range(1, len(data) + 2):
        assert _lines(path, max_bytes=max_bytes) == [*expected, (7, "h", None)], max_bytes


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=40).map(lambda b: bytes(b"ab \r\n\xc3\xa9\xff"[x % 8] for x in b)),
    max_bytes=st.integers(1, 50),
    compress=st.booleans(),
)
def test_lines_are_those_of_universal_newlines(tmp_path_factory, data, max_bytes, compress):
    """Any bytes, any block size: the lines Python's universal newlines make of the bytes,
    numbered; blank ones left out; a problem exactly when a line is not UTF-8."""
    raw_lines = re.split(rb"\r\n|\r|\n", data)
    if data.endswith((b"\r", b"\n")):
        raw_lines.pop()
    expected = [
        (n, raw.decode("utf-8", "replace"), _is_utf8(raw))
        for n, raw in enumerate(raw_lines, start=1)
        if raw.decode("utf-8", "replace").strip()
    ]
    folder = tmp_path_factory.mktemp("lines")
    path = _write(folder, "x.txt", gzip.compress(data) if compress else data)
    got = [(n, text, problem is None) for n, text, problem in _lines(path, max_bytes=max_bytes)]
    assert got == expected


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"], ids=["cr", "crlf"])
def test_csv_rows_end_at_cr_or_crlf(tmp_path, ending):
    path = _write(tmp_path, "x.csv", ending.join([b"a,b", b"1,2", b'3,"x', b'y"', b""]))
    value = f"x{ending.decode()}y"  # a line end inside quotes is part of the value
    assert _records(path, "a", "b") == [(2, None, "1", "2"), (3, None, "3", value)]


@pytest.mark.parametrize(
    ("fixture", "quarantined"),
    [
        (OBSERVATIONS_JSONL, (6, "started_at", "start_time is not a timestamp: 05/10/2026 09:15")),
        (OBSERVATIONS_CSV, (7, "started_at", "start_time is not a timestamp: 05/10/2026 09:15")),
    ],
    ids=["langfuse-jsonl", "langfuse-csv"],
)
@pytest.mark.parametrize("ending", [b"\r", b"\r\n"], ids=["cr", "crlf"])
def test_ingest_with_cr_line_ends_is_ingest_with_lf(settings, fixture, quarantined, ending):
    path = _write(settings.raw_dir, fixture.name, fixture.read_bytes().replace(b"\n", ending))
    assert _ingest(path, settings) == (6, 5, 1)
    assert _quarantine(settings) == [quarantined]


# --- bytes that are not UTF-8 ---------------------------------------------------------


def test_a_line_with_a_bad_byte_is_the_only_line_with_a_problem(tmp_path):
    path = _write(
        tmp_path, "x.jsonl", b'{"a":"x"}\n{"a":"\xc3\xa9\xff"}\n\n{"a":"\xe2\x82"}\n{"a":1}'
    )
    assert _lines(path) == [
        (1, '{"a":"x"}', None),
        (2, '{"a":"é\ufffd"}', "not valid UTF-8 (byte 0xff at column 8)"),
        (4, '{"a":"\ufffd"}', "not valid UTF-8 (byte 0xe2 at column 7)"),
        (5, '{"a":1}', None),
    ]
    assert _records(path, "a") == [
        (1, None, "x"),
        (2, "|not valid UTF-8 (byte 0xff at column 8)", "é\ufffd"),
        (4, "|not valid UTF-8 (byte 0xe2 at column 7)", "\ufffd"),
        (5, None, "1"),
    ]


def test_a_csv_row_with_a_bad_byte_is_the_only_row_with_a_problem(tmp_path):
    path = _write(tmp_path, "x.csv", b"a,b\n1,x\n2,\xffy\n\xfe,\xfd\n4,\n")
    assert _records(path, "a", "b") == [
        (2, None, "1", "x"),
        (3, "|not valid UTF-8 in b (byte 0xff at column 1)", "2", "\ufffdy"),
        (4, "|not valid UTF-8 in a (byte 0xfe at column 1)", "\ufffd", "\ufffd"),
        (5, None, "4", None),
    ]


def test_a_csv_header_with_a_bad_byte_sets_the_file_aside(tmp_path):
    path = _write(tmp_path, "x.csv", b"a,b\xff\n1,2\n")
    with pytest.raises(pa.ArrowInvalid, match=r"header \(line 1\) is not valid UTF-8 \(byte 0xff"):
        list(record_batches(path))


def test_ingest_quarantines_only_the_jsonl_line_with_a_bad_byte(settings):
    lines = OBSERVATIONS_JSONL.read_bytes().splitlines(keepends=True)
    assert lines[1].index(b'"proj-support"') == 108 and lines[1].isascii()
    lines[1] = lines[1].replace(b'"proj-support"', b'"proj-\xffsupport"')  # column 115
    path = _write(settings.raw_dir, "observations.jsonl", b"".join(lines))
    assert _ingest(path, settings) == (6, 4, 2)
    assert [(line, reason) for line, _, reason in _quarantine(settings)] == [
        (2, "not valid UTF-8 (byte 0xff at column 115)"),
        (6, "start_time is not a timestamp: 05/10/2026 09:15"),
    ]


def test_ingest_quarantines_only_the_csv_row_with_a_bad_byte(settings):
    lines = FOCUS_CSV.read_bytes().splitlines(keepends=True)
    lines[500] = lines[500].replace(b'"SunBird"', b'"Sun\xffBird"', 1)
    path = _write(settings.raw_dir, "focus.csv", b"".join(lines))
    assert _ingest(path, settings) == (1000, 999, 1)
    assert _quarantine(settings) == [
        (501, None, "not valid UTF-8 in BillingAccountName (byte 0xff at column 4)")
    ]


def test_ingest_of_otlp_quarantines_only_the_line_with_a_bad_byte(settings):
    """Needs the OTLP parser to quarantine a line whose `problem` is set (issue 20, item 11)."""
    bad = OTLP_LINES[1].replace(b"gpt-5.4", b"gpt-5.\xff", 1)
    assert bad.index(b"\xff") == 7516 and bad[:7516].isascii()
    path = _write(settings.raw_dir, "traces.jsonl", OTLP_LINES[0] + b"\n" + bad + b"\n")
    assert _ingest(path, settings) == (8, 7, 1)
    assert _quarantine(settings) == [(2, None, "not valid UTF-8 (byte 0xff at column 7517)")]


# --- keys that differ only in case ----------------------------------------------------


def test_the_key_most_records_use_is_kept():
    assert column_keys({"trace_id": 3, "Trace_Id": 1, "a": 4}) == (
        ["a", "trace_id"],
        {"Trace_Id": "trace_id"},
    )
    assert column_keys({"trace_id": 1, "Trace_Id": 2}) == (["Trace_Id"], {"trace_id": "Trace_Id"})
    assert column_keys({"Trace_Id": 1, "trace_id": 1}) == (["trace_id"], {"Trace_Id": "trace_id"})
    assert column_keys({"TraceId": 1, "TRACEID": 1}) == (["TRACEID"], {"TraceId": "TRACEID"})
    assert column_keys({"Line_No": 2, "x": 1}) == (["x"], {})  # ours, not a column


def test_only_the_record_with_the_odd_spelling_has_a_problem(tmp_path):
    data = b'{"trace_id":"t1"}\n{"Trace_Id":"t2"}\n{"trace_id":"t3","TRACE_ID":"t4"}\n'
    path = _write(tmp_path, "x.jsonl", data)
    assert _records(path, "trace_id") == [
        (1, None, "t1"),
        (2, "|key Trace_Id differs from trace_id only in case", None),
        (3, "|key TRACE_ID differs from trace_id only in case", "t3"),
    ]


def test_ingest_quarantines_only_the_record_with_the_odd_spelling(settings):
    lines = (FIXTURES / "native" / "spans.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"trace_id"', b'"Trace_Id"')
    path = _write(settings.raw_dir, "spans.jsonl", b"".join(lines))
    assert _ingest(path, settings) == (4, 1, 3)
    assert _quarantine(settings) == [
        (2, None, "key Trace_Id differs from trace_id only in case"),
        (3, "input_tokens", "cannot be read as bigint: many"),
        (4, "status", "must be one of ok/error/unset, got done"),
    ]


# --- a gzip stream cut short ----------------------------------------------------------


def test_a_cut_gzip_stream_keeps_the_lines_before_and_reports_the_cut(tmp_path):
    data = b'{"a":1}\r\n\r\n{"a":2}\n{"a":3}\n'
    partial = _write(tmp_path, "partial.jsonl.gz", _gzip_cut(data, data.index(b"3")))
    assert _lines(partial) == [(1, '{"a":1}', None), (3, '{"a":2}', None), (4, '{"a":', TRUNCATED)]
    assert _records(partial, "a") == [(1, None, "1"), (3, None, "2"), (4, f"|{TRUNCATED}", None)]
    at_line_end = _write(tmp_path, "whole.jsonl.gz", _gzip_cut(data, data.index(b'{"a":3')))
    assert _lines(at_line_end) == [(1, '{"a":1}', None), (3, '{"a":2}', None), (4, "", TRUNCATED)]
    header_only = _write(tmp_path, "empty.jsonl.gz", gzip.compress(data)[:5])
    assert _lines(header_only) == [(1, "", TRUNCATED)]


def test_a_cut_gzip_csv_keeps_the_rows_before_and_reports_the_cut(tmp_path):
    data = b"a,b\n1,x\n2,y\n3,z\n"
    path = _write(tmp_path, "x.csv.gz", _gzip_cut(data, data.index(b",z")))
    assert _records(path, "a", "b") == [
        (2, None, "1", "x"),
        (3, None, "2", "y"),
        (4, f"|{TRUNCATED}", None, None),
    ]


def test_a_cut_gzip_file_is_still_recognised(tmp_path):
    data = OBSERVATIONS_JSONL.read_bytes()
    path = _write(tmp_path, "x.jsonl.gz", _gzip_cut(data, 300))
    assert (detect_format(path), container(path)) == ("langfuse_observations", "jsonl")


def test_ingest_of_a_cut_gzip_jsonl(settings):
    data = OBSERVATIONS_JSONL.read_bytes()
    keep = len(b"".join(data.splitlines(keepends=True)[:3])) + 20  # 3 lines and a bit
    path = _write(settings.raw_dir, "observations.jsonl.gz", _gzip_cut(data, keep))
    assert _ingest(path, settings) == (4, 3, 1)
    assert _quarantine(settings) == [(4, None, TRUNCATED)]


def test_ingest_of_a_cut_gzip_csv(settings):
    data = FOCUS_CSV.read_bytes()
    keep = len(b"".join(data.splitlines(keepends=True)[:101])) + 20  # header, 100 rows, a bit
    path = _write(settings.raw_dir, "focus.csv.gz", _gzip_cut(data, keep))
    assert _ingest(path, settings) == (101, 100, 1)
    assert _quarantine(settings) == [(102, None, TRUNCATED)]


def test_ingest_of_a_cut_gzip_otlp_keeps_the_whole_lines(settings):
    """The cut line is quarantined whatever the OTLP parser makes of `problem`."""
    data = b"\n".join(OTLP_LINES) + b"\n"
    path = _write(settings.raw_dir, "traces.jsonl.gz", _gzip_cut(data, len(OTLP_LINES[0]) + 99))
    assert _ingest(path, settings) == (8, 7, 1)
    assert [line for line, _, _ in _quarantine(settings)] == [2]


@pytest.mark.parametrize(
    ("fixture", "fmt"), [(OBSERVATIONS_JSONL, "langfuse_observations"), (FOCUS_CSV, "focus")]
)
def test_a_corrupt_gzip_file_is_set_aside(settings, fixture, fmt):
    """Unlike a cut, corruption may have changed what was read before it: nothing is kept.
    (Corrupt deflate data can also look like a cut, when it makes the decoder wait for
    more: that is read as a cut.)"""
    data = bytearray(gzip.compress(fixture.read_bytes()))
    data[-6] ^= 0xFF  # a byte of the CRC in the trailer: the check fails at the end
    path = _write(settings.raw_dir, f"{fixture.name}.gz", bytes(data))
    assert detect_format(path) == fmt
    result = ingest_file(path, settings)
    assert (result.status, result.rows_read) == ("set aside", 0)
    assert f"cannot be read as {fmt}: " in result.note
    assert "corrupt gzip stream (CRC check failed" in result.note
