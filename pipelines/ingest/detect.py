"""Tell a raw file's format from its content, not its name."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipelines.ingest.lines import PARQUET_MAGIC, arrow_source, head_text, starts_with

PROBE_BYTES = 65536

# (format, words that must all appear in the file's head: the first PROBE_BYTES
# bytes as text, or a Parquet file's column names). First match wins.
SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("otlp_json", ('"resourceSpans"',)),
    ("langfuse_observations", ("parent_observation_id", "start_time")),
    ("langfuse_scores", ("data_type", "observation_id", "string_value")),
    ("langfuse_traces", ("session_id", "timestamp", "bookmarked")),
    ("native_spans", ("trace_id", "span_id", "started_at", "ended_at")),
    ("native_eval_results", ("run_id", "item_id", "score_name", "evaluated_at")),
    ("native_evaluations", ("evaluated_at", "score_")),
    ("openai_costs", ('"organization.costs.result"',)),
    ("openai_usage", ('"organization.usage.completions.result"',)),
    ("anthropic_cost_report", ('"cost_type"', '"starting_at"')),
    ("anthropic_usage_report", ('"uncached_input_tokens"', '"starting_at"')),
    ("focus", ("BilledCost", "ChargePeriodStart", "BillingCurrency")),
)


def file_head(path: Path) -> str:
    """The text a signature is matched against: a BOM, bad bytes or a cut gzip stream
    (`lines.RawBytes`) do not hide what the file is."""
    if starts_with(path, PARQUET_MAGIC):
        with arrow_source(path) as source:
            return "\n".join(pq.read_schema(source).names)
    return head_text(path, PROBE_BYTES)


def detect_format(path: Path) -> str | None:
    """The format name of a raw file, or None when nothing matches."""
    try:
        head = file_head(path)
    except (OSError, ValueError):
        return None
    for name, markers in SIGNATURES:
        if all(marker in head for marker in markers):
            return name
    return None
