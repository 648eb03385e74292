"""Prompt content never reaches storage: a marker planted in every known content field of
every trace format, in accepted and in quarantined records, is found nowhere in the data
dir (lake, quarantine, warehouse, Great Expectations results) or the reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines import warehouse
from pipelines.ingest import ingest_paths
from pipelines.report.render import render_month
from tests.otlp_builder import attr, line, span

MARKER = "PRIVATE-MARKER-5e1f"
DAY = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
TRACE, BAD_TRACE = f"{7:032x}", "not-a-trace-id"
OTLP_CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.content",
    "input.value",
    "output.value",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.content",
    "llm.prompts.0",
    "llm.prompt_template.variables",
    "llm.prompt_template.template",
    "retrieval.documents.0.document.content",
)


def _otlp(trace: str) -> str:
    content = [attr(key, f"{key}: {MARKER}") for key in OTLP_CONTENT_KEYS]
    root = span(trace, "000000000000000a", DAY, 900, gen_ai__operation__name="invoke_agent",
                gen_ai__agent__name="triage")  # fmt: skip
    call = span(trace, "000000000000000b", DAY, 800, parent="000000000000000a",
                gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o-mini",
                gen_ai__usage__input_tokens=10)  # fmt: skip
    call["attributes"] += content
    document = json.loads(line(root, call, service="triage"))
    document["resourceSpans"][0]["resource"]["attributes"].append(
        attr("gen_ai.system_instructions", MARKER)
    )
    return json.dumps(document)


def _native_span(trace: str) -> dict:
    return {
        "trace_id": trace, "span_id": "000000000000000c", "operation": "chat",
        "agent_name": "triage", "started_at": "2026-10-05T09:00:00Z",
        "ended_at": "2026-10-05T09:00:01Z", "status": "ok",
        "attributes": {"gen_ai.input.messages": MARKER, "gen_ai.output.messages": MARKER,
                       "llm.prompts.0": MARKER, "team": "support"},
    }  # fmt: skip


def _langfuse_observation(start: str) -> dict:
    return {
        "id": "0000000000000abc", "trace_id": f"{8:032x}", "type": "GENERATION",
        "parent_observation_id": None, "start_time": start, "end_time": "2026-10-05T09:00:01Z",
        "name": "answer", "session_id": "case-8", "trace_name": "triage",
        "provided_model_name": "gpt-4o-mini", "level": "DEFAULT",
        "input": {"messages": [MARKER]}, "output": MARKER, "status_message": MARKER,
        "metadata": {"gen_ai.agent.name": "triage", "customer_note": MARKER},
        "model_parameters": {"system": MARKER}, "usage_details": {"input": 10, "output": 2},
    }  # fmt: skip


def _langfuse_trace(stamp: str) -> dict:
    return {
        "id": f"{9:032x}", "timestamp": stamp, "name": "triage", "session_id": "case-9",
        "bookmarked": False, "input": MARKER, "output": {"answer": MARKER},
        "metadata": {"customer_note": MARKER},
    }  # fmt: skip


def _langfuse_score(stamp: str) -> dict:
    return {
        "id": "s1", "timestamp": stamp, "trace_id": f"{8:032x}", "observation_id": None,
        "session_id": "case-8", "name": "quality", "value": 0.9, "source": "ANNOTATION",
        "comment": MARKER, "data_type": "NUMERIC", "string_value": None,
    }  # fmt: skip


def _jsonl(path: Path, *records: dict | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")


def _inputs(folder: Path) -> None:
    """One accepted and one quarantined record per format, content in every field."""
    _jsonl(folder / "otlp.jsonl", _otlp(TRACE), _otlp(BAD_TRACE), _otlp(TRACE)[:-40])
    _jsonl(folder / "native_spans.jsonl", _native_span(f"{5:032x}"), _native_span(BAD_TRACE))
    good, bad = "2026-10-05T09:00:00Z", "not a time"
    _jsonl(folder / "lf_observations.jsonl", _langfuse_observation(good),
           _langfuse_observation(bad))  # fmt: skip
    _jsonl(folder / "lf_traces.jsonl", _langfuse_trace(good), _langfuse_trace(bad))
    _jsonl(folder / "lf_scores.jsonl", _langfuse_score(good), _langfuse_score(bad))


def _places_holding(marker: str, *roots: Path) -> list[str]:
    """Every file (and, inside Parquet files and DuckDB databases, every table) under
    `roots` whose stored values hold `marker`, read through their own format (compressed
    pages would hide it from a byte grep) and as bytes."""
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if marker.encode() in path.read_bytes():
                found.append(str(path))
            elif path.suffix == ".parquet":
                if marker in json.dumps(pq.read_table(path).to_pylist(), default=str):
                    found.append(str(path))
            elif path.suffix == ".duckdb" and not path.name.startswith("."):
                found += [f"{path}:{t}" for t in _duckdb_tables_holding(path, marker)]
    return found


def _duckdb_tables_holding(path: Path, marker: str) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [n for (n,) in con.execute("select table_name from information_schema.tables")
                 .fetchall()]  # fmt: skip
        return [
            name
            for name in names
            if marker in json.dumps(con.sql(f'select * from "{name}"').fetchall(), default=str)
        ]


def test_no_content_is_stored_anywhere(settings, tmp_path):
    inputs = tmp_path / "exports"
    _inputs(inputs)
    results = ingest_paths([inputs], settings)
    assert [(r.path.name, r.status, r.rows_accepted, r.rows_quarantined) for r in results] == [
        ("lf_observations.jsonl", "ingested", 1, 1),
        ("lf_scores.jsonl", "ingested", 1, 1),
        ("lf_traces.jsonl", "ingested", 1, 1),
        ("native_spans.jsonl", "ingested", 1, 1),
        ("otlp.jsonl", "ingested", 2, 3),  # 2 spans; a bad line's 2 spans + a cut line
    ]
    warehouse.build(settings)
    render_month(settings, "2026-10")
    assert _places_holding(MARKER, settings.data_dir, settings.reports_dir) == []
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(attributes,)] = con.execute(
            "select attributes from lake_spans where span_id = '000000000000000b'"
        ).fetchall()
    key = "llm.input_messages.0.message.content"
    assert attributes[f"{key}.chars"] == str(len(f"{key}: {MARKER}"))  # lengths stay
