"""A span's `attributes` map: its resource's attributes, then its own, in order, a span
attribute overriding the resource's of the same key (exact entries, order included)."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest import ingest_file
from pipelines.ingest.split import entries_as_maps
from tests.otlp_builder import attr, span

START = datetime(2026, 10, 5, 12, 0, 0)
HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def _line(*spans: dict) -> str:
    resource = [
        attr("service.name", "svc"),
        attr("deployment.environment", "prod"),
        attr("team", "resource-team"),
    ]
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": resource},
                    "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
                }
            ]
        }
    )


def test_span_attributes_follow_the_resource_and_override_it(settings):
    overriding = span(
        "a" * 32,
        "1" * 16,
        START,
        10,
        gen_ai__operation__name="chat",  # a canonical column: not repeated in the map
        team="span-team",
        fleet__retries=2,
        gen_ai__input__messages="hello",  # content: its length and hash only
    )
    plain = span("a" * 32, "2" * 16, START, 10, fleet__note="z")
    raw = settings.raw_dir / "attributes.jsonl"
    raw.write_text(_line(overriding, plain) + "\n")

    result = ingest_file(raw, settings)

    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (2, 2, 0)
    rows = pq.read_table(settings.lake_dir / "spans").to_pylist()
    attributes = {row["span_id"]: row["attributes"] for row in rows}
    assert attributes["1" * 16] == [
        ("service.name", "svc"),
        ("deployment.environment", "prod"),
        ("team", "span-team"),
        ("fleet.retries", "2"),
        ("gen_ai.input.messages.chars", "5"),
        ("gen_ai.input.messages.sha256", HELLO_SHA256),
    ]
    assert attributes["2" * 16] == [
        ("service.name", "svc"),
        ("deployment.environment", "prod"),
        ("team", "resource-team"),
        ("fleet.note", "z"),
    ]


def test_entries_become_maps_in_their_order_nulls_kept():
    entries = pa.array(
        [[{"key": "b", "value": "1"}, {"key": "a", "value": None}], [], None],
        pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])),
    )
    schema = pa.schema([("attributes", pa.map_(pa.string(), pa.string())), ("n", pa.int64())])
    rows = pa.table({"attributes": entries, "n": [1, 2, 3]})

    maps = entries_as_maps(rows, schema).cast(schema)

    assert maps.schema == schema
    assert maps["attributes"].to_pylist() == [[("b", "1"), ("a", None)], [], None]
    assert maps["n"].to_pylist() == [1, 2, 3]
