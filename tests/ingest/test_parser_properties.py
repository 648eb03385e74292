"""Whatever arrives, every parser never crashes and never loses a record.

Random, truncated and corrupted records are thrown at each format through the same
reader and parser the ingest uses; records read must equal accepted + quarantined,
every line must be counted, and every quarantined row must carry a reason.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.db import connect
from pipelines.ingest import FORMATS
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage
from pipelines.schemas import INGEST_LOG

FIXTURES = Path(__file__).parent.parent / "fixtures"
OTLP_VALID = (FIXTURES / "otlp" / "otel_openai_v2_latest_semconv.jsonl").read_text().strip()
EXAMPLES = {
    "langfuse_observations": FIXTURES / "langfuse" / "observations_v2.jsonl",
    "langfuse_scores": FIXTURES / "langfuse" / "scores.jsonl",
    "langfuse_traces": FIXTURES / "langfuse" / "traces_legacy.jsonl",
    "native_spans": FIXTURES / "native" / "spans.jsonl",
    "native_evaluations": FIXTURES / "native" / "evaluations.jsonl",
}
RECORDS = {
    fmt: [json.loads(x) for x in path.read_text().splitlines()] for fmt, path in EXAMPLES.items()
}
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
junk_lines = st.text(min_size=1, max_size=60).filter(
    lambda s: s.strip() and "\n" not in s and "\r" not in s
)


def _ingest_batches(fmt: str, path: Path) -> tuple[int, int, int, list]:
    """(records read, accepted, quarantined, quarantine reasons) for one file."""
    con = connect(memory_limit="512MB")
    lineage = Lineage(fmt, str(path), datetime.now(UTC))
    seen = SeenRows(con, path.parent / "lake", path, INGEST_LOG.empty())
    read = accepted = quarantined = 0
    reasons = []
    for batch in FORMATS[fmt].batches(path):
        parsed = FORMATS[fmt].parse(con, batch, lineage, keep_content=False, seen=seen)
        read += parsed.records_read
        accepted += sum(t.num_rows for t in parsed.rows.values())
        quarantined += parsed.quarantine.num_rows
        reasons += parsed.quarantine["reason"].to_pylist()
    con.close()
    return read, accepted, quarantined, reasons


def _write(lines: list[str], suffix: str = ".jsonl") -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fleetledger-prop-"))
    path = folder / f"input{suffix}"
    path.write_text("\n".join(lines) + "\n")
    return path


otlp_lines = st.one_of(
    junk_lines,
    st.integers(1, len(OTLP_VALID) - 1).map(lambda cut: OTLP_VALID[:cut]),
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [v]}]}]})),
    st.just(OTLP_VALID),
)


@PROPERTY
@given(st.lists(otlp_lines, min_size=1, max_size=6))
def test_otlp_parser_conserves_records(lines):
    read, accepted, quarantined, reasons = _ingest_batches("otlp_json", _write(lines))
    assert read == accepted + quarantined
    assert accepted >= 7 * (OTLP_VALID in lines)  # a repeated line is a duplicate: stored once
    assert all(reasons)


def _corrupted_record(fmt: str):
    """A real example record with some fields replaced by random JSON values."""
    return st.tuples(
        st.sampled_from(RECORDS[fmt]),
        st.dictionaries(
            st.sampled_from(sorted({k for r in RECORDS[fmt] for k in r})), json_values, max_size=3
        ),
    ).map(lambda pair: {**pair[0], **pair[1]})


def _tabular_lines(fmt: str):
    record = _corrupted_record(fmt)
    line = st.one_of(
        record.map(json.dumps),
        record.map(json.dumps).flatmap(lambda t: st.integers(1, len(t) - 1).map(lambda c: t[:c])),
        junk_lines,
        json_values.map(json.dumps),
    )
    # the first line is a real record, as in any export (the format is told by content)
    return st.tuples(st.sampled_from(RECORDS[fmt]).map(json.dumps), st.lists(line, max_size=6))


@PROPERTY
@given(
    st.sampled_from(sorted(EXAMPLES)).flatmap(lambda f: st.tuples(st.just(f), _tabular_lines(f)))
)
def test_tabular_jsonl_parsers_conserve_records(case):
    fmt, (first, rest) = case
    lines = [first, *rest]
    read, accepted, quarantined, reasons = _ingest_batches(fmt, _write(lines))
    assert read == len(lines) == accepted + quarantined
    assert all(reasons)


@PROPERTY
@given(st.lists(_corrupted_record("langfuse_observations"), min_size=1, max_size=5))
def test_langfuse_csv_conserves_records(records):
    columns = sorted({k for r in RECORDS["langfuse_observations"] for k in r})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for record in records:
        writer.writerow(
            [
                ""
                if record.get(c) is None
                else json.dumps(record[c])
                if isinstance(record[c], (dict, list, bool))
                else record[c]
                for c in columns
            ]
        )
    path = _write([text.getvalue().rstrip("\n")], suffix=".csv")
    read, accepted, quarantined, reasons = _ingest_batches("langfuse_observations", path)
    assert read == len(records) == accepted + quarantined
    assert all(reasons)


PAGES = {
    "openai_costs": FIXTURES / "billing" / "openai_costs_example.json",
    "openai_usage": FIXTURES / "billing" / "openai_usage_completions_example.json",
    "anthropic_cost_report": FIXTURES / "billing" / "anthropic_cost_report_example.json",
    "anthropic_usage_report": FIXTURES / "billing" / "anthropic_usage_report_messages_example.json",
}


def _page_case(fmt: str):
    """The format's example page with its buckets' results replaced by corrupted copies of
    the example result (or random JSON), and random extra buckets."""
    page = json.loads(PAGES[fmt].read_text())
    result = page["data"][0]["results"][0]
    corrupted = st.dictionaries(st.sampled_from(sorted(result)), json_values, max_size=3).map(
        lambda changes: {**result, **changes}
    )
    results = st.lists(corrupted | json_values, max_size=5)
    bucket = st.fixed_dictionaries(
        {k: st.just(v) for k, v in page["data"][0].items() if k != "results"}
    ).flatmap(lambda b: results.map(lambda r: {**b, "results": r}))
    return st.lists(bucket | json_values, min_size=1, max_size=3).map(
        lambda data: {**page, "data": data}
    )


@PROPERTY
@given(st.sampled_from(sorted(PAGES)).flatmap(lambda f: st.tuples(st.just(f), _page_case(f))))
def test_billing_page_parsers_conserve_records(case):
    fmt, page = case
    path = _write([json.dumps(page)], ".json")
    read, accepted, quarantined, reasons = _ingest_batches(fmt, path)
    expected = sum(
        len(b["results"]) if isinstance(b, dict) and isinstance(b.get("results"), list) else 1
        for b in page["data"]
    )
    assert read == expected == accepted + quarantined
    assert all(reasons)


FOCUS_SAMPLE = FIXTURES / "focus" / "focus_1.0_sample_1000.csv"


@PROPERTY
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "BilledCost",
                    "ChargePeriodStart",
                    "ChargePeriodEnd",
                    "Tags",
                    "BillingCurrency",
                    "ConsumedQuantity",
                    "ListCost",
                ]
            ),
            st.text(max_size=12) | st.just("NULL"),
            max_size=3,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_focus_parser_conserves_records(changes):
    with open(FOCUS_SAMPLE, newline="") as handle:
        reader = csv.DictReader(handle)
        columns, rows = reader.fieldnames, [row for _, row in zip(range(6), reader, strict=False)]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row, change in zip(rows, changes, strict=False):
        writer.writerow({**row, **change})
    path = _write([text.getvalue().rstrip("\n")], ".csv")
    read, accepted, quarantined, reasons = _ingest_batches("focus", path)
    assert read == len(changes) == accepted + quarantined
    assert all(reasons)
