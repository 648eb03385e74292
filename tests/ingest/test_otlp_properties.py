"""Whatever lines arrive, the OTLP parser never crashes and never loses a record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.db import connect
from pipelines.ingest import otlp

FIXTURE = Path(__file__).parent.parent / "fixtures" / "otlp" / "otel_openai_v2_latest_semconv.jsonl"
VALID = FIXTURE.read_text().strip()
SPANS_IN_VALID = 7
CON = connect(memory_limit="1GB")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
lines = st.one_of(
    st.text(min_size=1, max_size=80).filter(lambda s: s.strip() and "\n" not in s),
    st.integers(1, len(VALID) - 1).map(lambda cut: VALID[:cut]),  # truncated real line
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [v]}]}]})),
    st.just(VALID),
)


def _parse(batch: list[str]):
    table = pa.table({"line_no": list(range(1, len(batch) + 1)), "line": batch})
    return otlp.parse_batch(CON, table, source_file="prop.jsonl", ingested_at=datetime.now(UTC))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, min_size=1, max_size=6))
def test_parser_conserves_records(batch):
    parsed = _parse(batch)
    assert parsed.records_read == (
        parsed.spans.num_rows + parsed.evaluations.num_rows + parsed.quarantine.num_rows
    )
    valid = sum(line == VALID for line in batch)
    assert parsed.spans.num_rows >= valid * SPANS_IN_VALID
    assert all(reason for reason in parsed.quarantine["reason"].to_pylist())
    # every line that holds no span at all is accounted for by a quarantine row or is empty
    quarantined_lines = set(parsed.quarantine["line_no"].to_pylist())
    for number, text in enumerate(batch, start=1):
        try:
            request = json.loads(text)
        except ValueError:
            assert number in quarantined_lines
            continue
        if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
            assert number in quarantined_lines
